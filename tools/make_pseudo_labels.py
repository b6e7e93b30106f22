"""Pseudo-labelled COCO keypoint set for distilling a small HRNet from the BlazePose teacher.

Run from the repository root with the teacher environment's Python (``mediapipe`` pins
numpy < 2, see ``tools/teacher/blazepose.py``)::

    /work/teacher-venv/bin/python -m tools.make_pseudo_labels --out /work/demo_data

Sources (``--data``, default the checkout's sibling ``../shared/data``) and splits; whole
videos (or the tail of one) are kept apart for validation:

    source            frames                         boxes                        split
    video.avi         every ``--every``-th           HOG (+ teacher, see below)   train
    demo.mp4          every frame (5)                HOG (+ teacher)              train
    vtest.avi         every ``--every``-th, < 600    HOG (+ teacher)              train
    vtest.avi         every ``--every``-th, >= 600   HOG (+ teacher)              val
    coco_sample       4 images                       COCO ground-truth boxes      train
    posetrack18_gt    3 annotated frames             PoseTrack ground-truth boxes train
    posetrack18_test  10 frames of 000001_mpiinew    HOG (+ teacher)              train

Boxes: ``HOGPersonDetector(score_threshold=--hog-threshold)`` (a low threshold: the teacher
filter below removes most false positives). With ``--teacher-boxes`` (default on) BlazePose
also looks at the whole frame once; the person it finds there, if no box overlaps it
(IoU < 0.3), gets the FlowTrack box of its confident keypoints (+15 %) and is labelled from
that box's crop like the others (box_source "teacher").

Keypoints: the teacher on the box's crop (box x1.25). Filter rule, per person: the teacher
found a pose; a keypoint is kept when its visibility >= ``--kpt-threshold`` (0.5) and it lies
inside the image and the crop; at least ``--min-visible`` (8) of 17 are kept, ``--min-body``
(6) of them among the 12 body keypoints (BlazePose rates face points visible even from
behind); the mean of the kept keypoints lies inside the person box (the teacher labelled this
box's person, not a neighbour), and they span at least ``--min-extent`` (0.5) of the box
height (a whole person, not a fragment). Boxes lower than 40 px are not labelled.
Kept keypoints get v=2; the others v=0 with x=y=0 (COCO convention). Every annotation also
carries ``keypoint_scores`` (17 teacher visibilities), ``teacher_keypoints`` (51 raw
values), ``box_source``, ``crop_region`` (the teacher's input, x0 y0 x1 y1) and ``score``
(mean visibility of its kept keypoints). ``area`` is
the box's w*h (lenient against COCO, whose segment areas are ~0.4-0.6 of that).

Outputs under ``--out`` (outside the repository; nothing is overwritten half-way):

    images/<source>/<frame>.jpg                  sampled frames (JPEG q95; sample images copied)
    annotations/person_keypoints_{train,val}.json
    crops_index.json                             every candidate box: image, split, box,
                                                 crop region, teacher result, kept or why not
    parts/<source>.json                          per-source results; a rerun skips done sources

``--fixture tests/data/teacher_heldout_vtest.json`` also writes a few evenly spaced validation
frames' labels (frames named by video and index, no pixels) for tests of the distilled model.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from posetrack.io.atomic import atomic_path, write_json_atomic
from posetrack.io.posetrack_json import PT18_CATEGORY
from posetrack.pose.keypoints import COCO_KEYPOINTS

logger = logging.getLogger("make_pseudo_labels")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"

TEACHER_BOX_MAX_IOU = 0.3  # a whole-frame teacher person overlapping a box more than this is a duplicate
TEACHER_BOX_ENLARGE = 0.15  # FlowTrack's keypoint-box growth
BODY = slice(5, 17)  # shoulders .. ankles in COCO order


@dataclass(frozen=True)
class Frame:
    """One sampled image: where it goes, its split and (for annotated samples) GT boxes (N, 4) xywh."""

    index: int
    image: np.ndarray  # (H, W, 3) uint8 RGB
    file_name: str  # relative to OUT/images
    split: str
    gt_boxes: np.ndarray | None = None
    copy_from: Path | None = None  # original JPEG to copy byte-for-byte instead of re-encoding


@dataclass(frozen=True)
class Rules:
    """The filter rule's numbers (see the module docstring)."""

    min_visible: int = 8  # of 17 keypoints
    min_body: int = 6  # of the 12 body keypoints (shoulders..ankles): face points alone are not a pose
    kpt_threshold: float = 0.5  # teacher visibility of a kept keypoint
    min_extent: float = 0.5  # kept keypoints span at least this fraction of the box height
    min_box_height: float = 40.0  # px; smaller people give the teacher too few pixels


