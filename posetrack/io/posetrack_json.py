"""PoseTrack 2017 (``annolist``) and 2018 (COCO-like) files: read, write, convert, validate.

One JSON file per video, named as the ground truth (``012834_mpii_test.json``). In memory a
video is a list of :class:`FramePoses`; every person holds its keypoints in the 17
PoseTrack-2018 slots (``POSETRACK18_KEYPOINTS``), x and y in image pixels.

The 2017 format numbers joints 0..14 (``PT17_JOINTS``); ``PT18_TO_PT17`` maps the 2018 slots
onto those ids (ears have none). Reading follows the official converter (poseval
``convert.py``): a 2018 keypoint is absent only when x == y == v == 0, only the first video of
a 2018 file is read, and keypoint names are mapped by name through ``categories``.
PoseTrack21 files are the 2018 layout plus ``person_id`` (per person) and ``has_labeled_person``
(per image); both are read into, and written from, ``PersonPose`` / ``FramePoses``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from posetrack.config import short_repr
from posetrack.errors import PosetrackError
from posetrack.io.atomic import atomic_path
from posetrack.io.jsonfile import read_json
from posetrack.pose.keypoints import COCO_KEYPOINTS, POSETRACK18_KEYPOINTS

logger = logging.getLogger(__name__)

# PoseTrack 2017 joint ids 0..14 (the evaluation's internal order).
PT17_JOINTS: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "head_bottom", "nose", "head_top",
)
# 2018 slot -> 2017 id (-1: ears, not evaluated).
PT18_TO_PT17: np.ndarray = np.array(
    [PT17_JOINTS.index(n) if n in PT17_JOINTS else -1 for n in POSETRACK18_KEYPOINTS], np.int64)
PT18_TO_PT17.setflags(write=False)
# 2017 id -> 2018 slot.
PT17_TO_PT18: np.ndarray = np.array([POSETRACK18_KEYPOINTS.index(n) for n in PT17_JOINTS], np.int64)
PT17_TO_PT18.setflags(write=False)

MAX_TRACK_ID = 10000  # poseval offsets track ids by 10000 per video and asserts id < 10000
_SEQ_TYPES = {"mpii": 1, "bonn": 2, "mpiinew": 3}

# 2018 skeleton (1-based slot pairs), as written by the official converter.
_PT18_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8],
                  [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]
PT18_CATEGORY: dict[str, Any] = {
    "supercategory": "person", "id": 1, "name": "person",
    "keypoints": list(POSETRACK18_KEYPOINTS), "skeleton": _PT18_SKELETON,
}

# COCO -> PoseTrack-2018 head rule (see coco_to_posetrack18).
HEAD_BOTTOM_FROM_SHOULDERS = 0.3
HEAD_TOP_BEYOND_NOSE = 0.5


class PoseTrackFormatError(PosetrackError, ValueError):
    """A PoseTrack file that cannot be read; the message names file, frame, person and field."""


@dataclass
class PersonPose:
    """One person in one frame.

    keypoints: (17, 3) float64 x, y (image px), score, in PoseTrack-2018 slot order;
        score NaN when the file gives none.
    present: (17,) bool, which slots exist; default: all slots except those with x == y == score == 0.
    visible: (17,) float, the 2018 ``v`` value (2017 ``is_visible``); default: ``present`` as 0/1.
    head_box: (4,) x1, y1, x2, y2 image px (ground truth; sets the PCKh threshold).
    bbox: (4,) x, y, w, h image px.
    annotated: False for a 2017 ``annorect`` without ``annopoints`` (a box only); the
        evaluation drops such people.
    person_id: PoseTrack21 ``person_id`` (the same person across videos), None when not given.
    """

    track_id: int
    keypoints: np.ndarray
    score: float = 1.0
    bbox: np.ndarray | None = None
    head_box: np.ndarray | None = None
    present: np.ndarray | None = None
    visible: np.ndarray | None = None
    annotated: bool = True
    person_id: int | None = None

    def __post_init__(self) -> None:
        self.keypoints = np.asarray(self.keypoints, np.float64)
        if self.keypoints.shape != (17, 3):
            raise ValueError(f"PersonPose.keypoints must be (17, 3), got {self.keypoints.shape}")
        if self.present is None:
            self.present = ~np.all(self.keypoints == 0, axis=1)
        self.present = np.asarray(self.present, bool)
        if self.visible is None:
            self.visible = self.present.astype(np.float64)


@dataclass
class FramePoses:
    """One frame of a video: image metadata plus its people.

    ignore_regions: list of (V, 2) float64 polygons, x, y image px (ground truth).
    has_labeled_person: PoseTrack21's image flag, None when not given.
    """

    file_name: str
    frame_id: int
    image_id: int
    people: list[PersonPose] = field(default_factory=list)
    is_labeled: bool = False
    vid_id: str = ""
    nframes: int = 0
    ignore_regions: list[np.ndarray] = field(default_factory=list)
    width: int | None = None
    height: int | None = None
    has_labeled_person: bool | None = None


@dataclass
class FrameArrays:
    """The people of one frame as arrays: P people, 17 PoseTrack-2018 slots.

    keypoints: (P, 17, 3) x, y (image px), score (NaN: none given); present: (P, 17) bool;
    track_id: (P,) int64; head_box: (P, 4) x1, y1, x2, y2 (NaN row: none); annotated: (P,) bool;
    ignore_regions: list of (V, 2) polygons.
    """

    keypoints: np.ndarray
    present: np.ndarray
    track_id: np.ndarray
    head_box: np.ndarray
    annotated: np.ndarray
    ignore_regions: list[np.ndarray]


def posetrack_image_id(file_name: str) -> int | None:
    """PoseTrack image id ``T SSSSSS FFFF`` from ``.../012834_mpii_test/000007.jpg``; None if the name does not parse.

    T is the sequence type (1 mpii, 2 bonn, 3 mpiinew), S the sequence number, F the frame.
    """
    tok = os.path.basename(os.path.dirname(file_name)).split("_")
    stem = os.path.basename(file_name).split(".")[0]
    if len(tok) < 2 or not tok[0].isdigit() or tok[1] not in _SEQ_TYPES or not stem.isdigit() or int(stem) >= 10000:
        return None
    return _SEQ_TYPES[tok[1]] * 10_000_000_000 + int(tok[0]) * 10000 + int(stem)


def video_frames(video_name: str, n_frames: int, split: str = "val") -> list[FramePoses]:
    """Frame records for a video without ground truth: ``images/{split}/{video_name}/{i:06d}.jpg``.

    ``frame_id == image_id`` is the PoseTrack id when ``video_name`` looks like
    ``012834_mpii_test``, else the frame index.
    """
    frames = []
    vid = video_name.split("_")[0]
    for i in range(n_frames):
        name = f"images/{split}/{video_name}/{i:06d}.jpg"
        pid = posetrack_image_id(name)
        fid = i if pid is None else pid
        frames.append(FramePoses(name, fid, fid, [], False, vid, n_frames))
    return frames


def coco_to_posetrack18(keypoints: np.ndarray) -> np.ndarray:
    """COCO-order keypoints (N, 17, 3) x, y, score -> PoseTrack-2018 slots (N, 17, 3).

    A COCO model has no head_bottom / head_top. With S the shoulder midpoint and N the nose:
    ``head_bottom = S + 0.3 (N - S)``, ``head_top = N + 0.5 (N - S)``, each scored
    ``min(score nose, left_shoulder, right_shoulder)``. The coefficients were fitted on
    PoseTrack18 *val* data: rounded medians, 0.28 and 0.47, of the 13 fully annotated people in
    the PoseTrack18 val sample (``../shared/data/posetrack18_sample``), so PoseTrack18 val scores
    of a COCO model use a rule tuned on (a small part of) the evaluation split. Eyes are
    dropped, ears become zeros (absent; never evaluated), the 12 body joints are copied.
    """
    kp = np.asarray(keypoints, np.float64)
    if kp.ndim != 3 or kp.shape[1:] != (17, 3):
        raise ValueError(f"coco_to_posetrack18 expects (N, 17, 3) COCO keypoints, got {kp.shape}")
    ci = {n: i for i, n in enumerate(COCO_KEYPOINTS)}
    out = np.zeros_like(kp)
    out[:, 5:] = kp[:, 5:]
    out[:, 0] = kp[:, ci["nose"]]
    nose = kp[:, ci["nose"], :2]
    mid = 0.5 * (kp[:, ci["left_shoulder"], :2] + kp[:, ci["right_shoulder"], :2])
    score = np.min(kp[:, [ci["nose"], ci["left_shoulder"], ci["right_shoulder"]], 2], axis=1)
    out[:, 1, :2] = mid + HEAD_BOTTOM_FROM_SHOULDERS * (nose - mid)
    out[:, 2, :2] = nose + HEAD_TOP_BEYOND_NOSE * (nose - mid)
    out[:, 1, 2] = out[:, 2, 2] = score
    return out


# --------------------------------------------------------------------------- reading

def _err(path: Path | str, where: str, msg: str) -> PoseTrackFormatError:
    return PoseTrackFormatError(f"{path}: {where}: {msg}" if where else f"{path}: {msg}")


def _num(value: Any, path: Path | str, where: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _err(path, where, f"field '{name}' must be a number, got {short_repr(value)}")
    try:
        return float(value)
    except OverflowError:  # a JSON integer with hundreds of digits
        raise _err(path, where, f"field '{name}' is too large for a number: {short_repr(value)}") from None


def _numbers(values: list, path: Path | str, where: str, name: str) -> np.ndarray:
    """A JSON list of numbers as float64; null, strings (numpy would parse "12"), NaN, inf and
    integers too large for a float are errors."""
    bad = [v for v in values if not _finite_number(v)]
    if bad:
        raise _err(path, where, f"field '{name}' must hold finite numbers only, got {short_repr(bad[0])}")
    return np.array(values, np.float64)


def _finite_number(value: Any) -> bool:
    """A JSON number a float64 holds: not bool (an int subclass), str, None, NaN, inf or a huge integer."""
    if type(value) is float:
        return math.isfinite(value)
    return type(value) is int and abs(value) <= sys.float_info.max  # exact int/float comparison


def _plain_floats(values: list) -> np.ndarray:
    """float64 array of nested number lists; ValueError for anything numpy would coerce (strings,
    None, integers beyond int64), which the per-person reader then reports precisely."""
    arr = np.array(values)
    if arr.dtype.kind not in "iuf" and arr.size:
        raise ValueError("not plain numbers")
    return arr.astype(np.float64)


def _track_id(value: Any, path: Path | str, where: str, name: str = "track_id") -> int:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or isinstance(value, float) and not value.is_integer()):  # is_integer: False for inf/NaN
        raise _err(path, where, f"field '{name}' must be an integer, got {short_repr(value)}")
    return int(value)


def _one(rec: dict, key: str, path: Path | str, where: str) -> Any:
    """The single value of a 2017 one-element list field (``{"x1": [12.0]}``)."""
    v = rec.get(key)
    if not isinstance(v, list) or len(v) != 1:
        raise _err(path, where, f"field '{key}' must be a one-element list, got {short_repr(v)}")
    return v[0]


def load_json(path: str | os.PathLike) -> Any:
    return read_json(path, PoseTrackFormatError)


def detect_format(data: Any, path: str | os.PathLike = "") -> str:
    """"2017" for an ``annolist`` file, "2018" for a file with ``images``."""
    if isinstance(data, dict) and "annolist" in data:
        return "2017"
    if isinstance(data, dict) and "images" in data:
        return "2018"
    raise PoseTrackFormatError(f"{path}: neither a PoseTrack 2017 file (no 'annolist') nor 2018 (no 'images')")


class VideoFile:
    """A parsed PoseTrack file; frames are built on demand (``frame(i)``), so a reader that needs
    a few frames of a long prediction file does not pay for all of them."""

    def __init__(self, path: str | os.PathLike, data: Any | None = None):
        self.path = Path(path)
        data = load_json(self.path) if data is None else data
        self.format = detect_format(data, self.path)
        if self.format == "2017":
            self._init_2017(data)
        else:
            self._init_2018(data)

    def __len__(self) -> int:
        return len(self._records)

    # 2017 ----------------------------------------------------------------
    def _init_2017(self, data: dict) -> None:
        self.unmatched = []  # 2017 people sit inside their frame
        frames = data["annolist"]
        if not isinstance(frames, list):
            raise _err(self.path, "", "field 'annolist' must be a list")
        self._records = frames
        for i, fr in enumerate(frames):
            if not isinstance(fr, dict) or not isinstance(fr.get("annorect", []), list):
                raise _err(self.path, f"frame {i}", "field 'annorect' must be a list")

    def _frame_name_2017(self, i: int) -> str:
        fr = self._records[i]
        img = fr.get("image")
        if not (isinstance(img, list) and len(img) == 1 and isinstance(img[0], dict)
                and isinstance(img[0].get("name"), str)):
            raise _err(self.path, f"frame {i}", "field 'image' must be [{\"name\": ...}]")
        return img[0]["name"]

    def _frame_2017(self, i: int) -> FramePoses:
        fr = self._records[i]
        name = self._frame_name_2017(i)
        where = f"frame {i} ({name})"
        pid = posetrack_image_id(name)
        fid = i if pid is None else pid
        regions = []
        for r, reg in enumerate(fr.get("ignore_regions", []) or []):
            pts = reg.get("point", []) if isinstance(reg, dict) else None
            if not isinstance(pts, list):
                raise _err(self.path, where, f"field 'ignore_regions[{r}].point' must be a list")
            regions.append(np.array([[_num(_one(p, "x", self.path, where), self.path, where, "x"),
                                      _num(_one(p, "y", self.path, where), self.path, where, "y")]
                                     for p in pts], np.float64).reshape(-1, 2))
        people = [self._person_2017(rect, f"{where}: person {k}") for k, rect in enumerate(fr.get("annorect", []))]
        return FramePoses(name, fid, fid, people, self.is_labeled(i), name_vid(name), len(self._records), regions)

    def _person_2017(self, rect: Any, where: str) -> PersonPose:
        p = self.path
        if not isinstance(rect, dict):
            raise _err(p, where, "annorect entry must be an object")
        if "track_id" not in rect:
            raise _err(p, where, "field 'track_id' missing")
        tid = _track_id(rect["track_id"], p, where)
        head = None
        if all(k in rect for k in ("x1", "y1", "x2", "y2")):
            head = np.array([_num(_one(rect, k, p, where), p, where, k) for k in ("x1", "y1", "x2", "y2")])
        score = _num(_one(rect, "score", p, where), p, where, "score") if "score" in rect else math.nan
        kp = np.zeros((17, 3))
        kp[:, 2] = math.nan
        present = np.zeros(17, bool)
        visible = np.zeros(17)
        ap = rect.get("annopoints")
        annotated = (isinstance(ap, list) and len(ap) > 0 and isinstance(ap[0], dict) and len(ap[0]) > 0
                     and "point" in ap[0])
        if annotated:
            points = ap[0]["point"]
            if not isinstance(points, list):
                raise _err(p, where, "field 'annopoints[0].point' must be a list")
            for q, pt in enumerate(points):
                wq = f"{where}: point {q}"
                jid = _one(pt, "id", p, wq)
                if isinstance(jid, bool) or not isinstance(jid, int) or not 0 <= jid < 15:
                    raise _err(p, wq, f"field 'id' must be a joint id 0..14, got {short_repr(jid)}")
                slot = PT17_TO_PT18[jid]
                if present[slot]:
                    continue  # poseval uses the first point with a given id
                kp[slot, 0] = _num(_one(pt, "x", p, wq), p, wq, "x")
                kp[slot, 1] = _num(_one(pt, "y", p, wq), p, wq, "y")
                if "score" in pt:
                    kp[slot, 2] = _num(_one(pt, "score", p, wq), p, wq, "score")
                visible[slot] = _num(_one(pt, "is_visible", p, wq), p, wq, "is_visible") if "is_visible" in pt else 1
                present[slot] = True
        return PersonPose(tid, kp, score, None, head, present, visible, annotated)

    # 2018 ----------------------------------------------------------------
    def _init_2018(self, data: dict) -> None:
        p = self.path
        cats = data.get("categories")
        if not isinstance(cats, list) or len(cats) != 1 or not isinstance(cats[0], dict):
            raise _err(p, "", "field 'categories' must hold exactly one category (needed to map keypoint names)")
        names = cats[0].get("keypoints")
        if cats[0].get("name") != "person" or not isinstance(names, list) or len(names) not in (15, 17):
            raise _err(p, "", "field 'categories[0]' must be 'person' with 15 or 17 'keypoints' names")
        self._slots = np.array([POSETRACK18_KEYPOINTS.index(n) if n in PT17_JOINTS else -1 for n in names])
        missing = [n for n in PT17_JOINTS if n not in names]
        if missing:
            raise _err(p, "", f"field 'categories[0].keypoints' lacks {missing}")
        images, anns = data.get("images"), data.get("annotations", [])
        if not isinstance(images, list) or not isinstance(anns, list):
            raise _err(p, "", "fields 'images' and 'annotations' must be lists")
        first_vid, records = None, []
        for i, im in enumerate(images):
            if not isinstance(im, dict) or not isinstance(im.get("file_name"), str) or "id" not in im:
                raise _err(p, f"image {i}", "fields 'id' and 'file_name' are required")
            if not isinstance(im["id"], Hashable):
                raise _err(p, f"image {i}", f"field 'id' must be a number or string, got {short_repr(im['id'])}")
            vid = os.path.basename(os.path.dirname(im["file_name"])).split("_")[0]
            if first_vid is None:
                first_vid = vid
            if vid == first_vid:
                records.append(im)
        if len(records) < len(images):
            logger.warning("%s: holds several videos; only the first (%s) is read, as poseval does", p, first_vid)
        self._records = records
        self._anns: dict[Any, list[dict]] = {}
        image_ids = {im["id"] for im in images}
        self.unmatched: list[tuple[int, Any]] = []  # (annotation index, image_id) naming no image: never read
        for k, a in enumerate(anns):
            if not isinstance(a, dict) or "image_id" not in a:
                raise _err(p, f"annotation {k}", "field 'image_id' missing")
            if not isinstance(a["image_id"], Hashable):
                raise _err(p, f"annotation {k}", f"field 'image_id' must be a number or string, "
                                                 f"got {short_repr(a['image_id'])}")
            self._anns.setdefault(a["image_id"], []).append(a)
            if a["image_id"] not in image_ids:
                self.unmatched.append((k, a["image_id"]))

    def _regions_2018(self, i: int) -> list[np.ndarray]:
        im, p = self._records[i], self.path
        where = f"frame {i} ({im['file_name']})"
        rx, ry = im.get("ignore_regions_x", []) or [], im.get("ignore_regions_y", []) or []
        if "ignore_regions_x" in im and "ignore_regions_y" not in im or len(rx) != len(ry):
            raise _err(p, where, "fields 'ignore_regions_x' and 'ignore_regions_y' must pair up")
        regions = []
        for r, (xs, ys) in enumerate(zip(rx, ry)):
            if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys):
                raise _err(p, where, f"ignore region {r}: x and y lists differ in length")
            regions.append(np.stack([_numbers(xs, p, where, "ignore_regions_x"),
                                     _numbers(ys, p, where, "ignore_regions_y")], axis=1).reshape(-1, 2))
        return regions

    def _frame_2018(self, i: int) -> FramePoses:
        im = self._records[i]
        name = im["file_name"]
        where = f"frame {i} ({name})"
        regions = self._regions_2018(i)
        people = [self._person_2018(a, f"{where}: person {k}") for k, a in enumerate(self._anns.get(im["id"], []))]
        fid = im.get("frame_id", im["id"])
        labeled_person = im.get("has_labeled_person")
        return FramePoses(name, fid, im["id"], people, self.is_labeled(i),
                          str(im.get("vid_id", name_vid(name))), int(im.get("nframes", len(self._records))),
                          regions, im.get("width"), im.get("height"),
                          None if labeled_person is None else bool(labeled_person))

    def _arrays_2018(self, i: int) -> FrameArrays | None:
        """Vectorised frame_arrays for a well-formed 2018 frame; None when any person needs the
        per-person path (which then names the defect)."""
        anns = self._anns.get(self._records[i]["id"], [])
        k = len(self._slots)
        try:
            raw = _plain_floats([a["keypoints"] for a in anns]).reshape(len(anns), k, 3)
            tid = np.array([a["track_id"] for a in anns])
            heads = _plain_floats([a["bbox_head"] if "bbox_head" in a else [math.nan] * 4 for a in anns]
                                  ).reshape(len(anns), 4)
            scores = np.full((len(anns), k), math.nan)
            rows = [n for n, a in enumerate(anns) if a.get("scores")]
            if rows:
                scores[rows] = _plain_floats([anns[n]["scores"] for n in rows])
        except (KeyError, TypeError, ValueError):
            return None
        if (not np.all(np.isfinite(raw)) or not np.all(np.isfinite(scores[rows]))
                or tid.dtype.kind not in "iuf" or np.any(tid != np.round(tid))
                or any(isinstance(a["track_id"], bool) for a in anns)):
            return None
        keep = self._slots >= 0
        slots = self._slots[keep]
        kp = np.zeros((len(anns), 17, 3))
        kp[..., 2] = math.nan
        kp[:, slots, :2] = raw[:, keep, :2]
        kp[:, slots, 2] = scores[:, keep]
        present = np.zeros((len(anns), 17), bool)
        present[:, slots] = ~np.all(raw[:, keep] == 0, axis=2)
        x, y, w, h = heads.T
        head = np.stack([x, y, x + w, y + h], axis=1)  # corners exactly as poseval computes them
        return FrameArrays(kp, present, tid.astype(np.int64), head, np.ones(len(anns), bool),
                           self._regions_2018(i))

    def frame_arrays(self, i: int) -> FrameArrays:
        """The people of frame i as arrays (the evaluation's fast path)."""
        fast = self._arrays_2018(i) if self.format == "2018" else None
        if fast is not None:
            return fast
        fr = self.frame(i)
        n = len(fr.people)
        return FrameArrays(
            np.stack([p.keypoints for p in fr.people]) if n else np.zeros((0, 17, 3)),
            np.stack([p.present for p in fr.people]) if n else np.zeros((0, 17), bool),
            np.array([p.track_id for p in fr.people], np.int64),
            np.stack([p.head_box if p.head_box is not None else np.full(4, math.nan) for p in fr.people])
            if n else np.zeros((0, 4)),
            np.array([p.annotated for p in fr.people], bool),
            fr.ignore_regions)

    def _person_2018(self, a: dict, where: str) -> PersonPose:
        p, k = self.path, len(self._slots)
        if "track_id" not in a:
            raise _err(p, where, "field 'track_id' missing")
        tid = _track_id(a["track_id"], p, where)
        raw = a.get("keypoints")
        if not isinstance(raw, list) or len(raw) != 3 * k:
            raise _err(p, where, f"field 'keypoints' must hold {3 * k} numbers, got "
                                 f"{len(raw) if isinstance(raw, list) else type(raw).__name__}")
        arr = _numbers(raw, p, where, "keypoints").reshape(k, 3)
        scores = a.get("scores")
        if scores:  # poseval: a missing or empty list means no scores
            if not isinstance(scores, list) or len(scores) != k:
                raise _err(p, where, f"field 'scores' must hold {k} numbers")
            sc = _numbers(scores, p, where, "scores")
        else:
            sc = np.full(k, math.nan)
        keep = self._slots >= 0
        slots = self._slots[keep]
        kp = np.zeros((17, 3))
        kp[:, 2] = math.nan
        kp[slots, :2] = arr[keep, :2]
        kp[slots, 2] = sc[keep]
        present = np.zeros(17, bool)
        present[slots] = ~np.all(arr[keep] == 0, axis=1)
        visible = np.zeros(17)
        visible[slots] = arr[keep, 2]
        head = None
        if "bbox_head" in a:
            bh = a["bbox_head"]
            if not isinstance(bh, list) or len(bh) != 4:
                raise _err(p, where, "field 'bbox_head' must be [x, y, w, h]")
            x, y, w, h = (_num(v, p, where, "bbox_head") for v in bh)
            head = np.array([x, y, x + w, y + h])  # corners exactly as poseval computes them
        bbox = None
        if isinstance(a.get("bbox"), list) and len(a["bbox"]) == 4:
            bbox = np.array([_num(v, p, where, "bbox") for v in a["bbox"]])
        score = _num(a["score"], p, where, "score") if "score" in a else math.nan
        person_id = None
        if "person_id" in a:  # PoseTrack21
            person_id = _track_id(a["person_id"], p, where, "person_id")
        return PersonPose(tid, kp, score, bbox, head, present, visible, True, person_id)

    # public ----------------------------------------------------------------
    def is_labeled(self, i: int) -> bool:
        """The frame's ``is_labeled`` flag (2017: ``[0|1]``); False when missing."""
        labeled = self._records[i].get("is_labeled", False)
        return bool(labeled[0] if isinstance(labeled, list) and labeled else labeled)

    def frame_name(self, i: int) -> str:
        return self._frame_name_2017(i) if self.format == "2017" else self._records[i]["file_name"]

    def frame_ids(self, i: int) -> tuple[Any, Any]:
        """(frame_id, image id) as written in a 2018 file; (None, None) for 2017."""
        if self.format == "2017":
            return None, None
        im = self._records[i]
        return im.get("frame_id"), im.get("id")

    def frame_size(self, i: int) -> tuple[Any, Any]:
        """(width, height) of frame i when a 2018 file gives them, else (None, None)."""
        if self.format == "2017":
            return None, None
        return self._records[i].get("width"), self._records[i].get("height")

    def num_people(self, i: int) -> int:
        """Number of person entries of frame i (before any filtering)."""
        if self.format == "2017":
            return len(self._records[i].get("annorect", []))
        return len(self._anns.get(self._records[i]["id"], []))

    def raw_track_ids(self, i: int) -> list[Any]:
        """Track ids of frame i as written (2017: unwrapped from their one-element lists)."""
        if self.format == "2017":
            ids = [r.get("track_id") for r in self._records[i].get("annorect", []) if isinstance(r, dict)]
            return [t[0] if isinstance(t, list) and len(t) == 1 else t for t in ids]
        return [a.get("track_id") for a in self._anns.get(self._records[i]["id"], [])]

    def frame(self, i: int) -> FramePoses:
        return self._frame_2017(i) if self.format == "2017" else self._frame_2018(i)

    def frames(self) -> Iterator[FramePoses]:
        for i in range(len(self)):
            yield self.frame(i)


def name_vid(file_name: str) -> str:
    """Video id of a frame name: ``images/val/012834_mpii_test/000000.jpg`` -> ``012834``."""
    return os.path.basename(os.path.dirname(file_name)).split("_")[0]


def read_video(path: str | os.PathLike) -> list[FramePoses]:
    """All frames of a 2017 or 2018 PoseTrack file."""
    return list(VideoFile(path).frames())


def frames_like(gt_path: str | os.PathLike) -> list[FramePoses]:
    """The frames of a ground-truth file with their metadata and no people: fill ``people`` and write."""
    frames = read_video(gt_path)
    for fr in frames:
        fr.people = []
        fr.ignore_regions = []
    return frames


# --------------------------------------------------------------------------- writing

def _f(v: float) -> float | int:
    """JSON number: integral values stay integers (as in the GT files)."""
    v = float(v)
    return int(v) if v.is_integer() and abs(v) < 2**53 else v


def _scores_list(scores: np.ndarray, present: np.ndarray, where: str) -> list:
    """2018 ``scores``: [] when no present slot has a score (GT), else 17 numbers (absent slots: 0)."""
    if np.all(np.isnan(scores[present])):
        return []
    if np.any(np.isnan(scores[present])):
        raise ValueError(f"{where}: keypoint scores are NaN for some present keypoints; give all or none")
    return [0.0 if math.isnan(s) else float(s) for s in scores]


def _check_person(person: PersonPose, where: str) -> None:
    if not 0 <= int(person.track_id) < MAX_TRACK_ID or person.track_id != int(person.track_id):
        raise ValueError(f"{where}: track_id must be an integer in [0, {MAX_TRACK_ID}), got {person.track_id!r}")
    xy = person.keypoints[person.present, :2]
    if not np.all(np.isfinite(xy)):
        raise ValueError(f"{where}: keypoint coordinates must be finite")


def _ann_2018(person: PersonPose, image_id: Any, ann_id: int, where: str) -> dict:
    _check_person(person, where)
    kp = person.keypoints
    flat: list = []
    for s in range(17):
        if person.present[s]:
            flat += [_f(kp[s, 0]), _f(kp[s, 1]), _f(person.visible[s])]
        else:
            flat += [0, 0, 0]
    ann: dict[str, Any] = {"id": ann_id, "image_id": image_id, "category_id": 1,
                           "track_id": int(person.track_id), "keypoints": flat,
                           "scores": _scores_list(kp[:, 2], person.present, where)}
    if not math.isnan(person.score):
        ann["score"] = float(person.score)
    if person.bbox is not None:
        ann["bbox"] = [_f(v) for v in person.bbox]
    if person.head_box is not None:
        x1, y1, x2, y2 = (float(v) for v in person.head_box)
        ann["bbox_head"] = [_f(x1), _f(y1), _f(x2 - x1), _f(y2 - y1)]
    if person.person_id is not None:
        ann["person_id"] = int(person.person_id)
    return ann


def _rect_2017(person: PersonPose, where: str) -> dict:
    _check_person(person, where)
    rect: dict[str, Any] = {"track_id": [int(person.track_id)]}
    if not math.isnan(person.score):
        rect["score"] = [float(person.score)]
    if person.head_box is not None:
        for k, v in zip(("x1", "y1", "x2", "y2"), person.head_box):
            rect[k] = [_f(v)]
    if person.annotated:
        points = []
        for jid in range(15):
            s = PT17_TO_PT18[jid]
            if not person.present[s]:
                continue
            pt = {"id": [jid], "x": [_f(person.keypoints[s, 0])], "y": [_f(person.keypoints[s, 1])]}
            if not math.isnan(person.keypoints[s, 2]):
                pt["score"] = [float(person.keypoints[s, 2])]
            pt["is_visible"] = [_f(person.visible[s])]
            points.append(pt)
        rect["annopoints"] = [{"point": points}]
    return rect


def _imgnum(file_name: str, index: int) -> int:
    stem = os.path.basename(file_name).split(".")[0]
    return int(stem) + 1 if stem.isdigit() else index + 1


class PoseTrackWriter:
    """Stream one video's frames into a PoseTrack 2017 or 2018 file, atomically.

    ``with PoseTrackWriter(path, fmt="2018") as w: w.add(frame)``. People are written as they
    come; only the per-frame image records (2018) are kept until the end. Nothing appears at
    ``path`` unless the block exits without error.
    """

    def __init__(self, path: str | os.PathLike, fmt: str = "2018"):
        if fmt not in ("2017", "2018"):
            raise ValueError(f"fmt must be '2017' or '2018', got {fmt!r}")
        self.path, self.fmt = Path(path), fmt
        self._stack: contextlib.ExitStack | None = None
        self._fh = None
        self._images: list[dict] = []
        self._n_frames = 0
        self._n_ann = 0

    def __enter__(self) -> "PoseTrackWriter":
        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_path(self.path))
        self._fh = self._stack.enter_context(open(tmp, "w", encoding="utf-8"))
        self._fh.write('{"annotations": [' if self.fmt == "2018" else '{"annolist": [')
        return self

    def add(self, frame: FramePoses) -> None:
        if self._fh is None:
            raise RuntimeError("PoseTrackWriter.add outside its 'with' block")
        where = f"{self.path}: frame {self._n_frames} ({frame.file_name})"
        if self.fmt == "2018":
            for k, person in enumerate(frame.people):
                ann = _ann_2018(person, frame.image_id, self._n_ann, f"{where}: person {k}")
                self._fh.write(("," if self._n_ann else "") + json.dumps(ann))
                self._n_ann += 1
            im: dict[str, Any] = {"id": frame.image_id, "file_name": frame.file_name, "frame_id": frame.frame_id,
                                  "vid_id": frame.vid_id or name_vid(frame.file_name),
                                  "nframes": frame.nframes, "is_labeled": bool(frame.is_labeled)}
            if frame.ignore_regions:
                im["ignore_regions_x"] = [[_f(v) for v in r[:, 0]] for r in frame.ignore_regions]
                im["ignore_regions_y"] = [[_f(v) for v in r[:, 1]] for r in frame.ignore_regions]
            if frame.width is not None:
                im["width"], im["height"] = frame.width, frame.height
            if frame.has_labeled_person is not None:
                im["has_labeled_person"] = bool(frame.has_labeled_person)
            self._images.append(im)
        else:
            rec: dict[str, Any] = {"image": [{"name": frame.file_name}],
                                   "imgnum": [_imgnum(frame.file_name, self._n_frames)],
                                   "is_labeled": [int(bool(frame.is_labeled))]}
            if frame.ignore_regions:
                rec["ignore_regions"] = [{"point": [{"x": [_f(x)], "y": [_f(y)]} for x, y in r]}
                                         for r in frame.ignore_regions]
            rec["annorect"] = [_rect_2017(person, f"{where}: person {k}") for k, person in enumerate(frame.people)]
            self._fh.write(("," if self._n_frames else "") + json.dumps(rec))
        self._n_frames += 1

    def __exit__(self, exc_type, exc, tb) -> bool:
        assert self._stack is not None
        stack, self._stack = self._stack, None
        fh, self._fh = self._fh, None
        try:
            if exc_type is None:
                if self.fmt == "2018":
                    fh.write('], "images": ' + json.dumps(self._images)
                             + ', "categories": ' + json.dumps([PT18_CATEGORY]) + "}")
                else:
                    fh.write("]}")
        except BaseException as err:
            # a failed closing write must reach atomic_path as an error, or it would publish a truncated file
            if not stack.__exit__(type(err), err, err.__traceback__):
                raise
        else:
            stack.__exit__(exc_type, exc, tb)
        return False


