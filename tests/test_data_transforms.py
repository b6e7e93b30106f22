"""Training transforms: the official augmentation ranges, exact geometry, reproducible samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posetrack.data.dataset import TopDownDataset
from posetrack.data.datasets import load_coco
from posetrack.data.transforms import (
    AffineCrop, Compose, EncodeTargets, HalfBody, LoadImage, Normalize, RandomFlip, RandomScaleRotation,
    eval_pipeline, record_to_sample, train_pipeline,
)
from posetrack.pose.codec import HeatmapCodec
from posetrack.pose.keypoints import COCO_FLIP_PAIRS

CODEC = HeatmapCodec((192, 256), (48, 64), 2.0)


@pytest.fixture(scope="module")
def records(coco_sample):
    return load_coco(coco_sample / "test_coco.json", coco_sample, aspect_ratio=0.75)


def test_compose_checks_wiring_at_build_time():
    with pytest.raises(ValueError, match=r"AffineCrop.*needs \['image'\]"):
        Compose([AffineCrop((192, 256)), LoadImage()])
    assert {"input", "target", "target_weight"} <= eval_pipeline(codec=CODEC).keys


def test_scale_rotation_ranges_and_probability():
    step = RandomScaleRotation(scale_factor=0.35, rotation_factor=45, rotation_prob=0.6)
    rng = np.random.default_rng(0)
    scales, angles = [], []
    for _ in range(4000):
        s = step({"box_size": np.array([100.0, 100.0])}, rng)
        scales.append(s["box_size"][0] / 100)
        angles.append(s["rotation"])
    scales, angles = np.array(scales), np.array(angles)
    assert scales.min() >= 0.65 - 1e-12 and scales.max() <= 1.35 + 1e-12
    assert np.isclose(scales.min(), 0.65) and np.isclose(scales.max(), 1.35)  # clipping is hit
    assert angles.min() >= -90 and angles.max() <= 90
    assert abs((angles != 0).mean() - 0.6) < 0.03


def _joints(visible_ids, k=17):
    j = np.zeros((k, 3))
    for i in visible_ids:
        j[i] = (100.0 + 10 * i, 50.0 + 20 * i, 1.0)
    return j


def test_half_body_needs_more_than_8_visible_and_crops_lower_body():
    step = HalfBody(upper_body=(0,), aspect_ratio=0.75, prob=1.0)
    rng = np.random.default_rng(0)
    base = {"center": np.array([1.0, 2.0]), "box_size": np.array([3.0, 4.0])}
    out = step({**base, "joints": _joints(range(8))}, rng)  # 8 visible: official needs > 8
    assert out["center"].tolist() == [1.0, 2.0]
    # 10 visible, only one upper-body joint: the lower body (ids 1..9) is always chosen
    out = step({**base, "joints": _joints(range(10))}, rng)
    xs, ys = 100.0 + 10 * np.arange(1, 10), 50.0 + 20 * np.arange(1, 10)
    np.testing.assert_allclose(out["center"], [xs.mean(), ys.mean()])
    h = ys.max() - ys.min()  # 160; w = 80 < 0.75 * 160 -> w = 120
    np.testing.assert_allclose(out["box_size"], [0.75 * h * 1.5, h * 1.5])


def test_flip_mirrors_image_joints_and_center():
    image = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    joints = np.zeros((17, 3))
    joints[5] = (1.0, 2.0, 1.0)  # left shoulder at x=1 -> right shoulder at x = 6 - 1 - 1 = 4
    joints[1] = (3.0, 3.0, 0.0)  # invisible left eye -> zeroed right eye (fliplr_joints)
    out = RandomFlip(COCO_FLIP_PAIRS, prob=1.0)(
        {"image": image, "joints": joints, "center": np.array([2.0, 2.0])}, np.random.default_rng(0))
    np.testing.assert_array_equal(out["image"], image[:, ::-1])
    assert out["joints"][6].tolist() == [4.0, 2.0, 1.0] and out["joints"][5, 2] == 0
    assert out["joints"][2].tolist() == [0.0, 0.0, 0.0]
    assert out["center"].tolist() == [3.0, 2.0]


def test_eval_pipeline_geometry_and_targets(records):
    rec = records[0]
    sample = eval_pipeline(codec=CODEC)(record_to_sample(rec), np.random.default_rng(0))
    assert sample["input"].shape == (3, 256, 192) and sample["input"].dtype == np.float32
    assert sample["target"].shape == (17, 64, 48) and sample["target_weight"].shape == (17, 1)
    # region center -> input center; joints scale by 192 / region width
    zoom = 192 / rec.box_size[0]
    expect = (rec.joints[:, :2] - rec.center) * zoom + [96, 128]
    np.testing.assert_allclose(sample["joints"][:, :2], expect, atol=1e-3)
    for j in range(17):  # Gaussian peak at int(x / 4 + 0.5) (codec), weight 1 for visible
        mx, my = (int(v / 4 + 0.5) for v in expect[j])
        assert sample["target"][j, my, mx] == 1.0 and sample["target_weight"][j, 0] == 1.0


def test_joint_outside_crop_gets_zero_weight(records):
    rec = records[0]
    sample = record_to_sample(rec)
    sample["joints"][3, :2] = rec.center + [10 * rec.box_size[0], 0]  # far right of the region
    out = eval_pipeline(codec=CODEC)(sample, np.random.default_rng(0))
    assert out["target_weight"][3, 0] == 0 and out["target"][3].max() == 0
    assert out["target_weight"][:, 0].sum() == 16


def test_dataset_reproducible_per_epoch_and_index(records):
    pipe = train_pipeline(codec=CODEC, flip_pairs=COCO_FLIP_PAIRS, upper_body=range(11))
    ds = TopDownDataset(records, pipe, seed=3)
    a, b = ds[4], ds[4]
    assert torch.equal(a["input"], b["input"]) and torch.equal(a["target"], b["target"])
    ds.set_epoch(1)
    assert not torch.equal(ds[4]["input"], a["input"])
    ds.set_epoch(0)
    # the same batches whichever process makes them
    kwargs = dict(batch_size=4, shuffle=False)
    serial = list(torch.utils.data.DataLoader(ds, num_workers=0, **kwargs))
    parallel = list(torch.utils.data.DataLoader(ds, num_workers=2, **kwargs))
    for x, y in zip(serial, parallel):
        assert torch.equal(x["input"], y["input"]) and torch.equal(x["target_weight"], y["target_weight"])


def test_missing_image_at_load_names_the_file(records, tmp_path):
    from dataclasses import replace

    ds = TopDownDataset([replace(records[0], image=tmp_path / "gone.jpg")], eval_pipeline(codec=CODEC))
    with pytest.raises(ValueError, match=r"gone\.jpg"):
        ds[0]


def test_normalize_is_imagenet():
    crop = np.full((2, 2, 3), 255, np.uint8)
    out = Normalize()({"image": crop}, None)["input"]
    np.testing.assert_allclose(out[:, 0, 0], (1 - np.array([0.485, 0.456, 0.406])) / [0.229, 0.224, 0.225], rtol=1e-6)


def test_encode_targets_uses_the_codec():
    joints = np.array([[20.0, 30.0, 1.0], [5.0, 5.0, 0.0]])
    out = EncodeTargets(HeatmapCodec((64, 96), (16, 24), 2.0))({"joints": joints}, None)
    assert out["target"][0, 8, 5] == 1.0 and out["target_weight"].ravel().tolist() == [1.0, 0.0]