def video_frames(path: Path, source: str, every: int, split_of) -> Iterator[Frame]:
    from posetrack.io.video import read_frames

    for frame in read_frames(path):
        if frame.index % every == 0:
            yield Frame(frame.index, frame.image, f"{source}/{frame.index:06d}.jpg", split_of(frame.index))


def coco_frames(ann_file: Path, image_root: Path, source: str) -> Iterator[Frame]:
    """Images of a COCO-style keypoint file with their non-crowd person boxes."""
    from posetrack.io.image import read_image_rgb

    data = json.loads(ann_file.read_text())
    for index, image in enumerate(sorted(data["images"], key=lambda im: im["id"])):
        boxes = [a["bbox"] for a in data["annotations"] if a["image_id"] == image["id"] and not a.get("iscrowd", 0)]
        path = image_root / image["file_name"]
        yield Frame(index, read_image_rgb(path), f"{source}/{index:06d}.jpg", "train",
                    gt_boxes=np.asarray(boxes, np.float32).reshape(-1, 4), copy_from=path)


# Video sources -> their file under the sample data folder.
VIDEO_FILES = {"video": "videos/video.avi", "demo": "videos/demo.mp4", "vtest": "videos/vtest.avi"}


def sources(data: Path, every: int, val_from: int) -> dict[str, Callable[[], Iterator[Frame]]]:
    """Source name -> frame iterator factory (see the module docstring)."""
    pt18 = data / "posetrack18_sample"
    return {
        "video": lambda: video_frames(data / VIDEO_FILES["video"], "video", every, lambda i: "train"),
        "demo": lambda: video_frames(data / VIDEO_FILES["demo"], "demo", 1, lambda i: "train"),
        "vtest": lambda: video_frames(data / VIDEO_FILES["vtest"], "vtest", every,
                                      lambda i: "train" if i < val_from else "val"),
        "coco_sample": lambda: coco_frames(data / "coco_sample" / "test_coco.json", data / "coco_sample",
                                           "coco_sample"),
        "posetrack18_gt": lambda: coco_frames(pt18 / "annotations" / "test_posetrack18_val.json", pt18,
                                              "posetrack18_gt"),
        "posetrack18_test": lambda: video_frames(pt18 / "videos" / "000001_mpiinew_test", "posetrack18_test",
                                                 1, lambda i: "train"),
    }


def accept(keypoints: np.ndarray | None, box_xywh: np.ndarray, region: np.ndarray, width: int, height: int,
           rules: Rules) -> tuple[np.ndarray, str]:
    """Apply the filter rule to one teacher pose (17, 3) (None: the teacher found nobody)
    -> (kept keypoints (17,) bool, "" or why the person is rejected).

    ``region`` is the teacher's crop (x0, y0, x1, y1); BlazePose extrapolates points beyond
    its input, and those are not kept.
    """
    x, y, w, h = box_xywh
    if h < rules.min_box_height:
        return np.zeros(17, bool), f"box {h:.0f} px high < {rules.min_box_height:.0f}"
    if keypoints is None:
        return np.zeros(17, bool), "no pose found"
    px, py = keypoints[:, 0], keypoints[:, 1]
    inside = (px >= max(0, region[0])) & (px < min(width, region[2])) & (py >= max(0, region[1])) & (py < min(height, region[3]))
    visible = (keypoints[:, 2] >= rules.kpt_threshold) & inside
    body = int(visible[BODY].sum())
    if visible.sum() < rules.min_visible or body < rules.min_body:
        return visible, f"{int(visible.sum())} visible keypoints ({body} body) < {rules.min_visible} ({rules.min_body})"
    cx, cy = keypoints[visible, :2].mean(0)
    if not (x <= cx <= x + w and y <= cy <= y + h):
        return visible, "keypoints centred outside the box (another person?)"
    extent = np.ptp(py[visible])
    if extent < rules.min_extent * h:
        return visible, f"keypoints span {extent:.0f} px < {rules.min_extent} x box height {h:.0f}"
    return visible, ""


