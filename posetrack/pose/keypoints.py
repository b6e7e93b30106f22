"""Keypoint sets: joint names, left/right flip pairs and OKS sigmas, in one place.

Joint index order is the model's output channel order (K = 17 for both sets).
Source: ``shared/specs/keypoint_sets.md`` and the official ``lib/dataset/coco.py``.
"""

from __future__ import annotations

import numpy as np

COCO_KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)

# (left, right) 0-based channel pairs swapped by a horizontal flip.
COCO_FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16),
)

# Per-joint OKS falloff (COCO keypoint evaluation, pycocotools ``kpt_oks_sigmas``).
COCO_SIGMAS: np.ndarray = np.array(
    [.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]
) / 10.0
COCO_SIGMAS.setflags(write=False)

# PoseTrack 2018 slots: eyes become head_bottom/head_top, ears are unannotated
# placeholders; the other slots equal COCO's. head_bottom and head_top lie on the
# body's midline, so a horizontal flip keeps them in place (as mmpose's
# posetrack18 dataset info: swap=''); every other pair is COCO's.
POSETRACK18_KEYPOINTS: tuple[str, ...] = (
    "nose", "head_bottom", "head_top", "left_ear", "right_ear",
) + COCO_KEYPOINTS[5:]
POSETRACK18_FLIP_PAIRS: tuple[tuple[int, int], ...] = COCO_FLIP_PAIRS[1:]

# keypoint set name -> (joint names, flip pairs), for configs and CLIs.
KEYPOINT_SETS: dict[str, tuple[tuple[str, ...], tuple[tuple[int, int], ...]]] = {
    "coco": (COCO_KEYPOINTS, COCO_FLIP_PAIRS),
    "posetrack18": (POSETRACK18_KEYPOINTS, POSETRACK18_FLIP_PAIRS),
}
