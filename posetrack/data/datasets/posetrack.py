"""PoseTrack 2018 (COCO-style json per video, or combined) and PoseTrack 2017
(``annolist`` json) -> training records in the PoseTrack 2018 joint slots.

The person box is not the annotated one: as the paper (section 4.2) it is the box
around the labelled keypoints, extended by 15 % of its width/height on each side,
clipped to the image; that box then becomes a crop region like any person box
(aspect fit + 1.25 context, ``posetrack.pose.crop.box_to_center_size``), so the
crops match what a detector box gives at test time.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from posetrack.data.datasets.coco import clean_box, coco_people, read_json
from posetrack.data.records import DatasetError, PoseRecord, check_images_exist, require_finite
from posetrack.pose.crop import box_to_center_size

logger = logging.getLogger(__name__)

BOX_EXTEND = 0.15  # paper section 4.2: keypoint box extended by 15 % per side

# PoseTrack 2017 joint ids (0 r_ankle .. 14 head_top) -> PoseTrack 2018 slots.
POSETRACK17_TO_18 = {
    0: 16, 1: 14, 2: 12, 3: 11, 4: 13, 5: 15, 6: 10, 7: 8, 8: 6,
    9: 5, 10: 7, 11: 9, 12: 1, 13: 0, 14: 2,
}


def keypoint_box(joints: np.ndarray, width: float, height: float, extend: float = BOX_EXTEND) -> np.ndarray | None:
    """(x, y, w, h) around the visible joints (K, 3), grown by ``extend`` per side.

    None when fewer than two joints are visible (no extent to grow) or the box
    falls outside the image.
    """
    vis = joints[joints[:, 2] > 0, :2]
    if len(vis) < 2:
        return None
    (x1, y1), (x2, y2) = vis.min(axis=0), vis.max(axis=0)
    w, h = x2 - x1, y2 - y1
    box = [x1 - extend * w, y1 - extend * h, w * (1 + 2 * extend), h * (1 + 2 * extend)]
    return clean_box(box, width, height)


def _frame_index(file_name: str, fallback: int) -> int:
    stem = Path(file_name).stem
    return int(stem) if stem.isdigit() else fallback


def _annotation_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise DatasetError(f"{path}: no *.json annotation files in this folder")
        return files
    return [path]


def _record(root: Path, file_name: str, joints, image_size, aspect_ratio, **ids) -> PoseRecord | None:
    box = keypoint_box(joints, *image_size)
    if box is None:
        return None
    center, size = box_to_center_size(box[None], aspect_ratio)
    return PoseRecord(image=root / file_name, center=center[0], box_size=size[0], joints=joints,
                      area=float(box[2] * box[3]), **ids)


def _image_size(image: dict, path: Path) -> tuple[float, float]:
    try:
        return float(image["width"]), float(image["height"])
    except KeyError as exc:
        raise DatasetError(f"{path}: image {image.get('file_name')}: missing field {exc}") from None


def _load_2018(path: Path, data: dict, root: Path, aspect_ratio: float) -> tuple[list[PoseRecord], int]:
    records, dropped = [], 0
    for image, ann, joints in coco_people(data, path):
        name = image["file_name"]
        rec = _record(
            root, name, joints, _image_size(image, path), aspect_ratio,
            image_id=int(image["id"]), video_id=Path(name).parent.name,
            frame_id=_frame_index(name, int(image.get("frame_id", -1))), track_id=int(ann.get("track_id", -1)),
        )
        dropped += rec is None
        if rec is not None:
            records.append(rec)
    return records, dropped


def _load_2017(path: Path, data: dict, root: Path, aspect_ratio: float) -> tuple[list[PoseRecord], int]:
    """``annolist`` frames: image size is read from the image header (2017 files lack it)."""
    from PIL import Image  # reads only the header here

    records, dropped = [], 0
    for f, frame in enumerate(data["annolist"]):
        try:
            name = frame["image"][0]["name"]
        except (KeyError, IndexError, TypeError):
            raise DatasetError(f"{path}: annolist[{f}]: missing field 'image[0].name'") from None
        rects = frame.get("annorect") or []
        if not rects:
            continue
        image_file = root / name
        try:
            with Image.open(image_file) as im:
                size = im.size
        except OSError as exc:
            raise DatasetError(f"{path}: annolist[{f}]: image missing or unreadable: {image_file} ({exc})") from None
        for p, rect in enumerate(rects):
            joints = np.zeros((17, 3))
            points = (rect.get("annopoints") or [{}])[0].get("point") or []
            try:
                for point in points:
                    slot = POSETRACK17_TO_18[_scalar(point["id"])]
                    visible = _scalar(point.get("is_visible", 1))
                    joints[slot] = (_scalar(point["x"]), _scalar(point["y"]), 1.0 if int(visible) > 0 else 0.0)
            except (KeyError, TypeError, ValueError) as exc:
                raise DatasetError(f"{path}: annolist[{f}].annorect[{p}]: bad annopoints point ({exc})") from None
            require_finite(joints, path, f"annolist[{f}].annorect[{p}]", "'annopoints'")
            if joints[:, 2].sum() == 0:
                continue
            rec = _record(root, name, joints, size, aspect_ratio, video_id=Path(name).parent.name,
                          frame_id=_frame_index(name, f), track_id=int(_scalar(rect.get("track_id", -1))))
            dropped += rec is None
            if rec is not None:
                records.append(rec)
    return records, dropped


def _scalar(value):
    """2017 files store every number as a one-element list (a MATLAB conversion artefact)."""
    return value[0] if isinstance(value, list) else value


def load_posetrack(ann_path: str | Path, root: str | Path, *, aspect_ratio: float) -> list[PoseRecord]:
    """Read PoseTrack annotations into records with 17 joints in 2018 slot order.

    Args:
        ann_path: one json (a video or several combined) or a folder of per-video
            json files; 2017 ``annolist`` and 2018 COCO-style files are detected.
        root: folder the ``file_name`` / ``image.name`` paths are relative to
            (the dataset root that holds ``images/``).
        aspect_ratio: model input width / height.

    People with fewer than two visible joints are skipped (no box can be made).
    """
    ann_path, root = Path(ann_path), Path(root)
    records: list[PoseRecord] = []
    dropped = 0
    for path in _annotation_files(ann_path):
        data = read_json(path)
        if isinstance(data, dict) and "annolist" in data:
            recs, d = _load_2017(path, data, root, aspect_ratio)
        else:
            recs, d = _load_2018(path, data, root, aspect_ratio)
        records += recs
        dropped += d
        check_images_exist(recs, path)
    # 2017 files have no image ids: number their frames after every 2018 id in use.
    ids: dict[Path, int] = {}
    base = max((r.image_id for r in records), default=-1) + 1
    records = [r if r.image_id >= 0 else replace(r, image_id=ids.setdefault(r.image, base + len(ids)))
               for r in records]
    if dropped:
        logger.info("%s: skipped %d people with < 2 visible joints or a box outside the frame", ann_path, dropped)
    logger.info("%s: %d training people", ann_path, len(records))
    return records
