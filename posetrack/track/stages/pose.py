"""pose: HRNet top-down poses for all boxes of a frame in one batch (POSE's TopDownEstimator)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from posetrack.track.graph import Stage
from posetrack.track.types import Poses

logger = logging.getLogger(__name__)

DEFAULT_WEIGHTS = "hrnet_w32_coco_256x192"
MIN_BOX_PX = 1.0  # narrower or lower boxes get no pose


@dataclass(frozen=True)
class PoseParams:
    # registered name (posetrack.models.weights.list_weights()) or a .pth path; None: DEFAULT_WEIGHTS,
    # or the bundled demo weights when those cannot be had offline (see default_pose_weights)
    weights: str | None = None
    arch: str | None = None  # e.g. "hrnet_w32"; None: the registered weights' arch (a path: hrnet_w32)
    input_size: tuple[int, int] | None = None  # (width, height); None: the weights' size, else 192x256
    keypoints: Literal["coco", "posetrack18"] | None = None  # joint set; None: from the weights record, else coco
    flip_test: bool = True  # also run mirrored crops (official test setting; ~2x pose time)
    min_score: float = 0.0  # drop people whose rescored person score is below this
    device: str = "cpu"
    batch_size: int = 64  # crops per forward pass
    # how the network runs: [fp32|fp16|bf16][+cl][+compile][+graphs] or ort (posetrack.models.runtime;
    # compare them with `posetrack bench modes`); e.g. fp16+cl+graphs on CUDA, ort on CPU
    mode: str = "fp32"
    # where crops are cut: auto = on the GPU (grid_sample; frame uploaded once) when device is CUDA,
    # else on the host with cv2 (faster on CPU); host / device force one
    crops_on: Literal["auto", "host", "device"] = "auto"


@dataclass(frozen=True)
class PoseModelChoice:
    """What the pose stage will load, resolved from ``weights`` / ``arch`` / ``input_size``."""

    weights: str
    arch: str
    input_size: tuple[int, int]
    keypoints: str
    num_joints: int


def default_pose_weights() -> str:
    """``DEFAULT_WEIGHTS`` when cached or downloadable, else (offline) the bundled demo weights.

    Only a failed download falls back, with one warning; a corrupt file or missing bundled
    weights raise ``WeightsError``. Explicit weights never come through here.
    """
    from posetrack.models.weights import (
        DEMO_WEIGHTS, WEIGHTS_DIR_ENV, WeightsError, WeightsUnavailableError, get_weights,
    )

    official = get_weights(DEFAULT_WEIGHTS)
    try:
        official.fetch()
        return DEFAULT_WEIGHTS
    except WeightsUnavailableError as exc:
        reason = getattr(exc.__cause__, "reason", exc.__cause__)
    demo = get_weights(DEMO_WEIGHTS)
    try:
        demo.fetch()
    except WeightsError as exc:
        raise WeightsError(f"official weights {DEFAULT_WEIGHTS} unavailable offline ({reason}) and {exc}") from None
    logger.warning(
        "official weights %s unavailable offline (%s; put %s in %s or $%s); using the bundled demo weights %s "
        "(%s %dx%d distilled from BlazePose, see posetrack/models/assets/MODEL_CARD.md) - not for benchmarks",
        DEFAULT_WEIGHTS, reason, official.filename, official.cache_path().parent, WEIGHTS_DIR_ENV,
        DEMO_WEIGHTS, demo.arch, demo.input_size[1], demo.input_size[0])
    return DEMO_WEIGHTS


def resolve_pose_model(weights: str, arch: str | None = None, input_size: tuple[int, int] | None = None,
                       keypoints: str | None = None) -> PoseModelChoice:
    """Fill unset fields from the pretrained registry (``weights`` a registered name) or defaults."""
    from posetrack.models.weights import get_weights, list_weights

    if weights in list_weights():
        record = get_weights(weights)
        return PoseModelChoice(weights, arch or record.arch, tuple(input_size or record.input_size),
                               keypoints or ("posetrack18" if record.dataset == "posetrack18" else "coco"),
                               record.num_joints)
    if not Path(weights).is_file():
        raise FileNotFoundError(
            f"pose weights not found: {weights} (not a file, nor a registered name: {', '.join(list_weights())})"
        )
    arch, input_size = _file_model(weights, arch, input_size)
    return PoseModelChoice(weights, arch, tuple(input_size), keypoints or "coco", 17)


def _file_model(path: str, arch: str | None, input_size: tuple[int, int] | None) -> tuple[str, tuple[int, int]]:
    """Arch and (width, height) for a weights file: as given, else from an official-style file name
    (``pose_hrnet_w48_384x288.pth``: hrnet_w48, height 384 x width 288), else hrnet_w32 at 192x256.

    A wrong input size still loads (no shape in the weights) but gives poor poses: say what was assumed.
    """
    from posetrack.models import list_models

    stem = Path(path).stem.lower()
    found_arch = re.search(r"hrnet_(w\d+)", stem)
    found_size = re.search(r"_(\d+)x(\d+)", stem)
    guessed = []
    if arch is None:
        name = f"hrnet_{found_arch.group(1)}" if found_arch else None
        arch = name if name in list_models() else "hrnet_w32"
        guessed.append(f"arch {arch}" + (" (from the file name)" if name == arch else " (default)"))
    if input_size is None:
        input_size = (int(found_size.group(2)), int(found_size.group(1))) if found_size else (192, 256)
        guessed.append(f"input {input_size[0]}x{input_size[1]} (width x height, "
                       + ("from the file name's HxW)" if found_size else "default)"))
    if guessed:
        logger.warning("pose weights %s: assuming %s; if wrong, pass --model ARCH (e.g. hrnet_w48) and/or "
                       "--set pose.input_size=[W,H] (e.g. [288,384])", path, ", ".join(guessed))
    return arch, input_size


class PoseStage(Stage):
    """Inputs ``image`` (H, W, 3) uint8 RGB and ``boxes`` (N, 5) x1, y1, x2, y2, score;
    output ``poses``: Poses with keypoints (N, K, 3) in image px in the ``keypoints`` set's
    joint order, scores = box score x mean confident joint score (official rescoring)."""

    Params = PoseParams
    inputs = ("image", "boxes")
    outputs = ("poses",)
    recurrent = True  # its boxes depend on the previous frame's tracks

    def __init__(self, params: PoseParams | None = None, **overrides):
        import torch

        from posetrack.models.runtime import InferenceMode

        super().__init__(params, **overrides)
        self.choice: PoseModelChoice | None = None
        self.mode = InferenceMode.from_label(self.params.mode)  # a bad label, or one the device cannot run,
        self.mode.check_device(torch.device(self.params.device))  # fails when the graph is built, before models load
        self.estimator = None

    def open(self) -> None:
        from posetrack.models import build_model, load_checkpoint
        from posetrack.pose.estimator import TopDownEstimator
        from posetrack.pose.keypoints import KEYPOINT_SETS

        p = self.params
        self.choice = c = resolve_pose_model(p.weights or default_pose_weights(), p.arch, p.input_size, p.keypoints)
        model = build_model(c.arch, num_joints=c.num_joints)
        load_checkpoint(model, c.weights)
        self.estimator = TopDownEstimator(model, input_size=c.input_size, flip_test=self.params.flip_test,
                                          flip_pairs=KEYPOINT_SETS[c.keypoints][1], device=self.params.device,
                                          batch_size=self.params.batch_size, mode=self.mode,
                                          crops_on=self.params.crops_on)
        logger.info("pose: %s %dx%d (%s joints) from %s on %s (%s), flip test %s", c.arch, *c.input_size,
                    c.keypoints, c.weights, self.params.device, self.mode.label, "on" if self.params.flip_test else "off")

    def process(self, image: np.ndarray, boxes: np.ndarray) -> dict:
        boxes = np.asarray(boxes, np.float32).reshape(-1, 5)
        # a box under MIN_BOX_PX (one usable joint, a bad detections file) would crop nothing real
        boxes = boxes[(boxes[:, 2] - boxes[:, 0] >= MIN_BOX_PX) & (boxes[:, 3] - boxes[:, 1] >= MIN_BOX_PX)]
        if len(boxes) == 0:  # skip the network: an empty batch still costs a forward pass
            return {"poses": Poses.empty(self.choice.num_joints)}
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:4] - boxes[:, :2]], 1)
        result = self.estimator(image, xywh, boxes[:, 4])
        keep = result.scores >= self.params.min_score
        return {"poses": Poses(result.keypoints[keep].astype(np.float32), result.scores[keep].astype(np.float32),
                               boxes[keep, :4])}

    def close(self) -> None:
        self.estimator = None
