"""Box -> crop region and the official affine maps, against hand-computed values."""

import numpy as np
import pytest

from posetrack.pose.crop import (
    PIXEL_STD,
    affine_points,
    box_to_center_size,
    crop,
    get_affine_transform,
    heatmap_to_image,
    size_to_scale,
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
