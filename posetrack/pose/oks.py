"""Object keypoint similarity between poses, OKS-NMS and person rescoring.

Poses are (K, 3) rows of (x, y, score) in image px; areas are in image px^2 (the
official evaluation uses the crop-region area, width * height after enlargement).
Behaviour follows the official ``lib/nms/nms.py`` and ``lib/dataset/coco.py``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from posetrack.pose.keypoints import COCO_SIGMAS

# Official soft OKS-NMS keeps at most this many poses per image (lib/nms/nms.py max_dets).
SOFT_NMS_MAX_DETS = 20


def oks_matrix(
    poses_a: np.ndarray,
    poses_b: np.ndarray,
    areas_a: np.ndarray,
    areas_b: np.ndarray,
    sigmas: Sequence[float] | None = None,
    in_vis_thre: float | None = None,
) -> np.ndarray:
    """Pairwise OKS, (N, K, 3) x (M, K, 3) -> (N, M), as the official ``oks_iou``.

    ``e = d^2 / (2 sigma)^2 / ((area_a + area_b) / 2 + eps) / 2`` per joint and
    OKS = mean(exp(-e)). With ``in_vis_thre`` only joints whose score *in poses_b*
    exceeds it are averaged (the official ``list(vg > t) and list(vd > t)`` evaluates
    to the second list, so the first pose's scores never matter); OKS is 0 when no
    joint passes. Note that the official COCO evaluation calls OKS-NMS without it.
    """
    a = np.asarray(poses_a, dtype=np.float64)
    b = np.asarray(poses_b, dtype=np.float64)
    sig = COCO_SIGMAS if sigmas is None else np.asarray(sigmas, dtype=np.float64)
    if a.shape[1:] != b.shape[1:] or a.shape[1] != len(sig):
        raise ValueError(
            f"pose shapes {a.shape} and {b.shape} do not match {len(sig)} sigmas (K, 3)"
        )
    variances = (sig * 2) ** 2
    area = (np.asarray(areas_a, np.float64)[:, None] + np.asarray(areas_b, np.float64)[None]) / 2
    d2 = ((a[:, None, :, :2] - b[None, :, :, :2]) ** 2).sum(-1)  # (N, M, K)
    e = d2 / variances / (area[..., None] + np.spacing(1)) / 2
    if in_vis_thre is None:
        return np.exp(-e).mean(-1)
    used = np.broadcast_to(b[None, :, :, 2] > in_vis_thre, e.shape)
    count = used.sum(-1)
    total = np.where(used, np.exp(-e), 0.0).sum(-1)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def _descending(scores: np.ndarray) -> np.ndarray:
    # The official order: ascending argsort reversed (ties: the later index first).
    return np.argsort(scores)[::-1]


def oks_nms(
    keypoints: np.ndarray,
    scores: np.ndarray,
    areas: np.ndarray,
    threshold: float = 0.9,
    soft: bool = False,
    sigmas: Sequence[float] | None = None,
    in_vis_thre: float | None = None,
) -> list[int]:
    """Greedy OKS non-maximum suppression of one image's poses.

    Args:
        keypoints: (N, K, 3) poses (x, y, score) in image px.
        scores: (N,) person scores (after rescoring, see :func:`rescore_poses`).
        areas: (N,) areas in image px^2.
        threshold: hard NMS drops a pose whose OKS with a kept, higher-scoring pose
            is > threshold (raise it to keep more near-duplicates). Soft NMS instead
            decays scores by ``exp(-oks^2 / threshold)`` (official ``soft_oks_nms``,
            Gaussian rescoring, at most 20 poses kept).
        soft: use the soft variant.
        sigmas: per-joint OKS sigmas, COCO's by default.
        in_vis_thre: see :func:`oks_matrix` (the official COCO evaluation passes None).

    Returns:
        kept indices into the input, highest (possibly decayed) score first.
    """
    kpts = np.asarray(keypoints, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    areas = np.asarray(areas, dtype=np.float64).reshape(-1)
    if not (len(kpts) == len(scores) == len(areas)):
        raise ValueError(f"{len(kpts)} poses, {len(scores)} scores, {len(areas)} areas")
    if len(kpts) == 0:
        return []
    order = _descending(scores)
    keep: list[int] = []
    if not soft:
        while order.size > 0:
            i = order[0]
            keep.append(int(i))
            ovr = oks_matrix(kpts[i : i + 1], kpts[order[1:]], areas[i : i + 1], areas[order[1:]],
                             sigmas, in_vis_thre)[0]
            order = order[1:][ovr <= threshold]
        return keep
    remaining = scores[order]
    while order.size > 0 and len(keep) < SOFT_NMS_MAX_DETS:
        i = order[0]
        keep.append(int(i))
        ovr = oks_matrix(kpts[i : i + 1], kpts[order[1:]], areas[i : i + 1], areas[order[1:]],
                         sigmas, in_vis_thre)[0]
        remaining = remaining[1:] * np.exp(-(ovr**2) / threshold)
        resort = _descending(remaining)
        order, remaining = order[1:][resort], remaining[resort]
    return keep


def rescore_poses(
    keypoints: np.ndarray, box_scores: np.ndarray, in_vis_thre: float = 0.2
) -> np.ndarray:
    """Person score = box score x mean of the joint scores above ``in_vis_thre``.

    keypoints (N, K, 3), box_scores (N,) -> (N,) float64. A pose with no joint score
    above the threshold gets 0 (official ``evaluate`` in ``lib/dataset/coco.py``).
    """
    kpts = np.asarray(keypoints, dtype=np.float64)
    box_scores = np.asarray(box_scores, dtype=np.float64).reshape(-1)
    joint = kpts[..., 2]
    valid = joint > in_vis_thre
    count = valid.sum(-1)
    mean = np.where(count > 0, np.where(valid, joint, 0.0).sum(-1) / np.maximum(count, 1), 0.0)
    return mean * box_scores
