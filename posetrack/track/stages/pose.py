"""pose: HRNet top-down poses for all boxes of a frame in one batch (POSE's TopDownEstimator)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from posetrack.pose.boxes import xyxy_to_xywh
from posetrack.track.graph import Stage
from posetrack.track.types import Poses

if TYPE_CHECKING:
    from posetrack.models.weights import Weights

logger = logging.getLogger(__name__)

DEFAULT_WEIGHTS = "hrnet_w32_coco_256x192"
MIN_BOX_PX = 1.0  # narrower or lower boxes get no pose


@dataclass(frozen=True)
class PoseParams:
    # registered name (posetrack.models.weights.list_weights()) or a .pth path; None: DEFAULT_WEIGHTS,
    # or the bundled demo weights when those cannot be had offline (see default_pose_weights)
    weights: str | None = None
    # what the weights are (posetrack.models.weights.resolve_weights): registered weights carry all three
    # (a value given must be theirs); for a path, None = from its file name, else the default
    arch: str | None = None  # e.g. "hrnet_w32"; a path's default: hrnet_w32
    input_size: tuple[int, int] | None = None  # (width, height); a path's default: 192x256
    keypoints: Literal["coco", "posetrack18"] | None = None  # joint set; a path's default: coco
    flip_test: bool = True  # also run mirrored crops (official test setting; ~2x pose time)
    min_score: float = 0.0  # drop people whose rescored person score is below this
    device: str = "cpu"
    batch_size: int = 64  # crops per forward pass
    # how the network runs: auto = the fastest mode of this machine whose keypoints equal fp32's, probed
    # once and cached (posetrack.models.auto); or [fp32|fp16|bf16][+cl][+compile][+graphs] or ort
    # (posetrack.models.runtime; compare them with `posetrack bench modes`), e.g. fp16+cl+graphs on CUDA
    mode: str = "auto"
    # where crops are cut: auto = on the GPU (grid_sample; frame uploaded once) when device is CUDA,
    # else on the host with cv2 (faster on CPU); host / device force one
    crops_on: Literal["auto", "host", "device"] = "auto"


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


@dataclass(frozen=True)
class BoxPoses:
    """Poses of given boxes, row for row: boxes (N, 5) x1, y1, x2, y2, score exactly as given,
    keypoints (N, K, 3) float32 image px, scores (N,) float32 rescored person scores."""

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray


class PoseStage(Stage):
    """Inputs ``image`` (H, W, 3) uint8 RGB and ``boxes`` (N, 5) x1, y1, x2, y2, score;
    output ``poses``: Poses with keypoints (N, K, 3) in image px in the ``keypoints`` set's
    joint order, scores = box score x mean confident joint score (official rescoring).

    With ``detection_poses`` (BoxPoses from a ``pose_ahead`` node), a box equal to one of
    its rows takes that row's pose (the same box of the same frame gives the same pose), so
    only the other boxes, those propagated from the previous frame, go through the network.
    """

    Params = PoseParams
    inputs = ("image", "boxes")
    optional_inputs = ("detection_poses",)
    outputs = ("poses",)
    output_types = {"poses": Poses}
    recurrent = True  # its boxes depend on the previous frame's tracks

    def __init__(self, params: PoseParams | None = None, **overrides):
        import torch

        from posetrack.models.runtime import InferenceMode

        super().__init__(params, **overrides)
        self.choice: Weights | None = None  # the weights record, resolved when the stage opens
        self.mode: InferenceMode | None = None  # auto: resolved when the stage opens
        if self.params.mode != "auto":
            self.mode = InferenceMode.from_label(self.params.mode)  # a bad label, or one the device cannot run,
            self.mode.check_device(torch.device(self.params.device))  # fails when the graph is built
        self.estimator = None

    def open(self) -> None:
        from posetrack.models.weights import resolve_weights
        from posetrack.pose.estimator import TopDownEstimator

        p = self.params
        self.choice = c = resolve_weights(p.weights or default_pose_weights(), arch=p.arch, input_size=p.input_size,
                                          keypoints=p.keypoints)
        model = c.load_model()
        if self.params.mode == "auto":
            from posetrack.models.auto import auto_mode

            self.mode = auto_mode(model, self.params.device, c.input_size[::-1])
        self.estimator = TopDownEstimator.from_weights(c, model=model, flip_test=self.params.flip_test,
                                                       device=self.params.device, batch_size=self.params.batch_size,
                                                       mode=self.mode, crops_on=self.params.crops_on)
        logger.info("pose: %s %dx%d (%s joints) from %s on %s (%s), flip test %s", c.arch, *c.input_size,
                    c.keypoints, c.name, self.params.device, self.mode.label, "on" if self.params.flip_test else "off")

    def process(self, image: np.ndarray, boxes: np.ndarray, detection_poses: BoxPoses | None = None) -> dict:
        boxes = _valid_boxes(boxes)
        keypoints = np.zeros((len(boxes), self.choice.num_joints, 3), np.float32)
        scores = np.zeros(len(boxes), np.float32)
        todo = np.ones(len(boxes), bool)
        if detection_poses is not None:
            known = {row.tobytes(): i for i, row in enumerate(detection_poses.boxes)}
            for j, row in enumerate(boxes):
                i = known.get(row.tobytes())
                if i is not None:
                    keypoints[j], scores[j], todo[j] = detection_poses.keypoints[i], detection_poses.scores[i], False
        if todo.any():  # skip the network when nothing is left: an empty batch still costs a forward pass
            ((keypoints[todo], scores[todo]),) = self._estimate([(image, boxes[todo])])
        keep = scores >= self.params.min_score
        return {"poses": Poses(keypoints[keep], scores[keep], boxes[keep, :4])}

    def _estimate(self, frames: list[tuple[np.ndarray, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(image, boxes (N, 5)) per frame -> (keypoints (N, K, 3), scores (N,)) float32 per frame.

        With crops cut on the host, the crops of all frames share forward passes.
        """
        from posetrack.pose.estimator import CropBatch

        est = self.estimator
        if est.crops_on_device or len(frames) == 1:
            results = [est(image, xyxy_to_xywh(boxes[:, :4]), boxes[:, 4]) for image, boxes in frames]
        else:
            crops = CropBatch.concat([est.prepare(image, xyxy_to_xywh(boxes[:, :4])) for image, boxes in frames])
            pooled = est.pose_crops(crops, np.concatenate([boxes[:, 4] for _, boxes in frames]))
            ends = np.cumsum([len(boxes) for _, boxes in frames])
            results = [pooled[start:end] for start, end in zip([0, *ends[:-1]], ends)]
        return [(r.keypoints.astype(np.float32), r.scores.astype(np.float32)) for r in results]

    def close(self) -> None:
        self.estimator = None


