"""HOG person detector on a real frame of vtest.avi (campus path, static camera)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from posetrack.io.video import read_video
from posetrack.track.stages.hog_detector import HOGPersonDetector

# Hip-height points (x, y) of the five walkers visible in vtest.avi frame 100, read off
# the frame by eye: the couple left of the lamp post and the three people on the right.
PEOPLE_FRAME_100 = np.array([(363, 240), (395, 218), (506, 185), (530, 190), (605, 197)], np.float32)


@pytest.fixture(scope="module")
def vtest_frame_100(shared_data):
    frame = next(itertools.islice(read_video(shared_data / "videos" / "vtest.avi"), 100, None))
    assert frame.index == 100 and frame.image.shape == (576, 768, 3)
    return frame.image


def _covered(boxes: np.ndarray, points: np.ndarray) -> np.ndarray:
    x, y, w, h = (boxes[:, None, i] for i in range(4))
    inside = (points[None, :, 0] >= x) & (points[None, :, 0] <= x + w)
    inside &= (points[None, :, 1] >= y) & (points[None, :, 1] <= y + h)
    return inside.any(0)


def test_finds_the_walkers_with_person_sized_boxes(vtest_frame_100):
    boxes, scores = HOGPersonDetector()(vtest_frame_100)
    assert boxes.dtype == np.float32 and scores.dtype == np.float32
    assert boxes.shape == (len(scores), 4)
    assert _covered(boxes, PEOPLE_FRAME_100).sum() >= 4
    assert 4 <= len(boxes) <= 10
    # People here are 65-95 px tall and upright: boxes about 1:3, inside the frame.
    hits = boxes[scores >= 2.0]
    assert len(hits) >= 4
    assert np.all((hits[:, 3] > 55) & (hits[:, 3] < 120))
    assert np.all((hits[:, 2] / hits[:, 3] > 0.25) & (hits[:, 2] / hits[:, 3] < 0.45))
    assert np.all(boxes[:, :2] >= -16) and np.all(boxes[:, 0] + boxes[:, 2] <= 768 + 16)
    assert np.all(np.diff(scores) <= 0) and np.all(scores >= 1.0)


def test_upscaling_small_frames_raises_recall(vtest_frame_100):
    # Without upscaling the 64x128 window is too large for these ~80 px people.
    native, _ = HOGPersonDetector(min_height=1)(vtest_frame_100)
    upscaled, _ = HOGPersonDetector(min_height=864)(vtest_frame_100)
    assert _covered(native, PEOPLE_FRAME_100).sum() < _covered(upscaled, PEOPLE_FRAME_100).sum()


def test_blank_image_gives_empty_arrays():
    boxes, scores = HOGPersonDetector()(np.zeros((480, 640, 3), np.uint8))
    assert boxes.shape == (0, 4) and boxes.dtype == np.float32
    assert scores.shape == (0,) and scores.dtype == np.float32


@pytest.mark.parametrize("bad", [np.zeros((64, 64), np.uint8), np.zeros((64, 64, 3), np.float32)])
def test_rejects_non_rgb_uint8(bad):
    with pytest.raises(ValueError, match="uint8 RGB"):
        HOGPersonDetector()(bad)


def test_rejects_bad_parameters():
    with pytest.raises(ValueError, match="scale must be > 1"):
        HOGPersonDetector(scale=1.0)
