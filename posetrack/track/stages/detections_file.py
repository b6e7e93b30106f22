"""detections_file: precomputed person boxes from a COCO-results JSON (``--detections``).

Matching rule (frame <- ``image_id``):
* an integer ``image_id`` is the 0-based frame index of the video being tracked;
* a string ``image_id`` is the frame name: ``"<video>/<file>"`` as the decode stage names
  frames (``clip/000012.jpg`` for frame 12 of ``clip.mp4``, ``seq/000012.jpg`` in folder
  ``seq``), or just the file name (``000012.jpg``) or its stem (``000012``) — which then
  applies to every video.
A frame takes the boxes of the first key present, in this order: ``<video>/<file>``, file
name, stem, frame index (keys are not merged).
Entries whose ``category_id`` is not ``category_id`` (person, 1) or whose score is below
``score_threshold`` are dropped. Frames without an entry have no detection.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np

from posetrack.track.graph import Stage
from posetrack.track.types import empty_boxes

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectionsFileParams:
    path: str = ""
    score_threshold: float = 0.0
    category_id: int = 1


def load_coco_detections(path: str, score_threshold: float = 0.0, category_id: int = 1) -> dict[int | str, np.ndarray]:
    """COCO results ``[{image_id, bbox: [x, y, w, h], score, category_id}]`` -> {image_id: (N, 5) xyxy+score}."""
    try:
        with open(path) as fh:
            entries = json.load(fh)
    except FileNotFoundError:
        raise FileNotFoundError(f"detections file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a COCO results list of {{image_id, bbox, score}}")
    grouped: dict[int | str, list] = defaultdict(list)
    for i, det in enumerate(entries):
        try:
            x, y, w, h = (float(v) for v in det["bbox"])
            score = float(det.get("score", 1.0))
            image_id = det["image_id"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: entry {i} is not {{image_id, bbox: [x, y, w, h], score}}: {exc!r}") from None
        if det.get("category_id", category_id) != category_id or score < score_threshold:
            continue
        grouped[image_id].append((x, y, x + w, y + h, score))
    return {k: np.asarray(v, np.float32).reshape(-1, 5) for k, v in grouped.items()}


class DetectionsFileStage(Stage):
    """Looks up each frame's boxes. Inputs ``index``, ``name``; output ``detections`` (N, 5)."""

    Params = DetectionsFileParams
    inputs = ("index", "name")
    outputs = ("detections",)

    def __init__(self, path: str = "", score_threshold: float = 0.0, category_id: int = 1):
        if not path:
            raise ValueError("detections_file stage needs a path (--detections DETS.json)")
        self.path, self.score_threshold, self.category_id = path, score_threshold, category_id
        self.table: dict[int | str, np.ndarray] = {}

    def open(self) -> None:
        self.table = load_coco_detections(self.path, self.score_threshold, self.category_id)
        logger.info("detections: %d frames with boxes from %s", len(self.table), self.path)

    def process(self, index: int, name: str) -> dict:
        file = PurePosixPath(name).name
        for key in (name, file, PurePosixPath(file).stem, index):
            if key in self.table:
                return {"detections": self.table[key]}
        return {"detections": empty_boxes()}
