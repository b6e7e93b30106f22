"""Write small generated PoseTrack21 GT/prediction sets (the kit-agreement cases of tests/test_eval_hota.py).

Each set is ``OUT/gt/*.json`` and ``OUT/pred/*.json`` in the PoseTrack21 layout (PoseTrack18 plus
``person_id`` and ``has_labeled_person``; every image carries ``ignore_regions_x/y``, as the
official kit requires). Predictions are the GT moved by Gaussian noise (a fraction of the head
size), with dropped joints, far-off joints, missed people, false people, identity switches and,
optionally, frames or whole videos without predictions. Every labelled GT frame keeps at least one
person after its ignore regions (the kit crashes otherwise); absent joints are (0, 0, 0) and present
ones have x, y > 0 and a score > 0, so every reading of "joint present" agrees.

    python -m tools.make_posetrack21_cases OUT --seed 1 [--videos 3 --frames 12 --people 3 --empty-frames 0.1 --empty-video]
    python -m tools.make_posetrack21_cases OUT --from-gt GT_DIR    # only OUT/pred, for existing GT files
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from posetrack.io.posetrack_json import PT18_CATEGORY

W, H = 1920, 1080
# a standing skeleton in head-size units, PoseTrack18 slot order (ears unused)
_TEMPLATE = np.array([
    [0, -3.2], [0, -2.6], [0, -4.2], [0, 0], [0, 0], [-1.2, -2.2], [1.2, -2.2], [-1.6, -0.8], [1.6, -0.8],
    [-1.8, 0.4], [1.8, 0.4], [-0.7, 0.6], [0.7, 0.6], [-0.8, 2.6], [0.8, 2.6], [-0.8, 4.6], [0.8, 4.6]])


def _poses(rng: np.random.Generator, people: int, frames: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
    """(people, frames, 17, 2) moving skeletons, starting within ``spread`` px of the image centre
    (capped to keep them inside), and (people,) head sizes in px."""
    head = rng.uniform(25, 70, people)
    reach = np.minimum(spread, [W / 2 - 300, H / 2 - 350])
    start = rng.uniform([W / 2, H / 2] - reach, [W / 2, H / 2] + reach, (people, 2))
    step = rng.normal(0, 6, (people, 1, 2))
    centre = start[:, None] + np.cumsum(np.repeat(step, frames, axis=1), axis=1)
    wobble = rng.normal(0, 0.15, (people, frames, 17, 2))
    xy = centre[:, :, None] + (_TEMPLATE + wobble) * head[:, None, None, None]
    return np.clip(xy, 5, [W - 5, H - 5]), head


def _head_box(xy: np.ndarray, head: float) -> list[float]:
    """[x, y, w, h] around head_top / head_bottom whose 0.6 x diagonal is about ``head`` px."""
    cx, cy = (xy[1] + xy[2]) / 2
    side = round(head / 0.6 / np.sqrt(2), 1)
    return [round(cx - side / 2, 1), round(cy - side / 2, 1), side, side]


def _flat(kp: np.ndarray) -> list[float]:
    return [round(float(v), 3) for v in kp.ravel()]


def make_video(rng: np.random.Generator, seq: int, frames: int, people: int, args: argparse.Namespace,
               with_predictions: bool) -> tuple[dict, dict]:
    name = f"{seq:06d}_mpii_test"
    xy, head = _poses(rng, people, frames, args.spread)
    present = rng.random((people, frames, 17)) > 0.12
    present[..., 3:5] = False
    first = rng.integers(0, max(1, frames // 3), people)  # people enter and leave
    last = frames - rng.integers(0, max(1, frames // 3), people)
    pred_id = rng.permutation(people) + 1
    next_id = people + 1
    images, gt_anns, pr_anns = [], [], []
    for f in range(frames):
        image_id = int(f"1{seq:06d}{f:04d}")
        labeled = f % 4 != 3
        here = [p for p in range(people) if first[p] <= f < last[p]] or [int(rng.integers(people))]
        regions: list[np.ndarray] = []
        if labeled and rng.random() < 0.3:  # around one person's feet: it never covers a whole person
            p = here[int(rng.integers(len(here)))]
            c = xy[p, f, 13:17].mean(axis=0)
            regions.append(c + rng.uniform(0.5, 3.0) * head[p] * np.array([[-1, -1], [1.2, -0.8], [0.9, 1.1], [-1.1, 0.9]]))
        im = {"id": image_id, "frame_id": image_id, "file_name": f"images/val/{name}/{f:06d}.jpg",
              "vid_id": f"{seq:06d}", "nframes": frames, "is_labeled": labeled,
              "has_labeled_person": labeled, "width": W, "height": H,
              "ignore_regions_x": [np.round(r[:, 0], 1).tolist() for r in regions],
              "ignore_regions_y": [np.round(r[:, 1], 1).tolist() for r in regions]}
        images.append(im)
        if labeled:
            for p in here:
                kp = np.zeros((17, 3))
                kp[present[p, f], :2] = np.round(xy[p, f, present[p, f]], 2)
                kp[present[p, f], 2] = 1
                gt_anns.append({"id": len(gt_anns), "image_id": image_id, "category_id": 1, "track_id": int(p),
                                "person_id": int(1000 * seq + p), "keypoints": _flat(kp), "scores": [],
                                "bbox_head": _head_box(xy[p, f], head[p]),
                                "bbox": [float(xy[p, f, :, 0].min()), float(xy[p, f, :, 1].min()), 50.0, 150.0]})
        if not with_predictions or rng.random() < args.empty_frames:
            continue
        for p in here:
            if rng.random() < args.missed:
                continue
            if rng.random() < args.switches:
                pred_id[p], next_id = next_id, next_id + 1
            kp = np.zeros((17, 3))
            kp[:, :2] = xy[p, f] + rng.normal(0, args.noise, (17, 2)) * head[p]
            far = rng.random(17) < 0.05
            kp[far, :2] += rng.uniform(-4, 4, (int(far.sum()), 2)) * head[p]
            kp[:, 2] = rng.uniform(0.05, 1.0, 17)
            kp[rng.random(17) < 0.1] = 0
            kp[3:5] = 0
            kp[:, :2] = np.clip(kp[:, :2], 1, [W - 1, H - 1]) * (kp[:, 2:] > 0)
            pr_anns.append(_pred(len(pr_anns), image_id, int(pred_id[p]), kp))
        if rng.random() < args.false_people:
            kp = np.zeros((17, 3))
            kp[:, :2] = np.clip(rng.uniform([200, 200], [W - 200, H - 200]) + _TEMPLATE * 40
                                + rng.normal(0, 10, (17, 2)), 1, [W - 1, H - 1])
            kp[:, 2] = rng.uniform(0.05, 0.5, 17)
            kp[3:5] = 0
            pr_anns.append(_pred(len(pr_anns), image_id, 500 + f, kp))
    gt = {"images": images, "annotations": gt_anns, "categories": [PT18_CATEGORY]}
    pred = {"images": [{k: im[k] for k in ("id", "frame_id", "file_name", "vid_id", "nframes", "is_labeled")}
                       for im in images],
            "annotations": pr_anns, "categories": [PT18_CATEGORY]}
    return gt, pred


def predict_gt(rng: np.random.Generator, gt: dict, noise: float) -> dict:
    """Predictions for an existing GT file: its people moved by noise x head size, ids shuffled."""
    ids = sorted({a["track_id"] for a in gt["annotations"]})
    new_id = dict(zip(ids, (rng.permutation(len(ids)) + 1).tolist()))
    anns = []
    for a in gt["annotations"]:
        kp = np.array(a["keypoints"], float).reshape(17, 3)
        x, y, w, h = a["bbox_head"]
        has = (kp[:, 0] > 0) & (kp[:, 1] > 0)
        kp[has, :2] = np.clip(kp[has, :2] + rng.normal(0, noise, (int(has.sum()), 2)) * 0.6 * np.hypot(w, h), 1, None)
        kp[:, 2] = np.where(has, rng.uniform(0.05, 1.0, 17), 0)
        anns.append(_pred(len(anns), a["image_id"], new_id[a["track_id"]], kp))
    return {"images": gt["images"], "annotations": anns, "categories": gt["categories"]}


def _pred(ann_id: int, image_id: int, track_id: int, kp: np.ndarray) -> dict:
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "track_id": track_id,
            "keypoints": _flat(np.concatenate([kp[:, :2], (kp[:, 2:] > 0).astype(float)], axis=1)),
            "scores": [round(float(s), 3) for s in kp[:, 2]], "score": round(float(kp[:, 2].mean()), 3)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--people", type=int, default=3)
    parser.add_argument("--spread", type=float, default=W, help="people start within this many px of the centre")
    parser.add_argument("--noise", type=float, default=0.15, help="prediction noise, fraction of the head size")
    parser.add_argument("--missed", type=float, default=0.1, help="probability a GT person is not predicted")
    parser.add_argument("--switches", type=float, default=0.05, help="probability of an identity switch per person-frame")
    parser.add_argument("--false-people", type=float, default=0.3, help="probability of a false person per frame")
    parser.add_argument("--empty-frames", type=float, default=0.0, help="probability of a frame without predictions")
    parser.add_argument("--empty-video", action="store_true", help="the last video gets no predictions at all")
    parser.add_argument("--from-gt", type=Path, help="write only OUT/pred: predictions for the GT files here")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    for sub in ("gt", "pred"):
        (args.out / sub).mkdir(parents=True, exist_ok=True)
    if args.from_gt:
        for gt_path in sorted(args.from_gt.glob("*.json")):
            pred = predict_gt(rng, json.loads(gt_path.read_text()), args.noise)
            (args.out / "pred" / gt_path.name).write_text(json.dumps(pred, separators=(",", ":")))
        return
    for v in range(args.videos):
        with_pred = not (args.empty_video and v == args.videos - 1)
        gt, pred = make_video(rng, v + 1, args.frames, args.people, args, with_pred)
        name = f"{v + 1:06d}_mpii_test.json"
        (args.out / "gt" / name).write_text(json.dumps(gt, separators=(",", ":")))
        (args.out / "pred" / name).write_text(json.dumps(pred, separators=(",", ":")))


if __name__ == "__main__":
    main()
