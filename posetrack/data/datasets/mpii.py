"""MPII (the official HRNet ``annot/{train,valid}.json``) -> training records.

Each entry is ``{"image", "center", "scale", "joints" (16 x [x, y]), "joints_vis"}``
in MATLAB 1-based pixels. As the official ``lib/dataset/mpii.py``: the center
moves down by 15 * scale px and the scale grows by 1.25 "to avoid cropping
limbs", then everything shifts by -1 to 0-based pixels; the region is square
(``scale * 200`` px each side).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from posetrack.data.datasets.coco import read_json
from posetrack.data.records import DatasetError, PoseRecord, check_images_exist, require_finite
from posetrack.pose.crop import PIXEL_STD

logger = logging.getLogger(__name__)

MPII_KEYPOINTS: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "pelvis", "thorax", "upper_neck", "head_top",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
)
MPII_FLIP_PAIRS: tuple[tuple[int, int], ...] = ((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13))
MPII_UPPER_BODY: tuple[int, ...] = (7, 8, 9, 10, 11, 12, 13, 14, 15)  # official mpii.py upper_body_ids


def load_mpii(ann_file: str | Path, image_dir: str | Path) -> list[PoseRecord]:
    """Read an MPII json list into records with 16 joints (MPII order)."""
    ann_file, image_dir = Path(ann_file), Path(image_dir)
    data = read_json(ann_file)
    if not isinstance(data, list):
        raise DatasetError(f"{ann_file}: expected a list of MPII entries")
    records = []
    for i, entry in enumerate(data):
        try:
            center = np.asarray(entry["center"], dtype=np.float64).reshape(2)
            scale = float(entry["scale"])
            xy = np.asarray(entry["joints"], dtype=np.float64).reshape(len(MPII_KEYPOINTS), 2)
            vis = np.asarray(entry["joints_vis"], dtype=np.float64).reshape(len(MPII_KEYPOINTS))
            name = entry["image"]
        except KeyError as exc:
            raise DatasetError(f"{ann_file}: entry [{i}]: missing field {exc}") from None
        except (ValueError, TypeError) as exc:
            raise DatasetError(f"{ann_file}: entry [{i}]: malformed center/scale/joints ({exc})") from None
        require_finite(np.concatenate([center, [scale], xy.ravel()]), ann_file, f"entry [{i}]",
                       "'center', 'scale', 'joints'")
        if center[0] != -1:
            center[1] += 15 * scale
            scale *= 1.25
        joints = np.concatenate([xy - 1, (vis > 0)[:, None]], axis=1)
        if joints[:, 2].sum() == 0:
            continue
        records.append(PoseRecord(
            image=image_dir / name, center=center - 1, box_size=np.array([scale, scale]) * PIXEL_STD,
            joints=joints, image_id=i,
        ))
    check_images_exist(records, ann_file)
    logger.info("%s: %d training people", ann_file, len(records))
    return records
