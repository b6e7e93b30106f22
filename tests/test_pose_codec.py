"""HeatmapCodec encode (official Gaussian targets) and decode_heatmaps (official get_final_preds);
find_peaks (numpy and torch input) against a loop written like the official code."""

import json
import math

import numpy as np
import pytest
import torch

from posetrack.io.image import read_image_rgb
from posetrack.models import build_model, load_checkpoint
from posetrack.models.weights import get_weights
from posetrack.pose import HeatmapCodec, decode_heatmaps
from posetrack.pose.codec import find_peaks
from posetrack.pose.estimator import TopDownEstimator

# A region whose heatmap px equal image px: 6x5 heatmap covering a 6x5 region centred at (3, 2.5).
IDENTITY_CENTER, IDENTITY_SIZE = np.array([[3.0, 2.5]]), np.array([[6.0, 5.0]])


def _decode1(hm, refine=True):
    coords, scores = decode_heatmaps(hm[None, None], IDENTITY_CENTER, IDENTITY_SIZE, refine=refine)
    return coords[0, 0], scores[0, 0, 0]


def test_encode_peak_and_gaussian_values():
    codec = HeatmapCodec(input_size=(192, 256), heatmap_size=(48, 64), sigma=2)
    hm, w = codec.encode(np.array([[100.0, 60.0], [97.9, 62.0]]), np.array([2, 1]))
    assert hm.shape == (2, 64, 48) and hm.dtype == np.float32
    np.testing.assert_array_equal(w, [1, 1])
    # mu = int(x / 4 + 0.5): (25, 15) and (24, 16)
    assert hm[0, 15, 25] == 1.0 and np.unravel_index(hm[1].argmax(), hm[1].shape) == (16, 24)
    np.testing.assert_allclose(hm[0, 15, 26], np.exp(-1 / 8), rtol=1e-6)
    np.testing.assert_allclose(hm[0, 17, 27], np.exp(-8 / 8), rtol=1e-6)
    np.testing.assert_allclose(hm[0, 15, 31], np.exp(-36 / 8), rtol=1e-6)  # radius 3 sigma = 6
    assert hm[0, 15, 32] == 0 and hm[0, 22, 25] == 0
    assert np.count_nonzero(hm[0]) == 13 * 13


def test_encode_invisible_and_outside_joints():
    codec = HeatmapCodec(input_size=(192, 256), heatmap_size=(48, 64), sigma=2)
    kpts = np.array([
        [100, 60],   # invisible -> weight 0, empty map
        [-40, 60],   # mu_x = -9: Gaussian wholly left of the map -> weight 0
        [230, 60],   # mu_x = 58: wholly right -> weight 0
        [200, 60],   # mu_x = 50: partly inside -> weight 1, columns 44..47
        [-3, 60],    # int() truncates toward zero: mu_x = int(-0.25) = 0, peak in column 0
        [-30, 60],   # mu_x = -7: window ends at column 0 -> weight 1 but an empty map (official)
    ], dtype=float)
    hm, w = codec.encode(kpts, np.array([0, 1, 1, 1, 1, 1]))
    np.testing.assert_array_equal(w, [0, 0, 0, 1, 1, 1])
    assert hm[0].max() == 0 and hm[1].max() == 0 and hm[2].max() == 0 and hm[5].max() == 0
    assert np.nonzero(hm[3].any(axis=0))[0].tolist() == [44, 45, 46, 47]
    np.testing.assert_allclose(hm[3, 15, 47], np.exp(-9 / 8), rtol=1e-6)
    assert hm[4, 15, 0] == 1.0


def test_encode_decode_roundtrip_within_half_heatmap_pixel():
    codec = HeatmapCodec(input_size=(192, 256), heatmap_size=(48, 64), sigma=2)
    rng = np.random.default_rng(1)
    pts = rng.uniform([12, 12], [180, 244], size=(17, 2))
    hm, w = codec.encode(pts, np.ones(17))
    # the region (96, 128) + (192, 256) maps input px to image px one to one
    coords, scores = codec.decode(hm[None], np.array([[96.0, 128.0]]), np.array([[192.0, 256.0]]))
    expected = np.floor(pts / 4 + 0.5) * 4  # the rounded peak; symmetric maps get no quarter offset
    np.testing.assert_allclose(coords[0], expected, atol=1e-4)
    assert np.abs(coords[0] - pts).max() <= 2.0  # half a heatmap pixel at stride 4
    np.testing.assert_array_equal(scores[0, :, 0], np.ones(17))


