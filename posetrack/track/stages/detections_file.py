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

import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np

from posetrack.config import short_repr
from posetrack.errors import InputError, InputNotFoundError
from posetrack.io.jsonfile import read_json
from posetrack.pose.boxes import xywh_to_xyxy
from posetrack.track.graph import Stage
from posetrack.track.outputs import frame_image_id
from posetrack.track.types import empty_boxes

logger = logging.getLogger(__name__)

POSETRACK_ID_MIN = 10_000_000_000  # smallest PoseTrack image id (sequence type 1); below: frame indices


@dataclass(frozen=True)
class ResultsFileParams:
    path: str = ""
    score_threshold: float = 0.0
    category_id: int = 1
    video_keys_only: bool = False  # several inputs: refuse keys without a video (frame index, bare file name)


@dataclass(frozen=True)
class DetectionsFileParams(ResultsFileParams):
    interval: int = 1  # boxes only on frames 0, N, 2N, ...; flow propagation carries people in between

    def __post_init__(self):
        if self.interval < 1:
            raise ValueError(f"interval must be >= 1 (frames between detector keyframes), got {self.interval}")


def read_results_list(path: str, what: str, fields: str) -> list:
    """The list of a COCO results JSON file; errors name the file (``what``: detections, poses)."""
    try:
        entries = read_json(path, InputError)
    except FileNotFoundError:
        raise InputNotFoundError(f"{what} file not found: {path}") from None
    if not isinstance(entries, list):
        raise InputError(f"{path}: expected a COCO results list of {fields}")
    return entries


def entry_image_id(entry: dict) -> int | str:
    """``entry["image_id"]``, an integer or a string (KeyError / TypeError otherwise)."""
    image_id = entry["image_id"]
    if isinstance(image_id, bool) or not isinstance(image_id, (int, str)):
        raise TypeError(f"image_id {image_id!r} is neither an integer nor a string")
    return image_id


def load_coco_detections(path: str, score_threshold: float = 0.0, category_id: int = 1) -> dict[int | str, np.ndarray]:
    """COCO results ``[{image_id, bbox: [x, y, w, h], score, category_id}]`` -> {image_id: (N, 5) xyxy+score}."""
    entries = read_results_list(path, "detections", "{image_id, bbox, score}")
    grouped: dict[int | str, list] = defaultdict(list)
    for i, det in enumerate(entries):
        try:
            x, y, w, h = (float(v) for v in det["bbox"])
            score = float(det.get("score", 1.0))
            image_id = entry_image_id(det)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{path}: entry {i} is not {{image_id, bbox: [x, y, w, h], score}}: {exc!r}") from None
        if not all(map(math.isfinite, (x, y, w, h, score))):  # would surface later as the output's error
            raise InputError(f"{path}: entry {i}: bbox and score must be finite numbers, got bbox "
                             f"{short_repr(det['bbox'])}, score {score}")
        if det.get("category_id", category_id) != category_id or score < score_threshold:
            continue
        grouped[image_id].append((x, y, w, h, score))
    rows = {k: np.asarray(v, np.float64) for k, v in grouped.items()}  # float64 until the sums are done
    return {k: np.concatenate([xywh_to_xyxy(r[:, :4]), r[:, 4:]], 1).astype(np.float32) for k, r in rows.items()}


def is_video_key(key: int | str) -> bool:
    """True for keys that name their video: ``"<video>/<file>"`` or a PoseTrack image id."""
    return "/" in key if isinstance(key, str) else key >= POSETRACK_ID_MIN