def box_iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import torch
    from torchvision.ops import box_convert, box_iou

    ta, tb = (box_convert(torch.as_tensor(v, dtype=torch.float32).reshape(-1, 4), "xywh", "xyxy") for v in (a, b))
    return box_iou(ta, tb).numpy()


def candidate_boxes(frame: Frame, detector, teacher, teacher_boxes: bool) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Person boxes (N, 4) xywh of one frame, where each came from, and their scores (N,)."""
    from posetrack.track.stages.propagate import keypoint_boxes

    if frame.gt_boxes is not None:
        return frame.gt_boxes, ["gt"] * len(frame.gt_boxes), np.ones(len(frame.gt_boxes), np.float32)
    boxes, scores = detector(frame.image)
    origins = ["hog"] * len(boxes)
    if teacher_boxes:
        height, width = frame.image.shape[:2]
        pose = teacher.pose_in_region(frame.image, np.array([0, 0, width, height]))
        if pose is not None:
            x1, y1, x2, y2 = keypoint_boxes(pose[None], TEACHER_BOX_ENLARGE, min_joint_score=0.5)[0]
            box = np.array([[x1, y1, x2 - x1, y2 - y1]], np.float32)
            if box[0, 2] > 1 and box[0, 3] > 1 and (len(boxes) == 0 or box_iou_xywh(box, boxes).max() < TEACHER_BOX_MAX_IOU):
                boxes = np.concatenate([boxes, box])
                scores = np.append(scores, np.float32(pose[:, 2].mean()))
                origins.append("teacher")
    return boxes, origins, scores


def label_source(name: str, frames: Iterator[Frame], out: Path, detector, teacher, rules: Rules,
                 teacher_boxes: bool) -> dict:
    """Write the frames of one source as JPEGs and return its images and candidate people."""
    import cv2

    from tools.teacher.blazepose import crop_region

    images, people = [], []
    boxes_s, teacher_s, crops = 0.0, 0.0, 0
    (out / "images" / name).mkdir(parents=True, exist_ok=True)
    for frame in frames:
        height, width = frame.image.shape[:2]
        target = out / "images" / frame.file_name
        if frame.copy_from is not None:
            with atomic_path(target) as tmp:
                shutil.copyfile(frame.copy_from, tmp)
        else:
            with atomic_path(target) as tmp:
                if not cv2.imwrite(str(tmp), cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95]):
                    raise OSError(f"cannot write {target}")
        images.append({"file_name": frame.file_name, "width": width, "height": height, "source": name,
                       "frame_index": frame.index, "split": frame.split})
        start = time.perf_counter()
        boxes, origins, box_scores = candidate_boxes(frame, detector, teacher, teacher_boxes)
        boxes_s += time.perf_counter() - start
        start = time.perf_counter()
        keypoints, found = teacher(frame.image, boxes)
        teacher_s += time.perf_counter() - start
        crops += len(boxes)
        for box, origin, box_score, kpts, ok in zip(boxes, origins, box_scores, keypoints, found):
            region = crop_region(box, teacher.enlarge)
            visible, reason = accept(kpts if ok else None, box, region, width, height, rules)
            people.append({
                "file_name": frame.file_name, "bbox": [round(float(v), 2) for v in box], "box_source": origin,
                "box_score": round(float(box_score), 4), "crop_region": region.tolist(),
                "teacher_found": bool(ok), "teacher_keypoints": [round(float(v), 3) for v in kpts.reshape(-1)],
                "visible": visible.astype(int).tolist(), "kept": not reason, "reason": reason,
            })
    kept = sum(p["kept"] for p in people)
    logger.info("%s: %d images, %d candidate boxes, %d kept; boxes %.1f s (HOG + whole-frame teacher), "
                "teacher on crops %.1f s (%.0f ms/crop)", name, len(images), len(people), kept, boxes_s,
                teacher_s, 1000 * teacher_s / max(crops, 1))
    return {"images": images, "people": people, "box_seconds": boxes_s, "teacher_seconds": teacher_s}


def coco_annotation(person: dict, image_id: int, ann_id: int) -> dict:
    raw = np.asarray(person["teacher_keypoints"], np.float32).reshape(17, 3)
    visible = np.asarray(person["visible"], bool)
    kpts = np.zeros((17, 3), np.float32)
    kpts[visible, :2] = raw[visible, :2]
    kpts[visible, 2] = 2
    x, y, w, h = person["bbox"]
    return {
        "id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0, "bbox": person["bbox"],
        "area": round(w * h, 2), "num_keypoints": int(visible.sum()),
        "keypoints": [round(float(v), 2) for v in kpts.reshape(-1)],
        "keypoint_scores": [round(float(v), 3) for v in raw[:, 2]],
        "teacher_keypoints": person["teacher_keypoints"],
        "score": round(float(raw[visible, 2].mean()), 4), "box_source": person["box_source"],
        "crop_region": person["crop_region"],  # the teacher's exact input (x0, y0, x1, y1), image px
    }


def assemble(parts: dict[str, dict], out: Path) -> tuple[dict[str, dict], dict[str, dict[str, int]]]:
    """Merge the per-source parts into the train/val COCO files and the crops index.

    Returns the split name -> COCO dict and per-source counts."""
    # PoseTrack 2018's person category has COCO's skeleton (same 17 slots); only the names differ.
    category = {**PT18_CATEGORY, "keypoints": list(COCO_KEYPOINTS)}
    splits = {split: {"images": [], "annotations": [], "categories": [category]} for split in ("train", "val")}
    index, image_ids = [], {}
    for part in parts.values():
        for image in part["images"]:
            image_ids[image["file_name"]] = len(image_ids) + 1
            splits[image["split"]]["images"].append({"id": image_ids[image["file_name"]], **image})
    split_of = {im["file_name"]: im["split"] for part in parts.values() for im in part["images"]}
    ann_id = 0
    for part in parts.values():
        for person in part["people"]:
            entry = {"split": split_of[person["file_name"]], "annotation_id": None, **person}
            if person["kept"]:
                ann_id += 1
                entry["annotation_id"] = ann_id
                splits[entry["split"]]["annotations"].append(
                    coco_annotation(person, image_ids[person["file_name"]], ann_id))
            index.append(entry)
    (out / "annotations").mkdir(exist_ok=True)
    for split, data in splits.items():
        data["info"] = {"description": f"BlazePose (mediapipe 0.10.21, full) pseudo-labels, {split} split",
                        "image_root": str(out / "images")}
        write_json_atomic(out / "annotations" / f"person_keypoints_{split}.json", data)
    write_json_atomic(out / "crops_index.json", index)
    counts = {}
    for name, part in parts.items():
        kept = [p for p in part["people"] if p["kept"]]
        counts[name] = {"images": len(part["images"]), "candidates": len(part["people"]), "kept": len(kept),
                        "kept_by_teacher_box": sum(p["box_source"] == "teacher" for p in kept),
                        "box_s": round(part["box_seconds"], 1), "teacher_s": round(part["teacher_seconds"], 1)}
    for split, data in splits.items():
        counts[f"TOTAL {split}"] = {"images": len(data["images"]), "kept": len(data["annotations"])}
    return splits, counts


def heldout_fixture(val: dict, num_frames: int) -> dict:
    """A few evenly spaced validation video frames with people and their teacher labels: small
    enough to live in ``tests/data``; each image names its video (relative to the sample data
    folder) and frame index, so tests decode it instead of storing pixels."""
    annotated = {a["image_id"] for a in val["annotations"]}
    images = [im for im in val["images"] if im["id"] in annotated and im["source"] in VIDEO_FILES]
    picked = images[:: max(1, len(images) // num_frames)][:num_frames]
    ids = {im["id"] for im in picked}
    return {
        "info": {"description": f"{len(picked)} held-out frames with BlazePose teacher labels "
                                "(tools/make_pseudo_labels.py --fixture)"},
        "images": [{**im, "video": VIDEO_FILES[im["source"]]} for im in picked],
        "annotations": [{k: v for k, v in a.items() if k != "teacher_keypoints"}
                        for a in val["annotations"] if a["image_id"] in ids],
        "categories": val["categories"],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.make_pseudo_labels", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder (outside the repository)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared sample data folder")
    parser.add_argument("--every", type=int, default=2, help="keep every N-th video frame")
    parser.add_argument("--val-from", type=int, default=600, help="vtest.avi frames from this index are validation")
    parser.add_argument("--hog-threshold", type=float, default=0.3, help="HOG SVM score threshold for candidate boxes")
    parser.add_argument("--min-visible", type=int, default=8, help="keypoints with visibility >= --kpt-threshold needed")
    parser.add_argument("--min-body", type=int, default=6, help="of them among the 12 body keypoints")
    parser.add_argument("--kpt-threshold", type=float, default=0.5, help="teacher visibility of a kept keypoint")
    parser.add_argument("--min-extent", type=float, default=0.5, help="kept keypoints' height / box height at least")
    parser.add_argument("--no-teacher-boxes", dest="teacher_boxes", action="store_false",
                        help="do not add the whole-frame teacher person where HOG has no box")
    parser.add_argument("--sources", nargs="+", help="only these sources (default: all)")
    parser.add_argument("--max-frames", type=int, default=None, help="stop each source after N sampled frames (trial runs)")
    parser.add_argument("--redo", action="store_true", help="recompute sources already in OUT/parts")
    parser.add_argument("--fixture", type=Path, help="also write a few held-out frames' labels here (tests/data)")
    parser.add_argument("--fixture-frames", type=int, default=6, help="frames in --fixture")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import itertools

    from posetrack.track.stages.hog_detector import HOGPersonDetector
    from tools.teacher.blazepose import BlazePoseTeacher

    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.every < 1:
        raise SystemExit("--every must be >= 1")
    if not args.data.is_dir():
        raise SystemExit(f"sample data folder not found: {args.data}")
    if args.out.resolve().is_relative_to(REPO):
        raise SystemExit(f"--out {args.out} is inside the repository; generated data belongs outside it")
    all_sources = sources(args.data, args.every, args.val_from)
    chosen = args.sources or list(all_sources)
    unknown = sorted(set(chosen) - set(all_sources))
    if unknown:
        raise SystemExit(f"unknown source(s) {unknown}; known: {sorted(all_sources)}")
    (args.out / "parts").mkdir(parents=True, exist_ok=True)
    detector = HOGPersonDetector(score_threshold=args.hog_threshold)
    rules = Rules(min_visible=args.min_visible, min_body=args.min_body, kpt_threshold=args.kpt_threshold,
                  min_extent=args.min_extent)
    parts = {}
    with BlazePoseTeacher() as teacher:
        for name in chosen:
            part_file = args.out / "parts" / f"{name}.json"
            if part_file.is_file() and not args.redo:
                logger.info("%s: done before, reusing %s", name, part_file)
                parts[name] = json.loads(part_file.read_text())
                continue
            frames = itertools.islice(all_sources[name](), args.max_frames)
            parts[name] = label_source(name, frames, args.out, detector, teacher, rules, args.teacher_boxes)
            write_json_atomic(part_file, parts[name])
    # Sources labelled by earlier runs stay in the set (a run may redo only some).
    for name in all_sources:
        part_file = args.out / "parts" / f"{name}.json"
        if name not in parts and part_file.is_file():
            parts[name] = json.loads(part_file.read_text())
    parts = {name: parts[name] for name in all_sources if name in parts}
    splits, counts = assemble(parts, args.out)
    if args.fixture is not None:
        write_json_atomic(args.fixture, heldout_fixture(splits["val"], args.fixture_frames), indent=1)
        print(f"wrote {args.fixture}")
    print(f"{'source':<18}{'images':>8}{'boxes':>8}{'kept':>7}{'teacher-box':>13}{'boxes s':>9}{'teacher s':>11}")
    for name, c in counts.items():
        print(f"{name:<18}{c['images']:>8}{c.get('candidates', ''):>8}{c['kept']:>7}"
              f"{c.get('kept_by_teacher_box', ''):>13}{c.get('box_s', ''):>9}{c.get('teacher_s', ''):>11}")
    print(f"wrote {args.out / 'annotations'}/person_keypoints_{{train,val}}.json, {args.out / 'crops_index.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
