"""poses_file: people of each frame from a COCO keypoint results JSON (``--poses POSES.json``).

Entries ``{image_id, category_id, keypoints: [x1, y1, s1, ..., x17, y17, s17], score, bbox?}``
(``s`` the joint score; the ``coco/<video>.json`` that ``posetrack track`` writes is such a
file). Joints in COCO order, or with ``keypoints: posetrack18`` in the PoseTrack-2018 slot order
(what a PoseTrack-fine-tuned model writes; the PoseTrack files then take them as they are).
Frames are matched to ``image_id`` by the rule of ``--detections``
(``posetrack/track/stages/detections_file.py``). A pose without ``bbox`` gets the box of its
joints scoring above 0, 15 % larger (as the propagate stage's boxes); the box sets the OKS
scale in ``associate``. With this stage the graph is decode -> poses_file -> flow -> associate
(-> smooth): any estimator's poses get ids, and tracking is scored apart from pose estimation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from posetrack.errors import InputError
from posetrack.pose.boxes import xywh_to_xyxy
from posetrack.pose.keypoints import COCO_KEYPOINTS
from posetrack.track.stages.detections_file import (
    ResultsFileParams, ResultsFileStage, entry_image_id, read_results_list,
)
from posetrack.track.stages.propagate import keypoint_boxes
from posetrack.track.types import Poses

NUM_JOINTS = len(COCO_KEYPOINTS)
FIELDS = "{image_id, keypoints: [51 numbers], score, bbox?}"


@dataclass(frozen=True)
class PosesFileParams(ResultsFileParams):
    keypoints: Literal["coco", "posetrack18"] = "coco"  # joint order of the file's 17 joints


def load_coco_poses(path: str, score_threshold: float = 0.0, category_id: int = 1) -> dict[int | str, Poses]:
    """COCO keypoint results -> {image_id: Poses} (people in file order, scores below ``score_threshold``
    and other categories dropped)."""
    grouped: dict[int | str, list] = {}
    for i, entry in enumerate(read_results_list(path, "poses", FIELDS)):
        try:
            image_id = entry_image_id(entry)
            kp = np.array([float(v) for v in entry["keypoints"]], np.float64)
            if kp.shape != (3 * NUM_JOINTS,) or not np.all(np.isfinite(kp)):
                raise ValueError(f"keypoints must be {3 * NUM_JOINTS} finite numbers")
            score = float(entry.get("score", 1.0))
            box = None if entry.get("bbox") is None else xywh_to_xyxy(np.array([float(v) for v in entry["bbox"]]))
            if not np.isfinite(score) or box is not None and not np.all(np.isfinite(box)):
                raise ValueError("score and bbox must be finite numbers")
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{path}: entry {i} is not {FIELDS}: {exc!r}") from None
        if entry.get("category_id", category_id) != category_id or score < score_threshold:
            continue
        grouped.setdefault(image_id, []).append((kp.reshape(NUM_JOINTS, 3), score, box))
    table = {}
    for image_id, people in grouped.items():
        kps = np.stack([p[0] for p in people]).astype(np.float32)
        boxes = keypoint_boxes(kps, 0.15, 0.0)
        for n, (_, _, box) in enumerate(people):
            if box is not None:
                boxes[n] = box
        table[image_id] = Poses(kps, np.array([p[1] for p in people], np.float32), boxes)
    return table


class PosesFileStage(ResultsFileStage):
    """Each frame's poses from the file; output ``poses`` (Poses without ids, COCO joints)."""

    Params = PosesFileParams
    outputs = ("poses",)
    output_types = {"poses": Poses}
    flag = "--poses POSES.json"

    def load_table(self) -> dict:
        return load_coco_poses(self.params.path, self.params.score_threshold, self.params.category_id)

    def empty(self) -> Poses:
        return Poses.empty(NUM_JOINTS)
