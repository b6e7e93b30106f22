"""COCO keypoints (``person_keypoints_*.json``) -> training records with GT boxes.

Follows the official ``lib/dataset/coco.py``: only the ``person`` category; the
box is the "clean bbox" (clipped to the image, dropped when it has no area or lies
outside the image); people without any labelled keypoint and crowd regions are
skipped; box -> crop region by ``posetrack.pose.crop.box_to_center_size``
(aspect fit + 1.25 context).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from posetrack.data.records import DatasetError, PoseRecord, check_images_exist, require_finite
from posetrack.io.jsonfile import read_json as read_json_file
from posetrack.pose.crop import box_to_center_size

logger = logging.getLogger(__name__)


def read_json(path: Path) -> Any:
    """Parse an annotation file; errors name the file."""
    if not path.is_file():
        raise DatasetError(f"annotation file not found: {path}")
    return read_json_file(path, DatasetError)


def clean_box(bbox: list[float], width: float, height: float) -> np.ndarray | None:
    """Official clean bbox: clip (x, y, w, h) to the image; None when nothing is left."""
    x, y, w, h = (float(v) for v in bbox)
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(width - 1, x1 + max(0.0, w - 1))
    y2 = min(height - 1, y1 + max(0.0, h - 1))
    if x2 < x1 or y2 < y1:
        return None
    return np.array([x1, y1, x2 - x1, y2 - y1])


def coco_people(data: dict, path: Path) -> Iterator[tuple[dict, dict, np.ndarray]]:
    """Yield (image entry, annotation, joints (K, 3)) for every usable person annotation.

    Shared by the COCO and PoseTrack 2018 readers (both are COCO-style files).
    Skips crowd regions and people without a labelled keypoint (official:
    ``max(obj['keypoints']) == 0``; here: no joint with v > 0, the same on COCO and
    also safe for files that keep coordinates of unlabelled joints).
    """
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: top level must be an object with 'images', 'annotations' and 'categories', "
                           f"got a {type(data).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DatasetError(f"{path}: missing list field '{key}' (not a COCO keypoint file?)")
    person_ids = {c.get("id") for c in data["categories"] if c.get("name") == "person"}
    if not person_ids:
        raise DatasetError(f"{path}: no 'person' category")
    images = {img["id"]: img for img in data["images"]}
    for i, ann in enumerate(data["annotations"]):
        try:
            if ann["category_id"] not in person_ids or ann.get("iscrowd", 0):
                continue
            raw = np.asarray(ann["keypoints"])
            if raw.dtype.kind not in "iuf":  # strings ("12"), null, integers beyond int64
                raise ValueError("not numbers")
            joints = raw.astype(np.float64).reshape(-1, 3)
            image = images[ann["image_id"]]
        except KeyError as exc:
            raise DatasetError(f"{path}: annotations[{i}] (id {ann.get('id')}): missing field {exc}") from None
        except ValueError:
            raise DatasetError(
                f"{path}: annotations[{i}] (id {ann.get('id')}): 'keypoints' is not a list of x, y, v number triples"
            ) from None
        require_finite(joints, path, f"annotations[{i}] (id {ann.get('id')})", "'keypoints'")
        joints[:, 2] = (joints[:, 2] > 0).astype(np.float64)  # official: v > 1 -> 1
        if joints[:, 2].sum() == 0:
            continue
        yield image, ann, joints


def load_coco(
    ann_file: str | Path, image_dir: str | Path, *, aspect_ratio: float, num_joints: int = 17
) -> list[PoseRecord]:
    """Read a COCO keypoint file into one record per usable GT person.

    Args:
        ann_file: ``person_keypoints_*.json``.
        image_dir: folder holding the images named by ``file_name``.
        aspect_ratio: model input width / height (the crop region is fitted to it).
        num_joints: K; an annotation with another joint count is an error.

    Raises DatasetError naming the file for malformed JSON, missing fields and
    images that do not exist.
    """
    ann_file, image_dir = Path(ann_file), Path(image_dir)
    data = read_json(ann_file)
    records: list[PoseRecord] = []
    dropped = 0
    for image, ann, joints in coco_people(data, ann_file):
        if joints.shape[0] != num_joints:
            raise DatasetError(f"{ann_file}: annotation {ann.get('id')} has {joints.shape[0]} joints, expected {num_joints}")
        where = f"annotation {ann.get('id')}"
        try:
            bbox = np.asarray(ann["bbox"], dtype=np.float64).reshape(4)
            size = np.asarray([image["width"], image["height"], ann.get("area", 1)], dtype=np.float64)
        except KeyError as exc:
            raise DatasetError(f"{ann_file}: {where}: missing field {exc}") from None
        except (TypeError, ValueError):
            raise DatasetError(f"{ann_file}: {where}: 'bbox' must be [x, y, w, h] and image width, height and "
                               "area numbers") from None
        require_finite(bbox, ann_file, where, "'bbox'")
        require_finite(size, ann_file, where, "'area' and the image's 'width', 'height'")
        box = clean_box(bbox, size[0], size[1])
        if box is None or ann.get("area", 1) <= 0:
            dropped += 1  # box outside the image or empty: official drops it
            continue
        center, size = box_to_center_size(box[None], aspect_ratio)
        records.append(PoseRecord(
            image=image_dir / image["file_name"], center=center[0], box_size=size[0], joints=joints,
            image_id=int(image["id"]), area=float(ann.get("area", box[2] * box[3])),
        ))
    if dropped:
        logger.info("%s: dropped %d people whose box is empty or outside the image", ann_file, dropped)
    check_images_exist(records, ann_file)
    logger.info("%s: %d training people", ann_file, len(records))
    return records
