"""Box -> crop region and the official affine maps, against hand-computed values;
the grid_sample crops (warp_crops) against cv2's."""

import json

import numpy as np
import pytest
import torch

from posetrack.io.image import read_image_rgb
from posetrack.pose.crop import (
    PIXEL_STD,
    affine_points,
    box_to_center_size,
    crop,
    crop_inverse_transforms,
    get_affine_transform,
    heatmap_to_image,
    size_to_scale,
    warp_crops,
)


def test_box_to_center_size_pads_to_aspect_then_enlarges():
    boxes = np.array([
        [10, 20, 30, 80],     # too narrow: width grows to 0.75 * 80 = 60
        [0, 0, 100, 50],      # too wide: height grows to 100 / 0.75
        [5, 5, 30, 40],       # already 3:4
        [-3, 0, 4, 8],        # centred at x = -1: the official "no box" sentinel, not enlarged
    ])
    centers, sizes = box_to_center_size(boxes, aspect_ratio=192 / 256)
    np.testing.assert_allclose(centers, [[25, 60], [50, 25], [20, 25], [-1, 4]])
    np.testing.assert_allclose(sizes, [[75, 100], [125, 500 / 3], [37.5, 50], [6, 8]])
    np.testing.assert_allclose(size_to_scale(sizes[:1]), [[75 / PIXEL_STD, 0.5]])


def test_affine_forward_inverse_and_rotation_exact():
    center, size = (25.0, 60.0), (75.0, 100.0)
    # zoom 192 / 75 = 2.56; the region center lands on the crop center (96, 128)
    np.testing.assert_allclose(
        get_affine_transform(center, size, 0, (192, 256)),
        [[2.56, 0, 32], [0, 2.56, -25.6]], atol=1e-5)
    # rotation 90: a point right of the center moves above it (counter-clockwise content)
    np.testing.assert_allclose(
        get_affine_transform(center, size, 90, (192, 256)),
        [[0, 2.56, -57.6], [-2.56, 0, 192]], atol=1e-5)
    # heatmap px -> image px: 75 / 48 = 1.5625 image px per heatmap px
    np.testing.assert_allclose(
        get_affine_transform(center, size, 0, (48, 64), inverse=True),
        [[1.5625, 0, -12.5], [0, 1.5625, 10]], atol=1e-5)
    # shift moves the region by a fraction of its size (7.5 px right)
    np.testing.assert_allclose(
        get_affine_transform(center, size, 0, (192, 256), shift=(0.1, 0)),
        [[2.56, 0, 12.8], [0, 2.56, -25.6]], atol=1e-5)


def test_only_region_width_sets_the_zoom():
    # official behaviour: the height of `size` is ignored (aspect comes from output_size)
    a = get_affine_transform((50, 50), (40, 10), 0, (20, 40))
    b = get_affine_transform((50, 50), (40, 400), 0, (20, 40))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, [[0.5, 0, -15], [0, 0.5, -5]], atol=1e-6)


def test_affine_points_roundtrip():
    fwd = get_affine_transform((25, 60), (75, 100), 30, (192, 256))
    inv = get_affine_transform((25, 60), (75, 100), 30, (192, 256), inverse=True)
    pts = np.array([[[0.0, 0.0], [25, 60]], [[100, -20], [3.5, 7.25]]])
    np.testing.assert_allclose(affine_points(affine_points(pts, fwd), inv), pts, atol=1e-4)
    np.testing.assert_allclose(affine_points(np.array([25.0, 60.0]), fwd), [96, 128], atol=1e-4)


def test_crop_identity_and_rotation_180():
    img = np.random.default_rng(0).integers(0, 255, (256, 192, 3), dtype=np.uint8)
    np.testing.assert_array_equal(crop(img, (96, 128), (192, 256), 0, (192, 256)), img)
    rotated = crop(img, (96, 128), (192, 256), 180, (192, 256))
    # x -> 192 - x about the center: one column/row falls outside (black border)
    np.testing.assert_array_equal(rotated[1:, 1:], img[::-1, ::-1][:-1, :-1])
    assert rotated[0].max() == 0 and rotated[:, 0].max() == 0


def test_heatmap_to_image_per_instance():
    coords = np.array([[[24.0, 32.0], [0, 0]], [[0, 0], [48, 64]]])
    out = heatmap_to_image(coords, np.array([[25, 60], [100, 100]]),
                           np.array([[75, 100], [48, 64]]), (48, 64))
    np.testing.assert_allclose(out, [[[25, 60], [-12.5, 10]], [[76, 68], [124, 132]]], atol=1e-4)


@pytest.mark.parametrize("rotation", [0, 45, -90])
def test_crop_maps_a_marked_pixel_where_the_affine_says(rotation):
    img = np.zeros((300, 400, 3), np.uint8)
    img[140:143, 220:223] = 255  # 3x3 white dot centred at (221, 141)
    center, size = (200.0, 150.0), (120.0, 160.0)
    out = crop(img, center, size, rotation, (96, 128))
    expected = affine_points(np.array([221.0, 141.0]), get_affine_transform(center, size, rotation, (96, 128)))
    y, x = np.unravel_index(np.argmax(out[..., 0]), out.shape[:2])
    assert abs(x - expected[0]) <= 1 and abs(y - expected[1]) <= 1


# --- warp_crops: the same crops cut by grid_sample (the estimator's device path) -----------

def _warp(image, centers, sizes, rotation, output_size):
    """warp_crops of numpy inputs -> (N, h, w, C) float32 numpy, for comparison with crop()."""
    inverse = crop_inverse_transforms(centers, sizes, rotation, output_size)
    return warp_crops(torch.from_numpy(image), inverse, output_size).permute(0, 2, 3, 1).numpy()


