"""associate: give each person of a frame a track id (FlowTrack's flow-based OKS greedy matching).

Per frame (see ``PoseTracker.update``):
1. move every live track's last pose into this frame with the optical flow;
2. OKS between the moved track poses and this frame's poses (``posetrack.pose.oks_matrix``);
3. greedy matching, highest similarity first, pairs below ``oks_threshold`` never match;
4. unmatched poses start new tracks (ids from this tracker's own allocator);
5. unmatched tracks stay alive ``max_lost`` frames (still moved by the flow) and are then dropped.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from posetrack.pose import oks_matrix
from posetrack.track.graph import Stage, with_overrides
from posetrack.track.stages.propagate import warp_keypoints
from posetrack.track.types import FlowField, Poses


@dataclass(frozen=True)
class AssociateParams:
    oks_threshold: float = 0.3  # lower: keeps ids through bigger motion, but swaps ids more often
    max_lost: int = 5  # frames a track survives unmatched (occlusions, missed detections)


def greedy_match(similarity: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """(T, N) similarities -> (row, col) pairs picked highest first, each row/col once, >= threshold.

    Ties are broken by lower row, then lower column (stable sort of the flattened matrix).
    """
    if similarity.size == 0:
        return []
    order = np.argsort(-similarity, axis=None, kind="stable")
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    pairs = []
    for flat in order:
        r, c = divmod(int(flat), similarity.shape[1])
        if similarity[r, c] < threshold:
            break
        if r in used_rows or c in used_cols:
            continue
        used_rows.add(r)
        used_cols.add(c)
        pairs.append((r, c))
    return pairs


def box_areas(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) x1, y1, x2, y2 -> (N,) areas in px^2 (the OKS scale, as the official code's crop area)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


class PoseTracker:
    """Online multi-person pose tracker; one instance per run, ``reset()`` per video.

    State per track: id, last keypoints (K, 3) in the current frame's coordinates,
    OKS area, frames since last matched. Ids count 0, 1, 2, ... per video.
    """

    def __init__(self, params: AssociateParams | None = None, sigmas: np.ndarray | None = None, **overrides):
        self.params = with_overrides(AssociateParams, params, overrides)
        self.sigmas = sigmas
        self.reset()

    def reset(self) -> None:
        self._ids = itertools.count()
        self._track_ids = np.zeros(0, np.int64)
        self._keypoints: np.ndarray | None = None  # (T, K, 3)
        self._areas = np.zeros(0)
        self._lost = np.zeros(0, np.int64)

    @property
    def num_tracks(self) -> int:
        return len(self._track_ids)

    def update(self, poses: Poses, flow: FlowField | None = None) -> Poses:
        """Assign ids to this frame's ``poses``; ``flow`` moves the previous frame into this one."""
        # Step 1: bring the live tracks into this frame
        tracks = self._keypoints
        if tracks is not None and len(tracks):
            tracks = warp_keypoints(tracks, flow)
        # Step 2-3: flow-based OKS and greedy matching
        areas = box_areas(poses.boxes)
        ids = np.full(len(poses), -1, np.int64)
        matched_tracks: set[int] = set()
        if tracks is not None and len(tracks) and len(poses):
            sim = oks_matrix(tracks, poses.keypoints, self._areas, areas, self.sigmas)
            for t, p in greedy_match(sim, self.params.oks_threshold):
                ids[p] = self._track_ids[t]
                matched_tracks.add(t)
        # Step 4: new tracks for the unmatched people
        for p in np.flatnonzero(ids < 0):
            ids[p] = next(self._ids)
        # Step 5: keep unmatched tracks for max_lost frames
        old = [t for t in range(self.num_tracks) if t not in matched_tracks and self._lost[t] < self.params.max_lost]
        k = poses.keypoints.shape[1] if len(poses) else (tracks.shape[1] if tracks is not None else 17)
        self._track_ids = np.concatenate([ids, self._track_ids[old]])
        self._keypoints = np.concatenate([poses.keypoints.reshape(-1, k, 3),
                                          tracks[old] if old else np.zeros((0, k, 3), np.float32)])
        self._areas = np.concatenate([areas, self._areas[old]])
        self._lost = np.concatenate([np.zeros(len(poses), np.int64), self._lost[old] + 1])
        return poses.with_ids(ids)


class AssociateStage(Stage):
    """Inputs ``poses`` (Poses), optional ``flow``; output ``tracks`` (Poses with track_ids)."""

    Params = AssociateParams
    inputs = ("poses",)
    optional_inputs = ("flow",)
    outputs = ("tracks",)
    recurrent = True

    def __init__(self, params: AssociateParams | None = None, **overrides):
        super().__init__(params, **overrides)
        self.tracker = PoseTracker(self.params)

    def reset(self) -> None:
        self.tracker.reset()

    def process(self, poses: Poses, flow: FlowField | None = None) -> dict:
        return {"tracks": self.tracker.update(poses, flow)}