class ResultsFileStage(Stage):
    """Looks up each frame's entries of a COCO results file (the matching rule above).
    Inputs ``index``, ``name``; output ``outputs[0]``: what ``load_table`` holds for the frame."""

    Params = ResultsFileParams
    inputs = ("index", "name")
    flag = ""  # the CLI flag that gives the path, for the error message

    def load_table(self) -> dict:
        raise NotImplementedError

    def empty(self):
        """The value of a frame without entries."""
        raise NotImplementedError

    def __init__(self, params: ResultsFileParams | None = None, **overrides):
        super().__init__(params, **overrides)
        if not self.params.path:
            raise ValueError(f"{type(self).__name__} needs a path ({self.flag})")
        self.table: dict[int | str, np.ndarray] = {}
        self._video, self._frames, self._matched = "", 0, 0  # per video, for the no-match warning

    def open(self) -> None:
        self.table = self.load_table()
        logger.info("%s: %d frames with entries from %s", self.outputs[0], len(self.table), self.params.path)
        generic = [k for k in self.table if not is_video_key(k)]
        if self.params.video_keys_only and generic:
            raise InputError(
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
                return {self.outputs[0]: self.table[key]}
        return {self.outputs[0]: self.empty()}

    def close(self) -> None:
        self._warn_if_unmatched()
        self._frames = 0

    def _warn_if_unmatched(self) -> None:
        if self._frames and not self._matched and self.table:
            logger.warning("%s: none of the %d frames of %s matched an image_id of %s (see the matching rule in "
                           "posetrack/track/stages/detections_file.py)", self.outputs[0], self._frames, self._video,
                           self.params.path)


class DetectionsFileStage(ResultsFileStage):
    """Each frame's boxes (``--detections``); output ``detections`` (N, 5) x1, y1, x2, y2, score.

    Boxes are clipped to the frame (optional input ``image``; the graph always gives it) and dropped
    when nothing is left inside: a box
    at x=5000 on a 960 px frame would give a pose outside the frame that starts a new track. How
    many were clipped and dropped is logged once per video.
    """

    Params = DetectionsFileParams
    optional_inputs = ("image",)
    outputs = ("detections", "keyframe")  # keyframe: boxes were looked up (see interval)
    output_types = {"detections": np.ndarray, "keyframe": bool}
    flag = "--detections DETS.json"

    def __init__(self, params: DetectionsFileParams | None = None, **overrides):
        super().__init__(params, **overrides)
        self._boxes = self._clipped = self._dropped = 0  # this video's, for the outside-the-frame warning

    def reset(self) -> None:
        self._warn_if_outside()
        super().reset()

    def close(self) -> None:
        self._warn_if_outside()
        super().close()

    def load_table(self) -> dict:
        return load_coco_detections(self.params.path, self.params.score_threshold, self.params.category_id)

    def empty(self) -> np.ndarray:
        return empty_boxes()

    def process(self, index: int, name: str, image: np.ndarray | None = None) -> dict:
        if index % self.params.interval:  # not a keyframe: people come from flow propagation
            return {"detections": empty_boxes(), "keyframe": False}
        boxes = super().process(index, name)["detections"]
        if image is not None:
            boxes = self._inside(boxes, image.shape[1], image.shape[0])
        return {"detections": boxes, "keyframe": True}

    def _inside(self, boxes: np.ndarray, width: int, height: int) -> np.ndarray:
        if not len(boxes):
            return boxes
        clipped = boxes.copy()
        clipped[:, 0:4:2] = np.clip(boxes[:, 0:4:2], 0, width)
        clipped[:, 1:4:2] = np.clip(boxes[:, 1:4:2], 0, height)
        keep = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
        changed = np.any(clipped[:, :4] != boxes[:, :4], axis=1)
        self._boxes += len(boxes)
        self._clipped += int((changed & keep).sum())
        self._dropped += int((~keep).sum())
        return clipped[keep]

    def _warn_if_outside(self) -> None:
        if self._clipped or self._dropped:
            logger.warning("%s: %d of %d boxes of %s reach outside the frame: %d clipped to it, %d dropped "
                           "(nothing left inside)", self._video, self._clipped + self._dropped, self._boxes,
                           self.params.path, self._clipped, self._dropped)
        self._boxes = self._clipped = self._dropped = 0
