"""Training pipeline: small steps that turn a ``PoseRecord`` into network inputs.

A sample is a plain dict; every step declares the keys it ``requires`` and the
keys it ``adds`` (or modifies), and ``Compose`` checks the wiring when it is
built, so a mis-ordered pipeline fails before the first image is read. Random
steps draw only from the ``numpy.random.Generator`` they are handed, which
``TopDownDataset`` seeds per (seed, epoch, index): a sample's augmentation does not
depend on the worker that makes it, so runs (and resumed runs) repeat exactly.

The steps and their order follow the official ``JointsDataset.__getitem__``
(deep-high-resolution-net.pytorch): half-body -> scale -> rotation -> flip ->
affine crop -> ImageNet normalisation -> Gaussian targets.

Sample keys (spaces: image px = original image, input px = model input crop):
    image_file   Path                    the image to read
    center       (2,) float64            crop-region center, image px
    box_size     (2,) float64            crop-region (width, height), image px
    joints       (K, 3) float64          x, y (image px, then input px after AffineCrop), visible
    rotation     float                   degrees, counter-clockwise
    image        (H, W, 3) uint8 RGB     the full image, then the (h, w, 3) crop
    input        (3, h, w) float32       normalised network input
    target       (K, h/4, w/4) float32   Gaussian heatmaps
    target_weight (K, 1) float32         1 = joint contributes to the loss
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from posetrack.data.records import PoseRecord
from posetrack.io.image import read_image_rgb
from posetrack.pose.codec import HeatmapCodec
from posetrack.pose.crop import affine_points, crop, get_affine_transform
from posetrack.pose.estimator import IMAGENET_MEAN, IMAGENET_STD
from posetrack.pose.flip import flip_keypoints

RECORD_KEYS = ("image_file", "center", "box_size", "joints")


def record_to_sample(record: PoseRecord) -> dict:
    """The mutable sample dict a pipeline starts from (copies: steps modify arrays)."""
    return {
        "image_file": record.image,
        "center": np.array(record.center, dtype=np.float64),
        "box_size": np.array(record.box_size, dtype=np.float64),
        "joints": np.array(record.joints, dtype=np.float64),
    }


class Step:
    """One pipeline step: ``__call__(sample, rng) -> sample``."""

    requires: tuple[str, ...] = ()
    adds: tuple[str, ...] = ()

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


class LoadImage(Step):
    """Read ``image_file`` as RGB uint8 (the official ``COLOR_RGB: true``)."""

    requires = ("image_file",)
    adds = ("image",)

    def __call__(self, sample, rng):
        sample["image"] = read_image_rgb(sample["image_file"])  # errors name the file
        return sample


class HalfBody(Step):
    """With probability ``prob``, crop the upper or the lower body only.

    Applies when more than ``min_visible`` joints are visible (official
    ``num_vis_joints > num_joints_half_body`` with 8). The region is the box of
    the chosen joints, fitted to ``aspect_ratio`` and enlarged 1.5x. Raising
    ``prob`` trains more on truncated people, at the cost of full-body context.
    """

    requires = ("joints", "center", "box_size")
    adds = ("center", "box_size")

    def __init__(self, upper_body: Sequence[int], aspect_ratio: float, prob: float = 0.3,
                 min_visible: int = 8, enlarge: float = 1.5) -> None:
        self.upper_body = tuple(upper_body)
        self.aspect_ratio = aspect_ratio
        self.prob = prob
        self.min_visible = min_visible
        self.enlarge = enlarge

    def __call__(self, sample, rng):
        joints = sample["joints"]
        visible = joints[:, 2] > 0
        if visible.sum() <= self.min_visible or rng.random() >= self.prob:
            return sample
        is_upper = np.isin(np.arange(len(joints)), self.upper_body)
        upper, lower = joints[visible & is_upper, :2], joints[visible & ~is_upper, :2]
        # Official quirk kept: the coin is ``randn() < 0.5`` (upper body ~69 % of the time).
        if rng.standard_normal() < 0.5 and len(upper) > 2:
            chosen = upper
        else:
            chosen = lower if len(lower) > 2 else upper
        if len(chosen) < 2:
            return sample
        w, h = chosen.max(axis=0) - chosen.min(axis=0)
        if w > self.aspect_ratio * h:
            h = w / self.aspect_ratio
        elif w < self.aspect_ratio * h:
            w = h * self.aspect_ratio
        sample["center"] = chosen.mean(axis=0)
        sample["box_size"] = np.array([w, h]) * self.enlarge
        return sample


class RandomScaleRotation(Step):
    """Scale the region by clip(N(1, sf), 1-sf, 1+sf); rotate by clip(N(0, rf), -2rf, 2rf)
    degrees with probability ``rotation_prob`` (official: ``if random.random() <= 0.6``)."""

    requires = ("box_size",)
    adds = ("box_size", "rotation")

    def __init__(self, scale_factor: float = 0.35, rotation_factor: float = 45.0, rotation_prob: float = 0.6) -> None:
        self.scale_factor = scale_factor
        self.rotation_factor = rotation_factor
        self.rotation_prob = rotation_prob

    def __call__(self, sample, rng):
        sf, rf = self.scale_factor, self.rotation_factor
        sample["box_size"] = sample["box_size"] * np.clip(rng.standard_normal() * sf + 1, 1 - sf, 1 + sf)
        rotate = rng.random() <= self.rotation_prob
        angle = rng.standard_normal()  # drawn either way so later draws do not shift
        sample["rotation"] = float(np.clip(angle * rf, -2 * rf, 2 * rf)) if rotate else 0.0
        return sample


class RandomFlip(Step):
    """Mirror the image left-right with probability ``prob``, swapping left/right joints
    (official ``fliplr_joints``: x -> W - 1 - x, invisible joints zeroed) and the center."""

    requires = ("image", "joints", "center")
    adds = ("image", "joints", "center")

    def __init__(self, flip_pairs: Sequence[Sequence[int]], prob: float = 0.5) -> None:
        self.flip_pairs = tuple(tuple(p) for p in flip_pairs)
        self.prob = prob

    def __call__(self, sample, rng):
        if rng.random() >= self.prob:
            return sample
        image = sample["image"][:, ::-1]
        width = image.shape[1]
        joints = sample["joints"]
        xy, vis = flip_keypoints(joints[:, :2], joints[:, 2], width, self.flip_pairs)
        sample["image"] = np.ascontiguousarray(image)
        sample["joints"] = np.concatenate([xy, vis[:, None]], axis=1)
        sample["center"] = sample["center"].copy()
        sample["center"][0] = width - sample["center"][0] - 1
        return sample


class AffineCrop(Step):
    """Warp the region (center, box_size, rotation) to ``input_size`` = (w, h) px and
    move the visible joints into input px (invisible ones are left as they are)."""

    requires = ("image", "center", "box_size", "joints")
    adds = ("image", "joints")

    def __init__(self, input_size: Sequence[int]) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))

    def __call__(self, sample, rng):
        region = (sample["center"], sample["box_size"], sample.get("rotation", 0.0), self.input_size)
        sample["image"] = crop(sample["image"], *region)  # the test-time crop, so train and test agree
        matrix = get_affine_transform(*region)
        joints = sample["joints"].copy()
        vis = joints[:, 2] > 0
        joints[vis, :2] = affine_points(joints[vis, :2], matrix)
        sample["joints"] = joints
        return sample


class Normalize(Step):
    """RGB uint8 crop (h, w, 3) -> float32 (3, h, w), ImageNet mean/std (torchvision ToTensor+Normalize)."""

    requires = ("image",)
    adds = ("input",)
    _mean = np.array(IMAGENET_MEAN, dtype=np.float32)
    _std = np.array(IMAGENET_STD, dtype=np.float32)

    def __call__(self, sample, rng):
        image = sample["image"].astype(np.float32) / 255.0
        sample["input"] = np.ascontiguousarray(((image - self._mean) / self._std).transpose(2, 0, 1))
        return sample


class EncodeTargets(Step):
    """Joints in input px -> Gaussian heatmaps and per-joint weights from the shared codec
    (weight 0 for invisible joints and those whose Gaussian falls off the heatmap)."""

    requires = ("joints",)
    adds = ("target", "target_weight")

    def __init__(self, codec: HeatmapCodec) -> None:
        self.codec = codec

    def __call__(self, sample, rng):
        joints = sample["joints"]
        target, weight = self.codec.encode(joints[:, :2], joints[:, 2])
        sample["target"] = target
        sample["target_weight"] = weight[:, None]
        return sample


class Compose:
    """Run steps in order; the constructor checks every step's inputs are available."""

    def __init__(self, steps: Sequence[Step], initial_keys: Sequence[str] = RECORD_KEYS) -> None:
        available = set(initial_keys)
        for step in steps:
            missing = [k for k in step.requires if k not in available]
            if missing:
                raise ValueError(f"pipeline step {step!r} needs {missing}, which no earlier step adds")
            available.update(step.adds)
        self.steps = list(steps)
        self.keys = available

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        for step in self.steps:
            sample = step(sample, rng)
        return sample

    def __repr__(self) -> str:
        return "Compose(\n" + "".join(f"  {s!r},\n" for s in self.steps) + ")"


def train_pipeline(*, codec: HeatmapCodec, flip_pairs: Sequence[Sequence[int]], upper_body: Sequence[int],
                   scale_factor: float = 0.35, rotation_factor: float = 45.0, rotation_prob: float = 0.6,
                   flip: bool = True, half_body_prob: float = 0.3, half_body_min_visible: int = 8) -> Compose:
    """The paper's training augmentation, in the official order."""
    aspect = codec.input_size[0] / codec.input_size[1]
    steps: list[Step] = [
        LoadImage(),
        HalfBody(upper_body, aspect, prob=half_body_prob, min_visible=half_body_min_visible),
        RandomScaleRotation(scale_factor, rotation_factor, rotation_prob),
    ]
    if flip:
        steps.append(RandomFlip(flip_pairs))
    steps += [AffineCrop(codec.input_size), Normalize(), EncodeTargets(codec)]
    return Compose(steps)


def eval_pipeline(*, codec: HeatmapCodec) -> Compose:
    """No augmentation: the GT region cropped as at test time, with its targets."""
    return Compose([LoadImage(), AffineCrop(codec.input_size), Normalize(), EncodeTargets(codec)])
