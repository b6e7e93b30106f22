"""Flip test heatmap mapping (official flip_back + 1-px shift) and keypoint mirroring."""

import numpy as np
import pytest
import torch

from posetrack.pose import flip_heatmaps, flip_keypoints
from posetrack.pose.flip import flip_permutation


def _maps():
    base = np.arange(8, dtype=np.float32).reshape(2, 4)  # [[0 1 2 3] [4 5 6 7]]
    return np.stack([base + 100 * k for k in range(3)])[None]  # (1, 3, 2, 4), channel k offset 100k


def test_flip_back_swaps_pairs_and_shifts_one_pixel_right():
    hm = _maps()
    out = flip_heatmaps(hm, [(1, 2)], shift=True)
    shifted = np.array([[3, 3, 2, 1], [7, 7, 6, 5]], np.float32)  # mirrored, then column 0 repeated
    np.testing.assert_array_equal(out[0, 0], shifted)
    np.testing.assert_array_equal(out[0, 1], shifted + 200)  # channel 1 now holds channel 2
    np.testing.assert_array_equal(out[0, 2], shifted + 100)
    np.testing.assert_array_equal(hm, _maps())  # input untouched


def test_flip_back_without_shift_and_torch_matches_numpy():
    out = flip_heatmaps(_maps(), [(1, 2)], shift=False)
    np.testing.assert_array_equal(out[0, 0], [[3, 2, 1, 0], [7, 6, 5, 4]])
    for shift in (True, False):
        t = flip_heatmaps(torch.from_numpy(_maps()), [(1, 2)], shift=shift)
        assert isinstance(t, torch.Tensor)
        np.testing.assert_array_equal(t.numpy(), flip_heatmaps(_maps(), [(1, 2)], shift=shift))


def test_flip_twice_without_shift_is_identity_and_bad_rank():
    hm = np.random.default_rng(0).random((2, 17, 8, 6)).astype(np.float32)
    from posetrack.pose import COCO_FLIP_PAIRS
    back = flip_heatmaps(flip_heatmaps(hm, COCO_FLIP_PAIRS, shift=False), COCO_FLIP_PAIRS, shift=False)
    np.testing.assert_array_equal(back, hm)
    with pytest.raises(ValueError, match="N, K, H, W"):
        flip_heatmaps(hm[0], COCO_FLIP_PAIRS)


def test_flip_keypoints_mirrors_swaps_and_zeroes_invisible():
    kpts, vis = flip_keypoints(np.array([[1.0, 2], [3, 4], [5, 6]]), np.array([1, 1, 0]), 10, [(1, 2)])
    np.testing.assert_array_equal(kpts, [[8, 2], [0, 0], [6, 4]])
    np.testing.assert_array_equal(vis, [1, 0, 1])
    assert flip_permutation(5, [(1, 2), (3, 4)]) == [0, 2, 1, 4, 3]


def test_cached_flip_index_made_under_inference_mode_still_serves_autograd():
    pairs = [(1, 2)]
    with torch.inference_mode():
        flip_heatmaps(torch.zeros(1, 3, 2, 2), pairs)  # first call fills the per-device index cache
    maps = torch.arange(12.0).reshape(1, 3, 2, 2).requires_grad_()
    flip_heatmaps(maps, pairs, shift=False).sum().backward()
    assert maps.grad.shape == maps.shape
