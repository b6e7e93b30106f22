"""detect: torchvision Faster R-CNN R50-FPN person boxes, a batch of frames per call."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posetrack.track.graph import Stage

logger = logging.getLogger(__name__)

PERSON_LABEL = 1  # COCO category id of "person" in torchvision's detection models


class DetectorWeightsError(RuntimeError):
    """The detector weights are not on disk and cannot be downloaded."""


@dataclass(frozen=True)
class DetectParams:
    score_threshold: float = 0.5  # lower: more (and more false) person boxes reach the pose stage
    weights: str | None = None  # local state_dict path; None: torchvision's COCO_V1 weights (hub cache)
    device: str = "cpu"
    min_size: int = 800  # torchvision resize: shorter side (smaller is faster, misses small people)
    max_size: int = 1333


def detector_weights_path(weights: str | None) -> Path:
    """Where the detector state_dict is: ``weights`` or torchvision's hub cache (downloaded if absent).

    Raises ``DetectorWeightsError`` saying which file to put where when it cannot be had.
    """
    import torch
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


class DetectStage(Stage):
    """Person boxes of each frame.

    Input ``image`` (H, W, 3) uint8 RGB; output ``detections`` (N, 5) float32
    x1, y1, x2, y2 (image px), score >= ``score_threshold``, person class only.
    """

    Params = DetectParams
    inputs = ("image",)
    outputs = ("detections",)

    def __init__(self, score_threshold: float = 0.5, weights: str | None = None, device: str = "cpu",
                 min_size: int = 800, max_size: int = 1333):
        self.score_threshold = score_threshold
        self.weights = weights
        self.device = device
        self.min_size, self.max_size = min_size, max_size
        self.model = None

    def open(self) -> None:
        import torch
        from torchvision.models.detection import fasterrcnn_resnet50_fpn

        path = detector_weights_path(self.weights)
        model = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91,
                                        min_size=self.min_size, max_size=self.max_size)
        state = torch.load(path, map_location="cpu", weights_only=True)
        try:
            model.load_state_dict(state.get("model", state) if isinstance(state, dict) else state)
        except RuntimeError as exc:
            raise DetectorWeightsError(f"{path} is not a fasterrcnn_resnet50_fpn state_dict: {exc}") from None
        self.model = model.eval().to(self.device)
        logger.info("detector: Faster R-CNN R50-FPN from %s on %s", path, self.device)

    def process(self, image: np.ndarray) -> dict:
        return self.process_batch([{"image": image}])[0]

    def process_batch(self, batch: list[dict]) -> list[dict]:
        import torch

        tensors = [torch.from_numpy(item["image"]).to(self.device).permute(2, 0, 1).float().div_(255) for item in batch]
        with torch.inference_mode():
            results = self.model(tensors)
        out = []
        for res in results:
            keep = (res["labels"] == PERSON_LABEL) & (res["scores"] >= self.score_threshold)
            boxes = torch.cat([res["boxes"][keep], res["scores"][keep, None]], 1)
            out.append({"detections": boxes.cpu().numpy().astype(np.float32)})
        return out

    def close(self) -> None:
        self.model = None
