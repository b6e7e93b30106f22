"""TopDownEstimator: crops, normalisation, flip test, decoding, batching across frames."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from posetrack.models import build_model
from posetrack.pose import COCO_FLIP_PAIRS, flip_heatmaps
from posetrack.pose.estimator import IMAGENET_MEAN, IMAGENET_STD, CropBatch, TopDownEstimator


class RedBlobModel(nn.Module):
    """Heatmaps = the normalised red channel pooled to 1/4 resolution, the same in all K maps.

    Deterministic and geometric: the heatmap peak sits where the image is red.
    """

    def __init__(self, num_joints=17):
        super().__init__()
        self.num_joints = num_joints

    def forward(self, x):
        return F.avg_pool2d(x[:, :1], 4).repeat(1, self.num_joints, 1, 1)


def _image_with_dot(cx=221, cy=141):
    img = np.zeros((300, 400, 3), np.uint8)
    img[cy - 4:cy + 4, cx - 4:cx + 4, 0] = 255
    return img


def test_flip_test_averages_with_shifted_mirror_and_normalises():
    est = TopDownEstimator(RedBlobModel(), flip_test=True)
    crops = np.random.default_rng(0).integers(0, 255, (3, 256, 192, 3), dtype=np.uint8)
    x = (torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255
         - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    plain = RedBlobModel()(x).numpy()
    mirrored = RedBlobModel()(torch.flip(x, dims=[3])).numpy()
    expected = (plain + flip_heatmaps(mirrored, COCO_FLIP_PAIRS, shift=True)) / 2
    got = est.heatmaps(crops)
    assert got.shape == (3, 17, 64, 48) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(TopDownEstimator(RedBlobModel(), flip_test=False).heatmaps(crops), plain, atol=1e-5)
    # batch size does not change the result
    np.testing.assert_allclose(TopDownEstimator(RedBlobModel(), batch_size=2).heatmaps(crops), got, atol=1e-6)


@pytest.mark.parametrize("crops_on", ["host", "device"])
@pytest.mark.parametrize("flip_test", [False, True])
def test_keypoints_land_on_the_dot_in_image_px(flip_test, crops_on):
    est = TopDownEstimator(RedBlobModel(), flip_test=flip_test, crops_on=crops_on)
    result = est(_image_with_dot(), np.array([[150.0, 50, 150, 200], [190, 100, 60, 80]]), np.array([0.9, 0.6]))
    assert result.keypoints.shape == (2, 17, 3)
    # one heatmap px = size / 48 image px; pooling puts map px i at input px 4i + 1.5 while
    # decoding reads it as 4i, so allow 1.5 heatmap px
    for i in range(2):
        tol = 1.5 * result.sizes[i, 0] / 48
        np.testing.assert_allclose(result.keypoints[i, :, :2], np.tile([221, 141], (17, 1)), atol=tol)
    np.testing.assert_allclose(result.areas, result.sizes[:, 0] * result.sizes[:, 1])
    np.testing.assert_allclose(result.box_scores, [0.9, 0.6])
    peak = result.keypoints[:, :, 2]
    np.testing.assert_allclose(result.scores, peak.mean(axis=1) * [0.9, 0.6], rtol=1e-5)  # all peaks > 0.2


def test_pooled_frames_equal_single_frames_and_slicing():
    est = TopDownEstimator(RedBlobModel(), flip_test=True)
    img_a, img_b = _image_with_dot(), _image_with_dot(100, 200)
    boxes_a, boxes_b = np.array([[150.0, 50, 150, 200]]), np.array([[60.0, 150, 90, 100], [0, 0, 50, 50]])
    batch = CropBatch.concat([est.prepare(img_a, boxes_a), est.prepare(img_b, boxes_b)])
    pooled = est.decode(est.heatmaps(batch.crops), batch.centers, batch.sizes, np.array([1.0, 0.5, 0.4]))
    single_b = est(img_b, boxes_b, np.array([0.5, 0.4]))
    assert len(pooled) == 3 and len(pooled[1:]) == 2
    np.testing.assert_allclose(pooled[1:].keypoints, single_b.keypoints, atol=1e-5)
    np.testing.assert_allclose(pooled[[0]].keypoints, est(img_a, boxes_a, [1.0]).keypoints, atol=1e-5)


@pytest.mark.parametrize("crops_on", ["host", "device"])
def test_real_narrow_hrnet_and_no_boxes(crops_on):
    torch.manual_seed(0)
    est = TopDownEstimator(build_model("hrnet_w8"), input_size=(96, 128), batch_size=2, crops_on=crops_on)
    img = _image_with_dot()
    empty = est(img, np.zeros((0, 4)), np.zeros(0))
    res = est(img, np.array([[150.0, 50, 150, 200]] * 3), np.ones(3))
    assert empty.keypoints.shape == (0, 17, 3) and empty.scores.shape == (0,) and len(empty) == 0
    assert res.keypoints.shape == (3, 17, 3) and np.isfinite(res.keypoints).all()
    np.testing.assert_allclose(res.keypoints, np.repeat(res.keypoints[:1], 3, axis=0), atol=1e-4)


@pytest.mark.parametrize("crops_on", ["host", "device"])
def test_bad_inputs(crops_on):
    est = TopDownEstimator(RedBlobModel(), crops_on=crops_on)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        est(np.zeros((10, 10), np.uint8), np.zeros((1, 4)), np.ones(1))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        est(_image_with_dot(), np.zeros((2, 3)), np.ones(2))
    with pytest.raises(ValueError, match="2 heatmaps but 1 box scores"):
        est(_image_with_dot(), np.array([[0, 0, 10, 10.0]] * 2), np.ones(1))
    with pytest.raises(ValueError, match="batch_size"):
        TopDownEstimator(RedBlobModel(), batch_size=0)
    with pytest.raises(ValueError, match="crops_on must be 'auto', 'host' or 'device', got 'gpu'"):
        TopDownEstimator(RedBlobModel(), crops_on="gpu")


def test_from_weights_takes_input_size_flip_pairs_and_normalisation_from_the_record():
    from posetrack.models.weights import Weights
    from posetrack.pose.keypoints import POSETRACK18_FLIP_PAIRS

    record = Weights(name="red", url="", sha256="", arch="hrnet_w8", num_joints=17, input_size=(48, 64), dataset="",
                     keypoints="posetrack18", mean=(0.5, 0.0, 0.0), std=(0.25, 1.0, 1.0))
    est = TopDownEstimator.from_weights(record, model=RedBlobModel(), flip_test=True, batch_size=2)
    assert (est.input_size, est.flip_pairs, est.weights, est.batch_size) == ((48, 64), POSETRACK18_FLIP_PAIRS, record, 2)
    crops = np.random.default_rng(1).integers(0, 255, (2, 64, 48, 3), dtype=np.uint8)
    x = (torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255 - torch.tensor([0.5, 0.0, 0.0]).view(1, 3, 1, 1)) \
        / torch.tensor([0.25, 1.0, 1.0]).view(1, 3, 1, 1)
    expected = (RedBlobModel()(x).numpy()
                + flip_heatmaps(RedBlobModel()(torch.flip(x, dims=[3])).numpy(), POSETRACK18_FLIP_PAIRS, shift=True)) / 2
    np.testing.assert_allclose(est.heatmaps(crops), expected, atol=1e-5)


def test_from_weights_refuses_a_registered_name_that_is_not_what_is_asked():
    with pytest.raises(ValueError, match="weights hrnet_w16_demo_128x96 are hrnet_w16 96x128 .*asked for input_size 192x256"):
        TopDownEstimator.from_weights("hrnet_w16_demo_128x96", input_size=(192, 256))