def write_video_predictions(path: str | os.PathLike, frames: Iterable[FramePoses], fmt: str = "2018") -> int:
    """Write one video's frames (in GT order) to ``path``; returns the number of frames."""
    with PoseTrackWriter(path, fmt) as w:
        for fr in frames:
            w.add(fr)
        return w._n_frames


def convert_video_file(src: str | os.PathLike, dst: str | os.PathLike, fmt: str) -> int:
    """Rewrite a 2017/2018 file in the other (or same) format; returns the number of frames."""
    return write_video_predictions(dst, VideoFile(src).frames(), fmt)


# --------------------------------------------------------------------------- validation

@dataclass(frozen=True)
class Problem:
    """One defect of a prediction file; ``frame`` / ``person`` are indices (None: whole file / frame)."""

    file: str
    message: str
    frame: int | None = None
    frame_name: str = ""
    person: int | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.frame is not None:
            where.append(f"frame {self.frame}" + (f" ({self.frame_name})" if self.frame_name else ""))
        if self.person is not None:
            where.append(f"person {self.person}")
        return ": ".join(where + [self.message])


def _person_problems(person: PersonPose, size: tuple[Any, Any]) -> list[str]:
    out = []
    if not 0 <= person.track_id < MAX_TRACK_ID:
        out.append(f"track_id {person.track_id} outside [0, {MAX_TRACK_ID})")
    kp = person.keypoints[person.present]
    if not person.present[PT17_TO_PT18].any():
        out.append("no keypoints (poseval still counts the person in its frame)")
    if not np.all(np.isfinite(kp[:, :2])):
        out.append("keypoint coordinates not finite")
    elif size[0] is not None and size[1] is not None:
        # GT itself reaches a little outside the frame (heads cut by the border), so only
        # points more than half an image away are flagged: a sign of wrong scaling
        w, h = float(size[0]), float(size[1])
        bad = (kp[:, 0] < -w / 2) | (kp[:, 0] > 1.5 * w) | (kp[:, 1] < -h / 2) | (kp[:, 1] > 1.5 * h)
        if bad.any():
            slots = [POSETRACK18_KEYPOINTS[s] for s in np.nonzero(person.present)[0][bad]]
            out.append(f"keypoints more than half an image outside the {w:g}x{h:g} frame: {', '.join(slots)}")
    if np.all(np.isnan(kp[:, 2])) and len(kp):
        out.append("keypoint scores missing ('scores' in 2018, point 'score' in 2017); poseval would use -9999")
    elif np.any(~np.isfinite(kp[:, 2])) or np.any(kp[:, 2] < 0):
        out.append("keypoint scores must be finite and >= 0")
    return out


