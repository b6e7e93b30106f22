"""posetrack.pose.boxes: the one xywh <-> xyxy conversion, and its users agree with it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posetrack.pose.boxes import xywh_to_xyxy, xyxy_to_xywh


def test_exact_values_both_ways_and_dtypes() -> None:
    xywh = np.array([[10.5, 20.0, 30.25, 40.0], [0.0, 0.0, 1.0, 2.0]], np.float32)
    xyxy = xywh_to_xyxy(xywh)
    assert xyxy.dtype == np.float32
    np.testing.assert_array_equal(xyxy, [[10.5, 20.0, 40.75, 60.0], [0.0, 0.0, 1.0, 2.0]])
    np.testing.assert_array_equal(xyxy_to_xywh(xyxy), xywh)
    assert xyxy_to_xywh([[1, 2, 4, 8]]).dtype == np.float64  # integers become float64
    assert xyxy_to_xywh([[1, 2, 4, 8]]).tolist() == [[1.0, 2.0, 3.0, 6.0]]
    assert xywh_to_xyxy(np.zeros((0, 4))).shape == (0, 4)
    assert xywh_to_xyxy([5, 6, 1, 1]).tolist() == [5.0, 6.0, 6.0, 7.0]  # one box, no batch axis


@pytest.mark.parametrize("bad", [np.zeros((3, 5)), np.zeros(()), [[1, 2, 3]]])
def test_not_four_numbers_is_an_error_naming_the_shape(bad) -> None:
    with pytest.raises(ValueError, match="4 numbers in their last axis, got shape"):
        xyxy_to_xywh(bad)


def test_detections_file_reads_coco_xywh_as_xyxy(tmp_path: Path) -> None:
    from posetrack.track.stages.detections_file import load_coco_detections

    path = tmp_path / "dets.json"
    path.write_text(json.dumps([{"image_id": 3, "bbox": [10.5, 20, 30.25, 40], "score": 0.75}]))
    np.testing.assert_array_equal(load_coco_detections(str(path))[3], [[10.5, 20.0, 40.75, 60.0, 0.75]])
