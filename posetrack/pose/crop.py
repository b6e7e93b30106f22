"""Box -> crop region, and the affine map between image and crop, as the official HRNet code.

Spaces: *image px* (the full frame), *input px* (the model's input crop, e.g. 192x256)
and *heatmap px* (the model output, e.g. 48x64). A crop region is a ``center`` (x, y)
and a ``size`` (width, height), both in image px; the official code stores
``scale = size / PIXEL_STD`` instead, which is only needed to write official-style
result files (see :func:`size_to_scale`).

Official behaviour kept on purpose (``lib/utils/transforms.py``, ``lib/dataset/coco.py``):
- the affine map is built from three point pairs (center, a point half a width above it,
  and a "third point" perpendicular to those) and ``cv2.getAffineTransform`` in float32;
- only the region's *width* sets the zoom; the height follows from the output aspect ratio;
- boxes are padded to the input aspect ratio, then enlarged by 1.25.

Two ways to cut crops, the same affine map: :func:`crop` (``cv2.warpAffine``, one crop,
host numpy) and :func:`warp_crops` (``grid_sample``, N crops of one image tensor in one
call, on the tensor's device: what the estimator uses on CUDA, so a frame goes up once).
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

# Official unit of "scale" (lib/dataset/coco.py: self.pixel_std = 200).
PIXEL_STD = 200.0
# Context padding around a person box (lib/dataset/coco.py _xywh2cs: scale * 1.25).
BOX_ENLARGE = 1.25


def box_to_center_size(
    boxes_xywh: np.ndarray, aspect_ratio: float, enlarge: float = BOX_ENLARGE
) -> tuple[np.ndarray, np.ndarray]:
    """Person boxes -> crop regions, as the official ``_box2cs``.

    Args:
        boxes_xywh: (N, 4) boxes (x, y, w, h) in image px.
        aspect_ratio: input width / input height (192 / 256 = 0.75).
        enlarge: context factor applied after padding to the aspect ratio.

    Returns:
        centers (N, 2) and sizes (N, 2) = (width, height) in image px, float64.
        The box is grown along one axis to ``aspect_ratio`` then both sides are
        multiplied by ``enlarge`` -- except for a box centred at x == -1, which the
        official code treats as a "no box" sentinel and leaves unenlarged.
    """
    boxes = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    x, y, w, h = boxes.T
    centers = np.stack([x + w * 0.5, y + h * 0.5], axis=1)
    wider = w > aspect_ratio * h
    taller = w < aspect_ratio * h
    w_out = np.where(taller, h * aspect_ratio, w)
    h_out = np.where(wider, w / aspect_ratio, h)
    sizes = np.stack([w_out, h_out], axis=1)
    sizes = np.where((centers[:, 0] != -1)[:, None], sizes * enlarge, sizes)
    return centers, sizes


def size_to_scale(sizes: np.ndarray) -> np.ndarray:
    """Region sizes in image px -> the official ``scale`` (units of PIXEL_STD px)."""
    return np.asarray(sizes, dtype=np.float64) / PIXEL_STD


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The point that makes (a, b, c) a right angle at b, rotated +90 deg from b->a."""
    d = a - b
    return b + np.array([-d[1], d[0]], dtype=np.float32)


def get_affine_transform(
    center: Sequence[float],
    size: Sequence[float],
    rotation_deg: float,
    output_size: Sequence[int],
    inverse: bool = False,
    shift: Sequence[float] = (0.0, 0.0),
) -> np.ndarray:
    """The (2, 3) affine map from the image region to an ``output_size`` crop.

    Args:
        center: (x, y) region center in image px.
        size: (width, height) of the region in image px; only the width sets the zoom.
        rotation_deg: counter-clockwise rotation of the region content, degrees
            (the official training augmentation's ``r``).
        output_size: (width, height) of the crop, px (input or heatmap space).
        inverse: return the crop -> image map instead.
        shift: region-relative offset of the center, as a fraction of ``size``.

    Returns:
        float64 (2, 3) matrix M with ``[x', y'] = M @ [x, y, 1]``.
    """
    center = np.asarray(center, dtype=np.float32)
    size = np.asarray(size, dtype=np.float32)
    shift = np.asarray(shift, dtype=np.float32)
    dst_w, dst_h = float(output_size[0]), float(output_size[1])
    rot = np.pi * rotation_deg / 180.0
    sn, cs = np.sin(rot), np.cos(rot)
    # (0, -w/2) rotated by rot: the point half a region width "above" the center.
    # Kept in float64 and rounded once when stored in ``src``, as the official code.
    half = float(size[0]) * -0.5
    src_dir = np.array([-half * sn, half * cs], dtype=np.float64)

    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0] = center + size * shift
    src[1] = center + src_dir + size * shift
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = [dst_w * 0.5, dst_h * 0.5 - dst_w * 0.5]
    src[2] = _third_point(src[0], src[1])
    dst[2] = _third_point(dst[0], dst[1])
    if inverse:
        return cv2.getAffineTransform(dst, src)
    return cv2.getAffineTransform(src, dst)


def affine_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map points (..., 2) through a (2, 3) affine matrix; returns float64 (..., 2)."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ matrix[:, :2].T + matrix[:, 2]