def _cv2_crops(image, centers, sizes, rotation, output_size):
    return np.stack([crop(image, c, s, rotation, output_size) for c, s in zip(centers, sizes)]).astype(np.float32)


def test_warp_crops_zoom_one_half_pixel_offset_exact_with_black_border():
    # zoom 1, region shifted so output px x samples image x - 10.5 and y samples y + 0.25:
    # every sample is an exact 2x2 blend, half of it off the image at the left/bottom edges.
    img = np.random.default_rng(3).integers(1, 256, (40, 30, 3), dtype=np.uint8)
    out_w, out_h = 30, 40
    center, size = np.array([[out_w / 2 - 10.5, out_h / 2 + 0.25]]), np.array([[30.0, 40.0]])
    got = _warp(img, center, size, 0.0, (out_w, out_h))[0]
    padded = np.zeros((42, 42, 3), np.float64)  # image at rows 0..39, columns 1..30, zeros around
    padded[:40, 1:31] = img
    # output (y, x) reads image x - 10.5, y + 0.25 = padded columns x - 10 and x - 9, rows y, y + 1
    cols = np.arange(out_w) - 10
    rows = np.arange(out_h)
    left = 0.75 * padded[rows][:, cols] + 0.25 * padded[rows + 1][:, cols]
    right = 0.75 * padded[rows][:, cols + 1] + 0.25 * padded[rows + 1][:, cols + 1]
    np.testing.assert_allclose(got, 0.5 * (left + right), atol=1e-3)
    assert got[:, :10].max() == 0 and got[:, 10].min() > 0  # off the image, then half blended
    # cv2 lands on the same 1/32-px sample points here: only its uint8 rounding differs
    assert np.abs(got - _cv2_crops(img, center, size, 0.0, (out_w, out_h))[0]).max() <= 0.5 + 1e-3


@pytest.mark.parametrize("rotation", [0.0, 30.0, -90.0, 137.0])
def test_warp_crops_equal_cv2_on_a_smooth_ramp(rotation):
    # A smooth image leaves only cv2's uint8 rounding (0.5) and its 1/32-px sample quantisation
    # (<= 1/64 px x 2.6 gray/px); a sample point off by 0.05 px fails (checked).
    y, x = np.mgrid[0:96, 0:128].astype(np.float64)
    img = np.stack([2 * x, 2.6 * y, x + 1.3 * y], axis=2).round().astype(np.uint8)
    centers = np.array([[64.0, 48.0], [40.5, 60.25], [70.3, 33.7]])
    sizes = np.array([[50.0, 60.0], [30.0, 40.0], [61.7, 80.0]])
    got = _warp(img, centers, sizes, rotation, (48, 64))
    expected = _cv2_crops(img, centers, sizes, rotation, (48, 64))
    # compare where the whole 2x2 source cell is inside the image (the border is tested above)
    inv = crop_inverse_transforms(centers, sizes, rotation, (48, 64))
    oy, ox = np.mgrid[0:64, 0:48]
    sx = inv[:, 0, 0, None, None] * ox + inv[:, 0, 1, None, None] * oy + inv[:, 0, 2, None, None]
    sy = inv[:, 1, 0, None, None] * ox + inv[:, 1, 1, None, None] * oy + inv[:, 1, 2, None, None]
    inside = (sx >= 0) & (sx <= 126) & (sy >= 0) & (sy <= 94)
    assert inside.mean() > 0.6
    assert np.abs(got - expected)[inside].max() <= 0.6  # measured 0.55


def test_warp_crops_close_to_cv2_on_real_coco_people(coco_sample):
    # cv2.warpAffine moves each sample point to the nearest 1/32 px: at a sharp edge (up to
    # ~255 gray levels per px) that alone is worth 4 gray levels. Measured over the 4 images'
    # 14 GT people at 4 rotations: max |diff| 5.4, mean 0.30, 99.9 % of values within 2.7;
    # sampling 0.05 px off gives max 22 / mean 0.96, half a pixel off max 158 / mean 8.2.
    coco = json.loads((coco_sample / "test_coco.json").read_text())
    diffs = []
    for image in coco["images"]:
        img = read_image_rgb(coco_sample / image["file_name"])
        boxes = np.array([a["bbox"] for a in coco["annotations"] if a["image_id"] == image["id"]])
        centers, sizes = box_to_center_size(boxes, aspect_ratio=192 / 256)
        for rotation in (0.0, 30.0, -90.0, 137.0):
            got = _warp(img, centers, sizes, rotation, (192, 256))
            diffs.append(np.abs(got - _cv2_crops(img, centers, sizes, rotation, (192, 256))).ravel())
    diffs = np.concatenate(diffs)
    assert diffs.max() <= 6.0
    assert diffs.mean() <= 0.35
    assert np.quantile(diffs, 0.999) <= 3.0


def test_warp_crops_shapes_and_no_regions():
    img = torch.zeros(20, 30, 3, dtype=torch.uint8)
    assert warp_crops(img, np.zeros((0, 2, 3)), (8, 16)).shape == (0, 3, 16, 8)
    out = warp_crops(img, crop_inverse_transforms(np.ones((2, 2)), np.ones((2, 2)), [0, 90], (8, 16)), (8, 16))
    assert out.shape == (2, 3, 16, 8) and out.dtype == torch.float32
    with pytest.raises(ValueError, match=r"\(H, W, C\)"):
        warp_crops(img[0], np.zeros((1, 2, 3)), (8, 16))
