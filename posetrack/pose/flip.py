"""Horizontal flip of heatmaps (flip test) and of keypoints (flip augmentation).

Official behaviour (``lib/utils/transforms.py`` flip_back, fliplr_joints and
``lib/core/function.py`` validate): heatmaps of a mirrored input are mirrored back,
left/right channels swapped, then shifted one pixel to the right because the
mirrored feature grid is off by one pixel ("feature is not aligned").
"""

from __future__ import annotations

import functools
from typing import Sequence, TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def flip_permutation(num_joints: int, flip_pairs: Sequence[Sequence[int]]) -> list[int]:
    """Channel order after a mirror: index j holds the joint that j's mirror image is."""
    perm = list(range(num_joints))
    for a, b in flip_pairs:
        perm[a], perm[b] = b, a
    return perm


@functools.lru_cache(maxsize=32)
def _device_index(perm: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """``perm`` as an index tensor on ``device``, made once: indexing a CUDA tensor with a Python
    list copies the list from pageable memory at every call, which waits for the GPU."""
    with torch.inference_mode(False):  # a cached inference tensor would break later autograd callers
        return torch.tensor(perm, device=device)


def flip_heatmaps(heatmaps: Array, flip_pairs: Sequence[Sequence[int]], shift: bool = True) -> Array:
    """Heatmaps of a horizontally mirrored input -> heatmaps of the original input.

    Args:
        heatmaps: (N, K, H, W) numpy array or torch tensor (returned as the same type,
            a new array; the input is not modified).
        flip_pairs: (left, right) channel pairs to swap.
        shift: move every column one pixel right (column 0 keeps its value), as the
            official ``TEST.SHIFT_HEATMAP``.
    """
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must be (N, K, H, W), got shape {tuple(heatmaps.shape)}")
    perm = flip_permutation(heatmaps.shape[1], flip_pairs)
    if isinstance(heatmaps, torch.Tensor):
        out = torch.flip(heatmaps, dims=[3]).index_select(1, _device_index(tuple(perm), heatmaps.device))
    else:
        out = np.ascontiguousarray(heatmaps[:, perm, :, ::-1])
    if shift:
        out[..., 1:] = out[..., :-1].clone() if isinstance(out, torch.Tensor) else out[..., :-1].copy()
    return out


def flip_keypoints(
    keypoints: np.ndarray, visible: np.ndarray, image_width: int, flip_pairs: Sequence[Sequence[int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Mirror keypoints of an image that is flipped left-right (official ``fliplr_joints``).

    Args:
        keypoints: (K, 2) image px; visible: (K,).
        image_width: width of the flipped image, px (x -> width - 1 - x).

    Returns:
        new (keypoints (K, 2), visible (K,)), left/right swapped; keypoints of
        invisible joints are zeroed, as the official code.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64).copy()
    visible = np.asarray(visible).copy()
    keypoints[:, 0] = image_width - keypoints[:, 0] - 1
    perm = flip_permutation(len(keypoints), flip_pairs)
    keypoints, visible = keypoints[perm], visible[perm]
    return keypoints * (visible > 0)[:, None], visible