def _raw_point_ids_problems(video: VideoFile, i: int) -> list[tuple[int, str]]:
    """2017 only: a joint id given twice in one person (poseval silently takes the first)."""
    out = []
    if video.format != "2017":
        return out
    for k, rect in enumerate(video._records[i].get("annorect", [])):
        ap = rect.get("annopoints") if isinstance(rect, dict) else None
        if isinstance(ap, list) and ap and isinstance(ap[0], dict) and isinstance(ap[0].get("point"), list):
            ids = [p.get("id", [None])[0] for p in ap[0]["point"] if isinstance(p, dict)]
            dup = sorted({j for j in ids if ids.count(j) > 1 and j is not None})
            if dup:
                out.append((k, f"joint id(s) {dup} given more than once"))
    return out


def validate_video(pred_path: str | os.PathLike, gt_path: str | os.PathLike) -> list[Problem]:
    """Every problem of one prediction file against its GT file."""
    pred_path = str(pred_path)
    try:
        gt = VideoFile(gt_path)
    except PoseTrackFormatError as exc:
        return [Problem(str(gt_path), f"GT unreadable: {exc}")]
    try:
        pr = VideoFile(pred_path)
    except (PoseTrackFormatError, OSError) as exc:
        return [Problem(pred_path, str(exc).removeprefix(f"{pred_path}: "))]
    problems: list[Problem] = [Problem(pred_path, f"annotation {k}: image_id {short_repr(image_id)} matches no image "
                                                  "of the file (its person is never evaluated)")
                               for k, image_id in pr.unmatched]
    if len(pr) != len(gt):
        problems.append(Problem(pred_path, f"{len(pr)} frames, GT has {len(gt)} (poseval pairs frames by position)"))
    for i in range(min(len(pr), len(gt))):
        name = pr.frame_name(i)
        gt_name = gt.frame_name(i)

        def add(msg: str, person: int | None = None) -> None:
            problems.append(Problem(pred_path, msg, i, name, person))

        if name != gt_name:
            add(f"file_name differs from GT frame {i} ({gt_name!r})")
        if pr.format == "2018" and gt.format == "2018" and pr.frame_ids(i) != gt.frame_ids(i):
            add(f"(frame_id, id) {pr.frame_ids(i)} differ from GT {gt.frame_ids(i)}")
        if pr.format == "2018" and posetrack_image_id(name) is None:
            add("file_name must look like images/val/012834_mpii_test/000000.jpg (poseval rebuilds ids from it)")
        ids = pr.raw_track_ids(i)
        dup = sorted({t for t in ids if ids.count(t) > 1}, key=repr)
        if dup:
            add(f"duplicate track id(s) {dup} in one frame")
        for k, msg in _raw_point_ids_problems(pr, i):
            add(msg, k)
        try:
            frame = pr.frame(i)
        except PoseTrackFormatError as exc:
            add(str(exc).split(f"frame {i} ({name}): ", 1)[-1])
            continue
        size = gt.frame_size(i)
        for k, person in enumerate(frame.people):
            for msg in _person_problems(person, size):
                add(msg, k)
    return problems


def validate_predictions(pred_dir: str | os.PathLike, gt_dir: str | os.PathLike) -> list[Problem]:
    """Check a prediction directory against the GT directory: every GT video present and each file valid."""
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    gt_files = sorted(gt_dir.glob("*.json"))
    if not gt_files:
        raise FileNotFoundError(f"no *.json files in GT directory {gt_dir}")
    problems = []
    for gt_path in gt_files:
        pred_path = pred_dir / gt_path.name
        if not pred_path.is_file():
            problems.append(Problem(str(pred_path), f"missing (GT video {gt_path.name} has no prediction file)"))
            continue
        problems += validate_video(pred_path, gt_path)
    gt_names = {p.name for p in gt_files}
    problems += [Problem(str(p), f"no GT video of this name in {gt_dir} (the evaluation ignores this file)")
                 for p in sorted(pred_dir.glob("*.json")) if p.name not in gt_names]
    return problems
