"""detections_file: precomputed person boxes from a COCO-results JSON (``--detections``).

Matching rule (frame <- ``image_id``). Keys that name the video:
* ``"<video>/<file>"``, the frame name as the decode stage gives it (``clip/000012.jpg``
  for frame 12 of ``clip.mp4``, ``seq/000012.jpg`` in folder ``seq``);
* an integer PoseTrack image id (``10128340012`` for frame 12 of ``012834_mpii_test``):
  what PoseTrack detection files and our own ``coco/<video>.json`` use.
Keys without a video, which apply to whichever video is tracked:
* an integer below 10^10 is the 0-based frame index;
* a string without a folder is the file name (``000012.jpg``) or its stem (``000012``).
A frame takes the boxes of the first key present, in this order: ``<video>/<file>``,
PoseTrack id, file name, stem, frame index (keys are not merged). With several inputs
(``video_keys_only``, set by ``posetrack track``) keys without a video are an error at
start-up, so one video's boxes never land on another's frames.
Entries whose ``category_id`` is not ``category_id`` (person, 1) or whose score is below
``score_threshold`` are dropped. Frames without an entry have no detection; a video whose
frames match no key at all gets a warning (wrong id scheme, or a file for other videos).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np

from posetrack.track.graph import Stage
from posetrack.track.outputs import frame_image_id
from posetrack.track.types import empty_boxes

logger = logging.getLogger(__name__)

POSETRACK_ID_MIN = 10_000_000_000  # smallest PoseTrack image id (sequence type 1); below: frame indices


@dataclass(frozen=True)
class DetectionsFileParams:
    path: str = ""
    score_threshold: float = 0.0
    category_id: int = 1
    video_keys_only: bool = False  # several inputs: refuse keys without a video (frame index, bare file name)


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
            if isinstance(image_id, bool) or not isinstance(image_id, (int, str)):
                raise TypeError(f"image_id {image_id!r} is neither an integer nor a string")
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: entry {i} is not {{image_id, bbox: [x, y, w, h], score}}: {exc!r}") from None
        if det.get("category_id", category_id) != category_id or score < score_threshold:
            continue
        grouped[image_id].append((x, y, x + w, y + h, score))
    return {k: np.asarray(v, np.float32).reshape(-1, 5) for k, v in grouped.items()}


def is_video_key(key: int | str) -> bool:
    """True for keys that name their video: ``"<video>/<file>"`` or a PoseTrack image id."""
    return "/" in key if isinstance(key, str) else key >= POSETRACK_ID_MIN


class DetectionsFileStage(Stage):
    """Looks up each frame's boxes. Inputs ``index``, ``name``; output ``detections`` (N, 5)."""

    Params = DetectionsFileParams
    inputs = ("index", "name")
    outputs = ("detections",)

    def __init__(self, params: DetectionsFileParams | None = None, **overrides):
        super().__init__(params, **overrides)
        if not self.params.path:
            raise ValueError("detections_file stage needs a path (--detections DETS.json)")
        self.table: dict[int | str, np.ndarray] = {}
        self._video, self._frames, self._matched = "", 0, 0  # per video, for the no-match warning

    def open(self) -> None:
        self.table = load_coco_detections(self.params.path, self.params.score_threshold, self.params.category_id)
        logger.info("detections: %d frames with boxes from %s", len(self.table), self.params.path)
        generic = [k for k in self.table if not is_video_key(k)]
        if self.params.video_keys_only and generic:
            raise ValueError(
                f"{self.params.path}: with several inputs every image_id must name its video ('<video>/<file>' or a "
                f"PoseTrack image id), but {len(generic)} do not (e.g. {generic[:3]}): frame indices and bare file "
                "names would give the same boxes to every video; track the videos one at a time")

    def reset(self) -> None:
        self._warn_if_unmatched()
        self._video, self._frames, self._matched = "", 0, 0

    def process(self, index: int, name: str) -> dict:
        self._video = name.split("/")[0]
        self._frames += 1
        file = PurePosixPath(name).name
        pid = frame_image_id(index, name)  # the frame index itself unless the video has a PoseTrack name
        keys = (name, pid, file, PurePosixPath(file).stem, index) if pid != index else \
            (name, file, PurePosixPath(file).stem, index)
        for key in keys:
            if key in self.table:
                self._matched += 1
                return {"detections": self.table[key]}
        return {"detections": empty_boxes()}

    def close(self) -> None:
        self._warn_if_unmatched()
        self._frames = 0

    def _warn_if_unmatched(self) -> None:
        if self._frames and not self._matched and self.table:
            logger.warning("detections: none of the %d frames of %s matched an image_id of %s (see the matching "
                           "rule in posetrack/track/stages/detections_file.py)", self._frames, self._video, self.params.path)