def test_quarter_offset_both_directions_and_ties():
    hm = np.zeros((5, 6), np.float32)
    hm[2, 2] = 1.0
    hm[2, 3], hm[2, 1] = 0.5, 0.2     # right higher -> +0.25 x
    hm[1, 2], hm[3, 2] = 0.3, 0.1     # up higher -> -0.25 y
    coords, score = _decode1(hm)
    np.testing.assert_allclose(coords, [2.25, 1.75], atol=1e-5)
    assert score == 1.0
    hm[2, 3] = hm[2, 1] = 0.4         # tie in x: no move
    hm[3, 2] = 0.6                    # down higher -> +0.25 y
    np.testing.assert_allclose(_decode1(hm)[0], [2.0, 2.25], atol=1e-5)
    np.testing.assert_allclose(_decode1(hm, refine=False)[0], [2.0, 2.0], atol=1e-5)


@pytest.mark.parametrize("peak, expected", [
    ((1, 2), (1.0, 2.0)),    # x == 1: official condition 1 < px, no offset although neighbours exist
    ((4, 2), (4.25, 2.0)),   # x == W - 2: offset applies
    ((5, 2), (5.0, 2.0)),    # x == W - 1: border
    ((2, 1), (2.0, 1.0)),    # y == 1: no offset on either axis (x would move otherwise)
    ((0, 0), (0.0, 0.0)),
])
def test_quarter_offset_borders(peak, expected):
    x, y = peak
    hm = np.zeros((5, 6), np.float32)
    hm[y, x] = 1.0
    if x + 1 < 6:
        hm[y, x + 1] = 0.5  # right neighbour higher wherever one exists
    if y == 1:
        hm[y, x + 1] = 0.5
        hm[2, x] = 0.5
    np.testing.assert_allclose(_decode1(hm)[0], expected, atol=1e-5)


def test_nonpositive_peak_is_masked_to_origin_and_argmax_takes_first():
    neg = np.full((5, 6), -0.5, np.float32)
    neg[3, 4] = -0.1
    coords, score = _decode1(neg)
    np.testing.assert_allclose(coords, [0, 0])
    np.testing.assert_allclose(score, -0.1)
    coords, score = _decode1(np.zeros((5, 6), np.float32))
    np.testing.assert_allclose(coords, [0, 0])
    assert score == 0
    two = np.zeros((5, 6), np.float32)
    two[3, 1] = two[2, 4] = 0.7  # equal peaks: row-major first -> (4, 2)
    np.testing.assert_allclose(_decode1(two, refine=False)[0], [4, 2])


def test_decode_maps_each_instance_through_its_region():
    hm = np.zeros((2, 1, 64, 48), np.float32)
    hm[0, 0, 32, 24] = 1.0   # heatmap center -> region center
    hm[1, 0, 0, 0] = 1.0     # heatmap origin -> region corner
    coords, scores = decode_heatmaps(hm, np.array([[25, 60], [100, 200]]), np.array([[75, 100], [48, 64]]))
    np.testing.assert_allclose(coords[:, 0], [[25, 60], [76, 168]], atol=1e-4)
    assert coords.shape == (2, 1, 2) and scores.shape == (2, 1, 1) and coords.dtype == np.float32


def test_nan_heatmaps_raise_naming_instance_and_joint():
    hm = np.zeros((2, 3, 8, 8), np.float32)
    hm[1, 2, 4, 4] = np.nan
    with pytest.raises(ValueError, match=r"NaN/inf .*\(1, 2\)"):
        decode_heatmaps(hm, np.zeros((2, 2)), np.ones((2, 2)))
    hm[1, 2, 4, 4] = np.inf
    with pytest.raises(ValueError, match="NaN/inf"):
        decode_heatmaps(hm, np.zeros((2, 2)), np.ones((2, 2)))


