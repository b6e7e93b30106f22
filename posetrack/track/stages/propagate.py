"""propagate: last frame's poses moved by optical flow -> extra boxes, merged with detections.

FlowTrack (Xiao et al., "Simple Baselines for Human Pose Estimation and Tracking",
ECCV 2018, Sec. 3.1): each person of frame k-1 is warped into frame k by the flow
field; the box around the propagated joints, enlarged by 15 %, is a candidate box
that covers people the detector missed; candidates and detections are merged with
box NMS. We enlarge width and height by ``enlarge`` (0.15) about the box centre
(the paper says "expand the box by some extent (15% in experiments)"; the exact
split is our choice) and give a propagated box the person score of its track.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posetrack.track.graph import Stage
from posetrack.track.types import FlowField, Poses, empty_boxes


@dataclass(frozen=True)
class PropagateParams:
    enlarge: float = 0.15  # relative growth of the propagated joints' box (FlowTrack: 15 %)
    nms_threshold: float = 0.5  # IoU above which the lower-scoring box is dropped (lower: fewer duplicates)
    min_joint_score: float = 0.0  # joints at or below this score do not shape the box
    min_score: float = 0.0  # tracks below this person score are not propagated

    def __post_init__(self):
        if not self.enlarge >= 0 or not 0 <= self.nms_threshold <= 1:  # "not >=": NaN fails too
            raise ValueError(f"enlarge must be >= 0 and nms_threshold in [0, 1], got {self.enlarge}, "
                             f"{self.nms_threshold}")


def warp_keypoints(keypoints: np.ndarray, flow: FlowField | None) -> np.ndarray:
    """(N, K, 3) previous-frame keypoints -> the same moved by ``flow`` (scores kept)."""
    kpts = np.array(keypoints, np.float32, copy=True)
    if flow is None or kpts.size == 0:
        return kpts
    flat = kpts.reshape(-1, 3)
    flat[:, :2] += flow.sample(flat[:, :2])
    return kpts


def keypoint_boxes(keypoints: np.ndarray, enlarge: float = 0.15, min_joint_score: float = 0.0) -> np.ndarray:
    """(N, K, 3) -> (N, 4) x1, y1, x2, y2 around the joints scoring > ``min_joint_score``,
    width and height grown by ``enlarge`` about the centre. A person with no such joint
    gets the box of all its joints."""
    kpts = np.asarray(keypoints, np.float32)
    if len(kpts) == 0:
        return np.zeros((0, 4), np.float32)
    used = kpts[..., 2] > min_joint_score
    used[~used.any(1)] = True
    big = np.float32(np.inf)
    x1 = np.where(used, kpts[..., 0], big).min(1)
    y1 = np.where(used, kpts[..., 1], big).min(1)
    x2 = np.where(used, kpts[..., 0], -big).max(1)
    y2 = np.where(used, kpts[..., 1], -big).max(1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    hw, hh = (x2 - x1) * (1 + enlarge) / 2, (y2 - y1) * (1 + enlarge) / 2
    return np.stack([cx - hw, cy - hh, cx + hw, cy + hh], 1).astype(np.float32)


def merge_boxes(detections: np.ndarray, propagated: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Box NMS over (N, 5) detections and (M, 5) propagated boxes -> kept (L, 5), highest score first."""
    import torch
    from torchvision.ops import nms

    boxes = np.concatenate([np.asarray(detections, np.float32).reshape(-1, 5),
                            np.asarray(propagated, np.float32).reshape(-1, 5)])
    if len(boxes) == 0:
        return empty_boxes()
    t = torch.from_numpy(boxes)
    keep = nms(t[:, :4], t[:, 4], iou_threshold).numpy()
    return boxes[keep]


def box_scores(keypoints: np.ndarray, person_scores: np.ndarray) -> np.ndarray:
    """The box scores the pose stage rescored into ``person_scores`` (person = box x mean joint score
    above 0.2, ``rescore_poses``). Between detector keyframes a propagated box carries these, not the
    person score: re-rescoring it every frame would shrink a person's score geometrically, and they
    would drop below ``min_score`` after a few frames however clear their pose; this way the person
    score stays box score x current pose confidence, and a track whose pose fades still ends."""
    from posetrack.pose.oks import rescore_poses

    confidence = rescore_poses(keypoints, np.ones(len(keypoints)))
    return np.where(confidence > 0, person_scores / np.maximum(confidence, 1e-12), person_scores)


class PropagateStage(Stage):
    """Inputs ``detections`` (N, 5) and ``flow`` (FlowField or None), feedback ``tracks``
    (Poses of the previous frame); output ``boxes`` (L, 5) x1, y1, x2, y2, score (image px)."""

    Params = PropagateParams
    inputs = ("detections",)
    optional_inputs = ("flow", "keyframe")
    feedback = ("tracks",)
    outputs = ("boxes",)
    output_types = {"boxes": np.ndarray}
    recurrent = True

    def process(self, detections: np.ndarray, flow: FlowField | None = None, tracks: Poses | None = None,
                keyframe: bool | None = None) -> dict:
        propagated = empty_boxes()
        if tracks is not None and flow is not None and len(tracks):
            keep = tracks.scores > self.params.min_score
            moved = warp_keypoints(tracks.keypoints[keep], flow)
            boxes = keypoint_boxes(moved, self.params.enlarge, self.params.min_joint_score)
            scores = tracks.scores[keep]
            if keyframe is False:  # detector skipped (detect.interval): see box_scores
                scores = box_scores(tracks.keypoints[keep], scores)
            propagated = np.concatenate([boxes, scores[:, None].astype(np.float32)], 1)
        return {"boxes": merge_boxes(detections, propagated, self.params.nms_threshold)}
