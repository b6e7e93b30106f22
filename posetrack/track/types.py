"""Values that travel between tracking stages (shapes: N people, K joints, H x W pixels).

All coordinates are image pixels of the decoded frame (x right, y down).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def empty_boxes() -> np.ndarray:
    """(0, 5) float32: the box array of a frame with no person."""
    return np.zeros((0, 5), np.float32)


@dataclass(frozen=True)
class Poses:
    """People of one frame.

    keypoints: (N, K, 3) float32, x, y (image px) and joint score.
    scores: (N,) float32 person score.
    boxes: (N, 4) float32 x1, y1, x2, y2 (image px): the region the pose was estimated in.
    track_ids: (N,) int64 once associated, else None.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    track_ids: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.keypoints)

    @staticmethod
    def empty(num_joints: int = 17) -> "Poses":
        return Poses(np.zeros((0, num_joints, 3), np.float32), np.zeros(0, np.float32), np.zeros((0, 4), np.float32))

    def with_ids(self, track_ids: np.ndarray) -> "Poses":
        return Poses(self.keypoints, self.scores, self.boxes, np.asarray(track_ids, np.int64))


@dataclass(frozen=True)
class FlowField:
    """Dense motion from the previous frame to this one.

    vectors: (h, w, 2) float32 displacement (dx, dy) in *full-resolution image px*,
    sampled on a grid ``scale`` times the frame size (scale 0.5: half resolution).
    A previous-frame point (x, y) moves to (x, y) + vectors[y * scale, x * scale].
    """

    vectors: np.ndarray
    scale: float = 1.0

    def sample(self, points: np.ndarray) -> np.ndarray:
        """Bilinear displacement at (P, 2) full-resolution points -> (P, 2); border-clamped."""
        pts = np.asarray(points, np.float64) * self.scale
        h, w = self.vectors.shape[:2]
        x = np.clip(pts[:, 0], 0, w - 1)
        y = np.clip(pts[:, 1], 0, h - 1)
        x0 = np.minimum(np.floor(x).astype(np.int64), max(w - 2, 0))
        y0 = np.minimum(np.floor(y).astype(np.int64), max(h - 2, 0))
        x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
        fx, fy = (x - x0)[:, None], (y - y0)[:, None]
        v = self.vectors
        top = v[y0, x0] * (1 - fx) + v[y0, x1] * fx
        bottom = v[y1, x0] * (1 - fx) + v[y1, x1] * fx
        return (top * (1 - fy) + bottom * fy).astype(np.float32)
