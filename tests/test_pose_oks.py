"""OKS between poses, OKS-NMS (hard and soft, official order) and rescoring."""

import numpy as np
import pytest

from posetrack.pose import COCO_SIGMAS, oks_matrix, oks_nms, rescore_poses
from posetrack.pose.oks import SOFT_NMS_MAX_DETS

# Two joints with sigma 0.5: (2 sigma)^2 = 1, so with area 1: e = d^2 / 2.
SIG2 = [0.5, 0.5]


def _pose(*xy, scores=(1.0, 1.0)):
    return np.array([[x, y, s] for (x, y), s in zip(xy, scores)], dtype=float)


def test_oks_hand_values():
    a = _pose((0, 0), (5, 5))
    b = _pose((1, 0), (5, 5))
    np.testing.assert_allclose(oks_matrix(a[None], b[None], [1.0], [1.0], sigmas=SIG2),
                               [[(np.exp(-0.5) + 1) / 2]], rtol=1e-12)
    # mean area (1 + 3) / 2 = 2 -> e = 1 / 2 / 2
    np.testing.assert_allclose(oks_matrix(a[None], b[None], [1.0], [3.0], sigmas=SIG2),
                               [[(np.exp(-0.25) + 1) / 2]], rtol=1e-12)
    # pairwise shape, identical poses -> 1
    m = oks_matrix(np.stack([a, b]), np.stack([a, b, a]), np.ones(2), np.ones(3), sigmas=SIG2)
    assert m.shape == (2, 3)
    np.testing.assert_allclose(np.diag(m[:, :2]), [1, 1])


def test_oks_coco_sigmas_default():
    a = np.zeros((17, 3))
    b = a.copy()
    b[:, 0] = 2.0
    expected = np.mean(np.exp(-4.0 / (2 * COCO_SIGMAS) ** 2 / 100.0 / 2))
    np.testing.assert_allclose(oks_matrix(a[None], b[None], [100.0], [100.0]), [[expected]], rtol=1e-9)


def test_in_vis_thre_uses_only_the_second_poses_scores():
    a = _pose((0, 0), (5, 5), scores=(0.0, 0.0))
    b = _pose((1, 0), (9, 9), scores=(0.9, 0.1))
    # only joint 0 of b passes 0.2; a's scores are ignored (official `list(...) and list(...)`)
    np.testing.assert_allclose(oks_matrix(a[None], b[None], [1.0], [1.0], SIG2, in_vis_thre=0.2),
                               [[np.exp(-0.5)]], rtol=1e-12)
    # no joint of the second pose passes: 0
    assert oks_matrix(b[None], a[None], [1.0], [1.0], SIG2, in_vis_thre=0.2)[0, 0] == 0.0


def test_oks_nms_keeps_highest_first_and_drops_duplicates():
    a = _pose((0, 0), (10, 10))
    a_dup = _pose((0.1, 0), (10, 10))
    far1 = _pose((50, 50), (60, 60))
    far2 = _pose((-50, -50), (-60, -60))
    kpts = np.stack([a, a_dup, far1, far2])
    keep = oks_nms(kpts, np.array([0.9, 0.95, 0.5, 0.7]), np.ones(4), 0.9, sigmas=SIG2)
    assert keep == [1, 3, 2]
    # threshold 1.0 keeps everything (OKS <= 1), in score order
    assert oks_nms(kpts, np.array([0.9, 0.95, 0.5, 0.7]), np.ones(4), 1.0, sigmas=SIG2) == [1, 0, 3, 2]
    # equal scores: the later index comes first (reversed ascending argsort, as official)
    assert oks_nms(kpts[[0, 2]], np.array([0.5, 0.5]), np.ones(2), 0.9, sigmas=SIG2) == [1, 0]
    assert oks_nms(np.zeros((0, 17, 3)), np.zeros(0), np.zeros(0)) == []


def test_soft_oks_nms_decays_instead_of_dropping():
    a = _pose((0, 0), (10, 10))
    kpts = np.stack([a, a.copy(), _pose((50, 50), (60, 60))])
    scores = np.array([1.0, 0.9, 0.5])
    assert oks_nms(kpts, scores, np.ones(3), 0.9, sigmas=SIG2) == [0, 2]
    # duplicate decays to 0.9 * exp(-1 / 0.9) = 0.296 < 0.5: it is kept, after the far pose
    assert oks_nms(kpts, scores, np.ones(3), 0.9, soft=True, sigmas=SIG2) == [0, 2, 1]


def test_soft_oks_nms_keeps_at_most_20():
    kpts = np.stack([_pose((100 * i, 0), (100 * i, 10)) for i in range(25)])
    keep = oks_nms(kpts, np.linspace(1, 0.5, 25), np.ones(25), 0.9, soft=True, sigmas=SIG2)
    assert keep == list(range(SOFT_NMS_MAX_DETS))


def test_oks_nms_length_mismatch():
    with pytest.raises(ValueError, match="2 poses, 1 scores"):
        oks_nms(np.zeros((2, 17, 3)), np.ones(1), np.ones(2))


def test_rescoring_mean_of_confident_joints_times_box_score():
    kpts = np.zeros((3, 4, 3))
    kpts[0, :, 2] = [0.1, 0.3, 0.5, 0.2]   # 0.2 is not above the threshold
    kpts[1, :, 2] = [0.1, 0.2, 0.0, 0.15]  # nothing above: score 0
    kpts[2, :, 2] = [1.0, 1.0, 1.0, 1.0]
    np.testing.assert_allclose(rescore_poses(kpts, [0.8, 0.9, 0.5], in_vis_thre=0.2), [0.32, 0.0, 0.5])
