"""Person boxes in the two layouts the project meets: ``xywh`` (COCO files, the estimator's
input: top-left corner, width, height) and ``xyxy`` (detectors and the tracking stages:
top-left and bottom-right corners), image px.

>>> xywh_to_xyxy([[10, 20, 30, 40]]).tolist()
[[10.0, 20.0, 40.0, 60.0]]
>>> xyxy_to_xywh([[10, 20, 40, 60]]).tolist()
[[10.0, 20.0, 30.0, 40.0]]
"""

from __future__ import annotations

import numpy as np

__all__ = ["xywh_to_xyxy", "xyxy_to_xywh"]


def _boxes(boxes: np.ndarray) -> np.ndarray:
    """(..., 4) as a float array: a float input keeps its dtype (float32 stays float32), others become float64."""
    arr = np.asarray(boxes)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    if arr.ndim == 0 or arr.shape[-1] != 4:
        raise ValueError(f"boxes must have 4 numbers in their last axis, got shape {arr.shape}")
    return arr


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(..., 4) x, y, w, h -> (..., 4) x1, y1, x2, y2 (x2 = x + w, y2 = y + h)."""
    b = _boxes(boxes)
    return np.concatenate([b[..., :2], b[..., :2] + b[..., 2:]], axis=-1)


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """(..., 4) x1, y1, x2, y2 -> (..., 4) x, y, w, h (w = x2 - x1, h = y2 - y1)."""
    b = _boxes(boxes)
    return np.concatenate([b[..., :2], b[..., 2:] - b[..., :2]], axis=-1)
