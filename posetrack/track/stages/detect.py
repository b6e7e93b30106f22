"""detect: person boxes from torchvision Faster R-CNN R50-FPN (a batch of frames per call)
or, without its weights, OpenCV's HOG people detector (no weights file, offline).

``backend: auto`` (default) uses Faster R-CNN when its weights are given, cached or
downloadable, and otherwise falls back to HOG with one warning that states HOG's limits.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from posetrack.device import PinnedUploader, StageStream
from posetrack.errors import PosetrackError
from posetrack.models.runtime import AUTOCAST_DTYPES
from posetrack.pose.boxes import xywh_to_xyxy
from posetrack.track.graph import Stage
from posetrack.track.types import empty_boxes

logger = logging.getLogger(__name__)

PERSON_LABEL = 1  # COCO category id of "person" in torchvision's detection models


class DetectorWeightsError(PosetrackError, RuntimeError):
    """The detector weights are not on disk and cannot be downloaded."""


HOG_LIMITS = ("finds upright, mostly unoccluded people at least ~96 px tall (frames lower than hog_min_height, "
              "default 864 px, are upscaled first: ~1/9 of their height); misses sitting, crouching, occluded and "
              "cut-off people; false positives on poles and trees; ~1 s/frame on a CPU core; optical-flow "
              "propagation bridges frames it misses")


@dataclass(frozen=True)
class DetectParams:
    backend: Literal["auto", "frcnn", "hog"] = "auto"  # auto: frcnn if its weights can be had, else hog
    score_threshold: float = 0.5  # frcnn: lower gives more (and more false) person boxes
    weights: str | None = None  # frcnn local state_dict path; None: torchvision's COCO_V1 weights (hub cache)
    device: str = "cpu"
    min_size: int = 800  # frcnn resize: shorter side (smaller is faster, misses small people)
    # frcnn backbone autocast (boxes stay fp32); fp16: CUDA only; auto: fp16 on CUDA, bf16 on a CPU with
    # AMX or avx512_bf16 (where it is faster), else fp32 (see detector_precision)
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    max_size: int = 1333
    hog_threshold: float = 1.0  # hog: min SVM margin of a box (higher: fewer false positives, more misses)
    hog_min_height: int = 864  # hog: lower frames are upscaled to this first (finds smaller people, slower)
    interval: int = 1  # run on frames 0, N, 2N, ... only; flow propagation carries people in between

    def __post_init__(self):
        if self.interval < 1:
            raise ValueError(f"interval must be >= 1 (frames between detector keyframes), got {self.interval}")
        if not 0 <= self.score_threshold <= 1:  # also refuses NaN
            raise ValueError(f"score_threshold must be in [0, 1] (a detector score), got {self.score_threshold}")
        if not math.isfinite(self.hog_threshold):
            raise ValueError(f"hog_threshold must be a finite SVM margin, got {self.hog_threshold}")
        if min(self.min_size, self.max_size, self.hog_min_height) < 1:
            raise ValueError(f"min_size, max_size and hog_min_height must be >= 1 px, got {self.min_size}, "
                             f"{self.max_size}, {self.hog_min_height}")
        if self.precision == "fp16" and not self.device.startswith("cuda"):
            raise ValueError(f"detect precision fp16 needs a CUDA device, got {self.device}; use fp32 or bf16")


def detector_weights_path(weights: str | None) -> Path:
    """Where the detector state_dict is: ``weights`` or torchvision's hub cache (downloaded if absent).

    Raises ``DetectorWeightsError`` saying which file to put where when it cannot be had.
    """
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights

    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise DetectorWeightsError(f"detector weights not found: {path}")
        return path
    record = FasterRCNN_ResNet50_FPN_Weights.COCO_V1
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(record.url).name
    if not path.is_file():
        try:
            torch.hub.load_state_dict_from_url(record.url, progress=True, check_hash=True)
        except Exception as exc:  # noqa: BLE001 - offline: any network error ends here
            raise DetectorWeightsError(
                f"cannot download the Faster R-CNN weights ({exc}). Download {record.url} elsewhere and "
                f"put it at {path}, or pass --detector-weights PATH (or use --detections DETS.json)"
            ) from None
    return path


def detector_precision(precision: str, device: str) -> str:
    """``auto`` -> fp16 on CUDA, bf16 on a CPU with bf16 units, else fp32; others as given."""
    if precision != "auto":
        return precision
    from posetrack.models.auto import cpu_has_bf16

    if torch.device(device).type == "cuda":
        return "fp16"
    return "bf16" if cpu_has_bf16() else "fp32"


class AutocastBackbone(nn.Module):
    """A detector backbone run under autocast that hands fp32 features on.

    Only the backbone (most of Faster R-CNN's FLOPs) runs in reduced precision: under autocast
    the whole detector would also decode its boxes in that dtype (torchvision casts the anchors
    to the regression dtype), which in bf16 means 4-8 px steps at 1080p coordinates.
    """

    def __init__(self, backbone: nn.Module, device_type: str, precision: str):
        super().__init__()
        self.body = backbone
        self.out_channels = backbone.out_channels
        self.device_type, self.dtype = device_type, AUTOCAST_DTYPES[precision]

    def forward(self, images: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        with torch.autocast(self.device_type, dtype=self.dtype):
            features = self.body(images)
        return OrderedDict((name, f.float()) for name, f in features.items())


class DetectStage(Stage):
    """Person boxes of each frame.

    Input ``image`` (H, W, 3) uint8 RGB; output ``detections`` (N, 5) float32
    x1, y1, x2, y2 (image px), score. frcnn: person class, score >= ``score_threshold``.
    hog: score = logistic(SVM margin) in (0, 1), margin >= ``hog_threshold``; a monotonic
    squashing (not a calibrated probability) so that pose rescoring and the propagate
    stage's ``min_score`` see the same range as with Faster R-CNN.
    """

    Params = DetectParams
    inputs = ("image", "index")
    outputs = ("detections", "keyframe")  # keyframe: the detector ran on this frame (see interval)
    output_types = {"detections": np.ndarray, "keyframe": bool}

    def __init__(self, params: DetectParams | None = None, **overrides):
        super().__init__(params, **overrides)
        self.used: str | None = None  # "frcnn" or "hog" once opened
        self.model = None
        self.hog = None
        self._upload = PinnedUploader(self.params.device)  # allocates its pinned buffer at the first frame
        self._stream = StageStream(self.params.device)  # its own CUDA stream, so its kernels overlap the other stages'

    def open(self) -> None:
        self.used = "hog" if self.params.backend == "hog" else "frcnn"
        if self.used == "frcnn":
            try:
                path = detector_weights_path(self.params.weights)
            except DetectorWeightsError as exc:
                if self.params.backend == "frcnn" or self.params.weights is not None:  # asked for explicitly: no fallback
                    raise
                logger.warning("detector: %s; falling back to OpenCV's HOG people detector, which %s", exc, HOG_LIMITS)
                self.used = "hog"
        if self.used == "hog":
            from posetrack.track.stages.hog_detector import HOGPersonDetector

            self.hog = HOGPersonDetector(score_threshold=self.params.hog_threshold, min_height=self.params.hog_min_height)
            if self.params.backend == "hog":
                logger.info("detector: OpenCV HOG people detector (no weights); it %s", HOG_LIMITS)
            return
        self._load_frcnn(path)

    def _load_frcnn(self, path: Path) -> None:
        from torchvision.models.detection import fasterrcnn_resnet50_fpn

        from posetrack.models.checkpoint import read_checkpoint_object

        state = read_checkpoint_object(path)  # CheckpointError naming the file when corrupt
        model = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91,
                                        min_size=self.params.min_size, max_size=self.params.max_size)
        try:
            model.load_state_dict(state.get("model", state) if isinstance(state, dict) else state)
        except RuntimeError as exc:
            raise DetectorWeightsError(f"{path} is not a fasterrcnn_resnet50_fpn state_dict: {exc}") from None
        precision = detector_precision(self.params.precision, self.params.device)
        if precision != "fp32":
            model.backbone = AutocastBackbone(model.backbone, torch.device(self.params.device).type, precision)
        self.model = model.eval().to(self.params.device)
        logger.info("detector: Faster R-CNN R50-FPN from %s on %s (backbone %s)", path, self.params.device, precision)

    def process(self, image: np.ndarray, index: int = 0) -> dict:
        return self.process_batch([{"image": image, "index": index}])[0]

    def process_batch(self, batch: list[dict]) -> list[dict]:
        """Detections of the keyframes (index a multiple of ``interval``); other frames get none."""
        keyframe = [item.get("index", 0) % self.params.interval == 0 for item in batch]
        found = iter(self._detect([item for item, key in zip(batch, keyframe) if key]) if any(keyframe) else [])
        return [{**next(found), "keyframe": True} if key else {"detections": empty_boxes(), "keyframe": False}
                for key in keyframe]

    def _detect(self, batch: list[dict]) -> list[dict]:
        if self.hog is not None:
            return [{"detections": self._hog_detections(item["image"])} for item in batch]
        with self._stream, torch.inference_mode():
            results = self.model([self._upload(item["image"]).permute(2, 0, 1).float().div_(255) for item in batch])
            kept = []
            for res in results:
                keep = (res["labels"] == PERSON_LABEL) & (res["scores"] >= self.params.score_threshold)
                kept.append(torch.cat([res["boxes"][keep], res["scores"][keep, None]], 1))
            rows = torch.cat(kept).float().cpu().numpy()  # one copy to the host for the whole batch
        ends = np.cumsum([len(k) for k in kept])[:-1]
        return [{"detections": boxes} for boxes in np.split(rows, ends)]

    def _hog_detections(self, image: np.ndarray) -> np.ndarray:
        xywh, margins = self.hog(image)
        scores = 1.0 / (1.0 + np.exp(-margins))
        return np.concatenate([xywh_to_xyxy(xywh), scores[:, None]], 1).astype(np.float32)

    def close(self) -> None:
        self.model = self.hog = None