def crop(
    image: np.ndarray,
    center: Sequence[float],
    size: Sequence[float],
    rotation_deg: float,
    output_size: Sequence[int],
) -> np.ndarray:
    """Cut the region out of ``image`` (H, W, C) into an (out_h, out_w, C) crop.

    Bilinear (cv2.INTER_LINEAR) with a black border, as the official code.
    """
    matrix = get_affine_transform(center, size, rotation_deg, output_size)
    return cv2.warpAffine(
        image, matrix, (int(output_size[0]), int(output_size[1])), flags=cv2.INTER_LINEAR
    )


def crop_inverse_transforms(
    centers: np.ndarray,
    sizes: np.ndarray,
    rotations_deg: float | np.ndarray,
    output_size: Sequence[int],
) -> np.ndarray:
    """The crop px -> image px maps that :func:`crop` samples through, one per region.

    Args:
        centers, sizes: (N, 2) crop regions in image px.
        rotations_deg: one rotation for all, or (N,) rotations (see :func:`get_affine_transform`).
        output_size: (width, height) of the crops, px.

    Returns:
        (N, 2, 3) float64: ``cv2.invertAffineTransform`` of :func:`crop`'s matrix, which is
        the inverse ``cv2.warpAffine`` computes and samples through itself.
    """
    centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    sizes = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
    rotations = np.broadcast_to(np.asarray(rotations_deg, dtype=np.float64), (len(centers),))
    return np.array([
        cv2.invertAffineTransform(get_affine_transform(c, s, r, output_size))
        for c, s, r in zip(centers, sizes, rotations)
    ], dtype=np.float64).reshape(-1, 2, 3)


def warp_crops(
    image: torch.Tensor, inverse_matrices: np.ndarray | torch.Tensor, output_size: Sequence[int]
) -> torch.Tensor:
    """N affine crops of one image in one ``grid_sample`` call, on the image's device.

    The same sampling as :func:`crop`: output px (x, y) (pixel centres at integers) reads
    image px ``inverse_matrices[i] @ (x, y, 1)``, bilinear, black outside the image.
    cv2 moves each sample point to the nearest 1/32 px and rounds to uint8; this path does
    neither (float32 throughout), so it differs from :func:`crop` by that quantisation only
    (measured in tests/test_pose_crop.py): within 0.55 gray levels on a smooth image (0.5
    of it uint8 rounding), exact blends with the black border; on the real COCO sample
    people (4 rotations) mean |diff| 0.30 and max 5.4 where an edge of ~250 gray levels
    per px meets cv2's 1/64-px worst-case sample shift.

    Args:
        image: (H, W, C) tensor of any real dtype (e.g. the uploaded uint8 frame).
        inverse_matrices: (N, 2, 3) crop px -> image px, from :func:`crop_inverse_transforms`.
        output_size: (width, height) of the crops, px.

    Returns:
        (N, C, out_h, out_w) float32 on ``image.device``, in the image's value range (not rounded).
    """
    if image.ndim != 3:
        raise ValueError(f"image must be (H, W, C), got shape {tuple(image.shape)}")
    height, width, channels = image.shape
    out_w, out_h = int(output_size[0]), int(output_size[1])
    mats = torch.as_tensor(inverse_matrices, dtype=torch.float32).reshape(-1, 2, 3)
    if image.is_cuda and not mats.is_cuda:
        mats = mats.pin_memory()  # a pageable host->device copy would wait for the stream
    mats = mats.to(image.device, non_blocking=True)
    n = len(mats)
    xs = torch.arange(out_w, dtype=torch.float32, device=image.device).view(1, 1, out_w)
    ys = torch.arange(out_h, dtype=torch.float32, device=image.device).view(1, out_h, 1)
    coef = mats.view(n, 6, 1, 1).unbind(1)
    src_x = coef[0] * xs + coef[1] * ys + coef[2]  # (N, out_h, out_w) image px
    src_y = coef[3] * xs + coef[4] * ys + coef[5]
    # align_corners=False puts pixel centre i at (2i + 1) / size - 1; unlike align_corners=True
    # it stays exact for a 1-px-wide (or -high) image, where (size - 1) would be 0.
    grid = torch.stack([(2 * src_x + 1) / width - 1, (2 * src_y + 1) / height - 1], dim=3)
    source = image.permute(2, 0, 1).unsqueeze(0).float()  # (1, C, H, W)
    # All crops stacked along the grid's height: one image in, one kernel call.
    out = F.grid_sample(source, grid.view(1, n * out_h, out_w, 2), mode="bilinear",
                        padding_mode="zeros", align_corners=False)
    return out.view(channels, n, out_h, out_w).permute(1, 0, 2, 3)


def heatmap_to_image(
    coords: np.ndarray, centers: np.ndarray, sizes: np.ndarray, heatmap_size: Sequence[int]
) -> np.ndarray:
    """Heatmap px -> image px for each instance (official ``transform_preds``).

    Args:
        coords: (N, K, 2) in heatmap px.
        centers, sizes: (N, 2) crop regions in image px.
        heatmap_size: (width, height) of the heatmaps.

    Returns:
        (N, K, 2) float64 in image px.
    """
    out = np.empty(coords.shape, dtype=np.float64)
    for i in range(coords.shape[0]):
        inv = get_affine_transform(centers[i], sizes[i], 0.0, heatmap_size, inverse=True)
        out[i] = affine_points(coords[i], inv)
    return out
