"""Overlay rendering: skeletons drawn on frames, one colour per track id."""

from __future__ import annotations

import colorsys

import numpy as np

from posetrack.io.posetrack_json import PT18_CATEGORY

# 0-based joint pairs; the COCO and PoseTrack-2018 files use the same 1-based list.
SKELETON: tuple[tuple[int, int], ...] = tuple((a - 1, b - 1) for a, b in PT18_CATEGORY["skeleton"])


def track_color(track_id: int) -> tuple[int, int, int]:
    """A stable, well separated RGB colour for a track id (golden-ratio hue steps)."""
    hue = (int(track_id) * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_poses(image: np.ndarray, keypoints: np.ndarray, track_ids: np.ndarray | None = None,
               min_score: float = 0.2, skeleton: tuple[tuple[int, int], ...] = SKELETON) -> np.ndarray:
    """Draw people on a copy of ``image``.

    image (H, W, 3) uint8 RGB; keypoints (N, K, 3) x, y (image px), score; joints with
    score < ``min_score`` (and limbs touching them) are not drawn. Track ids label the
    people and pick their colour (index order when None).
    """
    import cv2

    canvas = np.ascontiguousarray(image).copy()
    thickness = max(1, round(max(image.shape[:2]) / 400))
    for n, person in enumerate(np.asarray(keypoints, np.float32)):
        tid = int(track_ids[n]) if track_ids is not None else n
        color = track_color(tid)
        ok = person[:, 2] >= min_score
        pts = np.round(person[:, :2]).astype(np.int32)
        for a, b in skeleton:
            if a < len(person) and b < len(person) and ok[a] and ok[b]:
                cv2.line(canvas, tuple(map(int, pts[a])), tuple(map(int, pts[b])), color, thickness, cv2.LINE_AA)
        for k in np.flatnonzero(ok):
            cv2.circle(canvas, tuple(map(int, pts[k])), thickness + 1, color, -1, cv2.LINE_AA)
        if ok.any():
            x, y = pts[ok, 0].min(), pts[ok, 1].min()
            cv2.putText(canvas, str(tid), (int(x), max(int(y) - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.4 * thickness + 0.2, color, thickness, cv2.LINE_AA)
    return canvas