class PoseAheadStage(PoseStage):
    """The pose stage's work on the detector's boxes, done ahead of tracking (FlowTrack: only the
    boxes propagated from the previous frame need it), on its own thread with the crops of
    several frames in one forward pass.

    Inputs ``image`` and ``detections`` (N, 5); output ``detection_poses``: BoxPoses of the
    detections at least ``MIN_BOX_PX`` wide and high, for the ``pose`` node's
    ``detection_poses`` port. It has no params of its own: ``build_graph`` gives it the pose
    node's (``params_from``), so both estimate with the same model, mode and flip test.
    """

    inputs = ("image", "detections")
    optional_inputs = ()
    outputs = ("detection_poses",)
    output_types = {"detection_poses": BoxPoses}
    recurrent = False
    params_from = "pose"

    def process(self, image: np.ndarray, detections: np.ndarray) -> dict:
        return self.process_batch([{"image": image, "detections": detections}])[0]

    def process_batch(self, batch: list[dict]) -> list[dict]:
        boxes = [_valid_boxes(item["detections"]) for item in batch]
        todo = [i for i, b in enumerate(boxes) if len(b)]
        estimated = dict(zip(todo, self._estimate([(batch[i]["image"], boxes[i]) for i in todo])))
        none = (np.zeros((0, self.choice.num_joints, 3), np.float32), np.zeros(0, np.float32))
        return [{"detection_poses": BoxPoses(b, *estimated.get(i, none))} for i, b in enumerate(boxes)]


def _valid_boxes(boxes: np.ndarray) -> np.ndarray:
    """(N, 5) float32 boxes at least MIN_BOX_PX wide and high: a smaller one (one usable joint,
    a bad detections file) would crop nothing real."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 5)
    return boxes[(boxes[:, 2] - boxes[:, 0] >= MIN_BOX_PX) & (boxes[:, 3] - boxes[:, 1] >= MIN_BOX_PX)]
