"""Per-video result files of ``posetrack track``, all written atomically while frames stream.

Layout under the output folder (``<video>`` = video file stem or frame folder name)::

    posetrack/<video>.json   PoseTrack 2018 (or 2017) predictions, PTEVAL's writer
    coco/<video>.json        COCO keypoint results [{image_id, category_id, keypoints, score, bbox, track_id}]
    render/<video>.mp4       overlay video (--render), skeletons coloured by track id

Each file goes to a temporary sibling and is renamed when the video completes; a
failure removes them all. The PoseTrack file is renamed last, so ``done()`` (all
requested files present) means the video finished: ``--resume`` skips it.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posetrack.io.atomic import atomic_path
from posetrack.io.posetrack_json import FramePoses, PersonPose, PoseTrackWriter, coco_to_posetrack18, posetrack_image_id
from posetrack.io.render import draw_poses
from posetrack.io.video import VideoWriter
from posetrack.pose.boxes import xyxy_to_xywh
from posetrack.track.types import Poses

FRAME_PREFIX = "images/val"  # PoseTrack file_name prefix; poseval pairs frames by position, not by name


@dataclass(frozen=True)
class OutputParams:
    """What the PoseTrack files keep (the ``outputs:`` section of a pipeline file; ``--kpt-thr``,
    ``--person-thr``). The COCO results keep every joint and person: COCO AP needs them.

    poseval counts every written joint in MOTA (absent only as x = y = score = 0), so a low-scoring
    guess at a hidden joint is a false positive there; AP only loses its low-score tail. These
    defaults write everything (files as before thresholds existed); ``pipelines/flowtrack.yaml``
    sets ``kpt_thr: 0.5``, measured with ``tools/make_tracking_set.py`` (README, *Submission
    thresholds*).
    """

    kpt_thr: float = 0.0  # joints scoring below are written absent
    person_thr: float = 0.0  # people scoring below are not written

    def __post_init__(self):
        for name in ("kpt_thr", "person_thr"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")


def submission_joints(slots: np.ndarray, person_score: float, params: OutputParams) -> np.ndarray | None:
    """(17, 3) PoseTrack slots of one person -> the same with joints below ``kpt_thr`` zeroed
    (absent), or None when the person is not written (score below ``person_thr``, or no joint left)."""
    if person_score < params.person_thr:
        return None
    out = np.where((slots[:, 2] < params.kpt_thr)[:, None], 0.0, slots)
    return out if np.any(out != 0) else None


@dataclass(frozen=True)
class OutputPaths:
    posetrack: Path
    coco: Path
    render: Path | None

    @staticmethod
    def for_video(out_dir: Path, video_name: str, render: bool) -> "OutputPaths":
        out_dir = Path(out_dir)
        return OutputPaths(out_dir / "posetrack" / f"{video_name}.json", out_dir / "coco" / f"{video_name}.json",
                           out_dir / "render" / f"{video_name}.mp4" if render else None)

    def all(self) -> list[Path]:
        return [p for p in (self.render, self.coco, self.posetrack) if p is not None]

    def done(self) -> bool:
        return all(p.is_file() for p in self.all())


class _JsonArrayWriter:
    """Streams a JSON list to an open file (the COCO results can be long)."""

    def __init__(self, fh):
        self.fh, self.count = fh, 0
        fh.write("[")

    def add(self, item: dict) -> None:
        self.fh.write(("," if self.count else "") + json.dumps(item))
        self.count += 1

    def finish(self) -> None:
        self.fh.write("]")


def frame_image_id(index: int, name: str) -> int:
    """Image id written for a frame: the PoseTrack id of ``images/val/<name>`` when the video
    name parses as one (``012834_mpii_test/000007.jpg`` -> 10128340007), else the frame index."""
    pid = posetrack_image_id(f"{FRAME_PREFIX}/{name}")
    return index if pid is None else pid


def to_posetrack_slots(keypoints: np.ndarray, keypoint_set: str) -> np.ndarray:
    """Model joints (N, 17, 3) -> PoseTrack-2018 slots (PTEVAL's stated COCO rule; ears zeroed)."""
    if keypoint_set == "coco":
        return coco_to_posetrack18(keypoints)
    out = np.asarray(keypoints, np.float64).copy()
    out[:, 3:5] = 0.0  # ear slots are placeholders, never evaluated
    return out


class VideoResults:
    """Context manager receiving one video's tracked frames in order.

    ``add(index, name, image, tracks)``: frame index, decode's frame name, the RGB image
    (used only with render) and the associated ``Poses`` (track_ids set).
    """

    def __init__(self, paths: OutputPaths, fmt: str = "2018", keypoint_set: str = "coco", fps: float = 25.0,
                 nframes: int = 0, thresholds: OutputParams = OutputParams()):
        self.paths, self.fmt, self.keypoint_set, self.fps, self.nframes = paths, fmt, keypoint_set, fps, nframes
        self.thresholds = thresholds
        self.frames = 0
        self._stack: contextlib.ExitStack | None = None

    def __enter__(self) -> "VideoResults":
        for p in self.paths.all():
            p.parent.mkdir(parents=True, exist_ok=True)
        stack = contextlib.ExitStack()
        try:
            # entered first = closed (renamed) last: the PoseTrack file marks a finished video
            self._posetrack = stack.enter_context(PoseTrackWriter(self.paths.posetrack, self.fmt))
            coco_tmp = stack.enter_context(atomic_path(self.paths.coco))
            self._coco = _JsonArrayWriter(stack.enter_context(open(coco_tmp, "w", encoding="utf-8")))
            self._video = None
            if self.paths.render is not None:
                render_tmp = stack.enter_context(atomic_path(self.paths.render))
                self._video = stack.enter_context(VideoWriter(render_tmp, self.fps))
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def add(self, index: int, name: str, image: np.ndarray | None, tracks: Poses) -> None:
        file_name = f"{FRAME_PREFIX}/{name}"
        image_id = frame_image_id(index, name)
        slots = to_posetrack_slots(tracks.keypoints, self.keypoint_set) if len(tracks) else []
        people = []
        boxes = xyxy_to_xywh(np.asarray(tracks.boxes, np.float64)).tolist()  # float64: as exact as the input
        for n, bbox in enumerate(boxes):
            tid, score = int(tracks.track_ids[n]), float(tracks.scores[n])
            written = submission_joints(slots[n], score, self.thresholds)
            if written is not None:
                people.append(PersonPose(tid, written, score=score, bbox=np.asarray(bbox)))
            self._coco.add({"image_id": image_id, "category_id": 1, "track_id": tid, "score": round(score, 5),
                            "bbox": [round(v, 2) for v in bbox],
                            "keypoints": [round(float(v), 2) for v in tracks.keypoints[n].reshape(-1)]})
        vid = name.split("/")[0].split("_")[0]
        self._posetrack.add(FramePoses(file_name, image_id, image_id, people, False, vid, self.nframes))
        if self._video is not None:
            self._video.write(draw_poses(image, tracks.keypoints, tracks.track_ids))
        self.frames += 1

    def __exit__(self, exc_type, exc, tb) -> bool:
        stack, self._stack = self._stack, None
        try:
            if exc_type is None:
                self._coco.finish()
        except BaseException as err:  # the stack must see the failure, or it would publish partial files
            if not stack.__exit__(type(err), err, err.__traceback__):
                raise
        else:
            stack.__exit__(exc_type, exc, tb)
        return False