def test_decode_bad_shapes():
    with pytest.raises(ValueError, match=r"\(N, K, H, W\)"):
        decode_heatmaps(np.zeros((3, 8, 8)), np.zeros((3, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="2 heatmap instances but 1 centers"):
        decode_heatmaps(np.zeros((2, 1, 8, 8)), np.zeros((1, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="heatmap_size"):
        HeatmapCodec().decode(np.zeros((1, 17, 32, 24)), np.zeros((1, 2)), np.ones((1, 2)))
    coords, scores = decode_heatmaps(np.zeros((0, 17, 64, 48)), np.zeros((0, 2)), np.zeros((0, 2)))
    assert coords.shape == (0, 17, 2) and scores.shape == (0, 17, 1)


# --- find_peaks: one torch peak search for numpy maps and device tensors --------------------

def _official_peaks(heatmaps, refine):
    """Per-map loop as the official get_max_preds + get_final_preds (the oracle)."""
    n, k, h, w = heatmaps.shape
    coords = np.zeros((n, k, 2), np.float32)
    maxvals = np.zeros((n, k, 1), heatmaps.dtype)
    for i in range(n):
        for j in range(k):
            hm = heatmaps[i, j]
            idx = int(np.argmax(hm))  # numpy: first maximum in row-major order
            maxvals[i, j, 0] = hm.reshape(-1)[idx]
            if maxvals[i, j, 0] > 0:
                coords[i, j] = (idx % w, idx // w)
            px, py = int(math.floor(coords[i, j, 0] + 0.5)), int(math.floor(coords[i, j, 1] + 0.5))
            if refine and 1 < px < w - 1 and 1 < py < h - 1:
                diff = np.array([hm[py][px + 1] - hm[py][px - 1], hm[py + 1][px] - hm[py - 1][px]])
                coords[i, j] += np.sign(diff) * 0.25
    return coords, maxvals


def _random_maps(rng, kind):
    shape = (3, 4, int(rng.integers(3, 9)), int(rng.integers(3, 9)))
    if kind == "normal":
        return rng.normal(size=shape).astype(np.float32)
    if kind == "ties":  # few distinct values: tied maxima and tied neighbours everywhere
        return (rng.integers(-2, 3, size=shape) * 0.5).astype(np.float32)
    if kind == "nonpositive":  # decode to (0, 0); half of the maps peak at exactly 0, not at index 0
        maps = -rng.random(shape).astype(np.float32)
        flat = maps.reshape(-1, shape[2] * shape[3])
        rows = np.nonzero(rng.random(len(flat)) < 0.5)[0]
        flat[rows, rng.integers(1, flat.shape[1], len(rows))] = 0
        return maps
    return rng.integers(0, 2, size=shape).astype(np.float64)  # "binary", float64 maps


@pytest.mark.parametrize("kind", ["normal", "ties", "nonpositive", "binary"])
def test_find_peaks_equals_the_official_loop_exactly_on_random_maps(kind):
    rng = np.random.default_rng(["normal", "ties", "nonpositive", "binary"].index(kind))
    for _ in range(25):
        hm = _random_maps(rng, kind)
        for refine in (True, False):
            want_xy, want_v = _official_peaks(hm, refine)
            for maps in (hm, torch.from_numpy(hm)):
                xy, v = find_peaks(maps, refine=refine)
                assert xy.dtype == np.float32 and v.dtype == hm.dtype
                np.testing.assert_array_equal(xy, want_xy)
                np.testing.assert_array_equal(v, want_v)


def test_find_peaks_equals_the_official_loop_on_real_network_heatmaps(coco_sample):
    weights = get_weights("hrnet_w16_demo_128x96")
    model = build_model(weights.arch, num_joints=weights.num_joints)
    load_checkpoint(model, weights.fetch())
    est = TopDownEstimator(model, input_size=weights.input_size)
    coco = json.loads((coco_sample / "test_coco.json").read_text())
    image = coco["images"][3]
    boxes = [a["bbox"] for a in coco["annotations"] if a["image_id"] == image["id"]]
    hm = est.heatmaps(est.prepare(read_image_rgb(coco_sample / image["file_name"]), boxes).crops)
    assert hm.shape == (5, 17, 32, 24)
    want_xy, want_v = _official_peaks(hm, True)
    xy, v = find_peaks(hm)
    assert np.count_nonzero(xy % 1) > 20  # the quarter offsets are exercised
    np.testing.assert_array_equal(xy, want_xy)
    np.testing.assert_array_equal(v, want_v)


def test_find_peaks_on_a_tensor_names_nan_pairs_and_checks_shape():
    hm = torch.zeros(2, 3, 8, 8)
    hm[0, 1, 2, 2] = float("inf")
    hm[1, 0, 7, 7] = float("nan")
    with pytest.raises(ValueError, match=r"NaN/inf at 2 \(instance, keypoint\) pair\(s\): \(0, 1\), \(1, 0\)"):
        find_peaks(hm)
    with pytest.raises(ValueError, match=r"\(N, K, H, W\)"):
        find_peaks(torch.zeros(3, 8, 8))
    coords, scores = decode_heatmaps(torch.zeros(0, 17, 8, 6), np.zeros((0, 2)), np.zeros((0, 2)))
    assert coords.shape == (0, 17, 2) and scores.shape == (0, 17, 1)
