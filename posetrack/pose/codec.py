"""Heatmap codec: keypoints <-> Gaussian heatmaps, both directions in one object.

Shapes: N instances, K keypoints, heatmaps (H, W). ``encode`` works in *input px*
(the model-input crop) and produces training targets; ``decode`` turns network
heatmaps into *image px* through the crop region (center, size). Training targets
and test-time decoding come from the same :class:`HeatmapCodec`, so they cannot drift.

Peaks are found by one torch implementation (:func:`find_peaks`) for numpy heatmaps
(searched in place) and for heatmaps still on the GPU (one small copy back).

Both directions reproduce the official HRNet code: ``generate_target`` in
``lib/dataset/JointsDataset.py`` and ``get_final_preds`` in ``lib/core/inference.py``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from posetrack.pose.crop import heatmap_to_image

# Official sub-pixel refinement: move a quarter pixel toward the higher neighbour.
QUARTER_OFFSET = 0.25


def _packed_peaks(heatmaps: torch.Tensor, refine: bool) -> torch.Tensor:
    """Peak per map, on the maps' device, without a host sync (official ``get_max_preds``).

    heatmaps (N, K, H, W) -> (N, K, 4): x, y in heatmap px, peak value, 1 where the map is
    all finite (else 0), in float32 (float64 for float64 maps), so one copy brings all back.
    The integer argmax takes the first maximum in row-major order (as numpy); a peak <= 0
    gives (0, 0). With ``refine`` the peak moves 0.25 px toward its higher neighbour on each
    axis, only where 1 < x < W-1 and 1 < y < H-1 (the official condition: peaks in column/row
    1 stay put too); a tie between neighbours gives no move on that axis.
    """
    n, k, h, w = heatmaps.shape
    out_dtype = torch.promote_types(heatmaps.dtype, torch.float32)
    flat = heatmaps.reshape(n, k, h * w)
    idx = flat.argmax(dim=2, keepdim=True)  # (N, K, 1)
    maxvals = flat.gather(2, idx)
    idx = idx * (maxvals > 0)  # a non-positive peak decodes to (0, 0)
    x, y = idx % w, idx // w
    coords = torch.cat([x, y], dim=2).to(out_dtype)
    if refine:
        inside = (x > 1) & (x < w - 1) & (y > 1) & (y < h - 1)
        # right, left, below, above; clamped so gather stays in range where ``inside`` is False
        # (built on the device: a host-made index tensor would mean a synchronising copy)
        steps = torch.cat([idx + 1, idx - 1, idx + w, idx - w], dim=2)
        around = flat.gather(2, steps.clamp_(0, h * w - 1))
        diff = torch.stack([around[..., 0] - around[..., 1], around[..., 2] - around[..., 3]], dim=2)
        coords += torch.sign(diff).to(out_dtype) * inside * QUARTER_OFFSET
    finite = torch.isfinite(flat).all(dim=2, keepdim=True)
    return torch.cat([coords, maxvals.to(out_dtype), finite.to(out_dtype)], dim=2)


def find_peaks(heatmaps: np.ndarray | torch.Tensor, refine: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps on any device -> peaks in heatmap px, as host numpy arrays.

    The whole search runs where the maps are; a CUDA tensor costs a single device->host copy
    of (N, K, 4) numbers. A numpy array is searched in place (``torch.from_numpy``, no copy).

    Args:
        heatmaps: (N, K, H, W) numpy array or torch tensor.
        refine: apply the official quarter-pixel offset toward the higher neighbour.

    Returns:
        coords (N, K, 2) float32 heatmap px, maxvals (N, K, 1) peak values (float32, or
        float64 for float64 maps). A map whose peak is <= 0 gives (0, 0).

    Raises:
        ValueError: on a wrong shape, or when a map holds NaN/inf (a diverged or overflowed
            model); the message names the (instance, keypoint) pairs.
    """
    if not isinstance(heatmaps, torch.Tensor):
        heatmaps = np.ascontiguousarray(heatmaps)
        if not heatmaps.flags.writeable:  # torch.from_numpy warns on read-only memory
            heatmaps = heatmaps.copy()
        heatmaps = torch.from_numpy(heatmaps)
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must be (N, K, H, W), got shape {tuple(heatmaps.shape)}")
    with torch.no_grad():
        packed = _packed_peaks(heatmaps.detach(), refine).cpu().numpy()
    finite = packed[..., 3] > 0
    if not finite.all():
        bad = [(int(i), int(j)) for i, j in zip(*np.nonzero(~finite))]
        shown = ", ".join(map(str, bad[:10])) + (" ..." if len(bad) > 10 else "")
        raise ValueError(
            f"heatmaps contain NaN/inf at {len(bad)} (instance, keypoint) pair(s): {shown}"
        )
    return packed[..., :2].astype(np.float32), packed[..., 2:3].copy()


def decode_heatmaps(
    heatmaps: np.ndarray | torch.Tensor,
    centers: np.ndarray,
    box_sizes: np.ndarray,
    refine: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps -> keypoints in image px (official ``get_final_preds``).

    Args:
        heatmaps: (N, K, H, W) numpy array (or anything ``np.asarray`` takes), or a torch
            tensor on any device: peaks are found there and one small copy comes back
            (see :func:`find_peaks`).
        centers: (N, 2) crop-region centers, image px.
        box_sizes: (N, 2) crop-region (width, height), image px -- the region the
            model input covers (after aspect padding and 1.25 enlargement).
        refine: apply the quarter-pixel offset toward the higher neighbour.

    Returns:
        coords (N, K, 2) float32 image px; scores (N, K, 1) peak values. A map whose
        peak is <= 0 decodes to heatmap px (0, 0) (mapped to image px), as the official code.

    Raises:
        ValueError: on wrong shapes, or when a heatmap holds NaN/inf (a diverged or
            overflowed model); the message names the (instance, keypoint) pairs.
    """
    if not isinstance(heatmaps, torch.Tensor):
        heatmaps = np.asarray(heatmaps)
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must be (N, K, H, W), got shape {tuple(heatmaps.shape)}")
    n, k, h, w = heatmaps.shape
    centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    box_sizes = np.asarray(box_sizes, dtype=np.float64).reshape(-1, 2)
    if len(centers) != n or len(box_sizes) != n:
        raise ValueError(
            f"{n} heatmap instances but {len(centers)} centers and {len(box_sizes)} box sizes"
        )
    coords, maxvals = find_peaks(heatmaps, refine=refine)
    image_coords = heatmap_to_image(coords, centers, box_sizes, (w, h))
    return image_coords.astype(np.float32), maxvals


class HeatmapCodec:
    """MSRA-style Gaussian heatmaps (un-normalised, peak 1) for one input/heatmap size.

    Args:
        input_size: (width, height) of the model input crop, px (e.g. (192, 256)).
        heatmap_size: (width, height) of the model output, px (e.g. (48, 64)).
        sigma: Gaussian std in heatmap px (official: 2 at 48x64, 3 at 72x96).
    """

    def __init__(
        self,
        input_size: Sequence[int] = (192, 256),
        heatmap_size: Sequence[int] = (48, 64),
        sigma: float = 2.0,
    ) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        self.sigma = float(sigma)
        # input px per heatmap px, per axis (official feat_stride).
        self.stride = np.array(self.input_size, np.float64) / np.array(self.heatmap_size)
        # The Gaussian patch, 6 sigma + 1 wide; every target copies a window of it.
        self.radius = self.sigma * 3
        size = int(2 * self.radius + 1)
        ax = np.arange(size, dtype=np.float32)
        c = size // 2
        self._patch = np.exp(
            -((ax[None, :] - c) ** 2 + (ax[:, None] - c) ** 2) / (2 * self.sigma**2)
        )

    def __repr__(self) -> str:
        return (
            f"HeatmapCodec(input_size={self.input_size}, heatmap_size={self.heatmap_size}, "
            f"sigma={self.sigma})"
        )

    def encode(
        self, keypoints: np.ndarray, visible: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints in input px -> target heatmaps and per-joint loss weights.

        Args:
            keypoints: (K, 2) (x, y) in input px (already through the crop affine).
            visible: (K,) visibility; > 0 means annotated (official joints_vis).

        Returns:
            heatmaps (K, H, W) float32, zero except a Gaussian (peak 1 at the rounded
            heatmap position) for each visible joint; target_weight (K,) float32:
            the visibility clipped to {0, 1}, set to 0 where the Gaussian lies wholly
            outside the heatmap.
        """
        keypoints = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
        visible = np.asarray(visible, dtype=np.float32).reshape(-1)
        if len(visible) != len(keypoints):
            raise ValueError(f"{len(keypoints)} keypoints but {len(visible)} visibility flags")
        w, h = self.heatmap_size
        k = len(keypoints)
        heatmaps = np.zeros((k, h, w), dtype=np.float32)
        weight = np.minimum(visible, 1.0).astype(np.float32)
        for j in range(k):
            # int() truncates toward zero, as the official code (matters left/above the crop).
            mu_x = int(keypoints[j, 0] / self.stride[0] + 0.5)
            mu_y = int(keypoints[j, 1] / self.stride[1] + 0.5)
            x0, y0 = int(mu_x - self.radius), int(mu_y - self.radius)
            x1, y1 = int(mu_x + self.radius + 1), int(mu_y + self.radius + 1)
            if x0 >= w or y0 >= h or x1 < 0 or y1 < 0:
                weight[j] = 0.0
                continue
            if weight[j] > 0.5:
                heatmaps[j, max(0, y0):min(y1, h), max(0, x0):min(x1, w)] = self._patch[
                    max(0, -y0):min(y1, h) - y0, max(0, -x0):min(x1, w) - x0
                ]
        return heatmaps, weight

    def decode(
        self,
        heatmaps: np.ndarray,
        centers: np.ndarray,
        box_sizes: np.ndarray,
        refine: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Heatmaps (N, K, H, W) -> (coords (N, K, 2) image px, scores (N, K, 1)).

        See :func:`decode_heatmaps`; checks that the maps have this codec's size.
        """
        shape = np.shape(heatmaps)
        if len(shape) != 4 or (shape[3], shape[2]) != self.heatmap_size:
            raise ValueError(
                f"heatmaps of shape {shape} do not match heatmap_size (w, h) = {self.heatmap_size}"
            )
        return decode_heatmaps(heatmaps, centers, box_sizes, refine=refine)
