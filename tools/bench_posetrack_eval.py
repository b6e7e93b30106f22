"""Time ``posetrack.eval.posetrack.evaluate`` (and/or ``posetrack.eval.hota.evaluate_hota``) on a generated
PoseTrack18/21-val-sized set.

PoseTrack18 val: 170 videos of ~100-150 frames, ~30 labeled frames each, several people per
labeled frame, predictions on every frame. The generator writes GT and predictions in the 2018
layout (predictions through ``PoseTrackWriter``) into OUT_DIR, then times one evaluation.

    python tools/bench_posetrack_eval.py /tmp/pt_bench [--videos 170 --people 10] [--metrics map,mota,hota]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from posetrack.eval.hota import evaluate_hota, format_hota_table
from posetrack.eval.posetrack import evaluate, format_table
from posetrack.io.posetrack_json import PT18_CATEGORY, FramePoses, PersonPose, PoseTrackWriter, posetrack_image_id


def _person_tracks(rng: np.random.Generator, n: int, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, n_frames, 17, 2) smoothly moving skeletons and (n,) head sizes, 1920x1080 image."""
    start = rng.uniform([100, 100], [1800, 900], (n, 1, 1, 2))
    velocity = rng.normal(0, 2, (n, 1, 1, 2))
    scale = rng.uniform(40, 120, (n, 1, 1, 1))
    shape = rng.uniform(-1.5, 1.5, (n, 1, 17, 2)) * scale
    t = np.arange(n_frames)[None, :, None, None]
    return start + velocity * t + shape, scale[:, 0, 0, 0]


def make_video(out: Path, seq: int, rng: np.random.Generator, people: int, labeled: int) -> int:
    n_frames = int(rng.integers(100, 151))
    name = f"{seq:06d}_mpii_test"
    tracks, heads = _person_tracks(rng, people, n_frames)
    labeled_idx = set(np.linspace(0, n_frames - 1, labeled).astype(int).tolist())
    images, anns = [], []
    with PoseTrackWriter(out / "pred" / f"{name}.json") as writer:
        for f in range(n_frames):
            file_name = f"images/val/{name}/{f:06d}.jpg"
            image_id = posetrack_image_id(file_name)
            im = {"id": image_id, "frame_id": image_id, "file_name": file_name, "vid_id": f"{seq:06d}",
                  "nframes": n_frames, "is_labeled": f in labeled_idx, "width": 1920, "height": 1080}
            if f in labeled_idx:
                regions = [rng.uniform(0, 1900, 2) + rng.uniform(-60, 60, (int(rng.integers(8, 25)), 2))
                           for _ in range(int(rng.integers(1, 4)))]
                im["ignore_regions_x"] = [r[:, 0].round(1).tolist() for r in regions]
                im["ignore_regions_y"] = [r[:, 1].round(1).tolist() for r in regions]
                for p in range(people):
                    vis = rng.random(17) < 0.85
                    vis[3:5] = False  # ears are never annotated
                    kp = np.zeros((17, 3))
                    kp[vis, :2] = tracks[p, f, vis].round(2)
                    kp[vis, 2] = 1
                    hx, hy = tracks[p, f, 2]
                    anns.append({"id": len(anns), "image_id": image_id, "track_id": p, "category_id": 1,
                                 "keypoints": kp.ravel().tolist(), "scores": [],
                                 "bbox_head": [float(hx), float(hy), float(heads[p] / 2), float(heads[p] / 2)]})
            images.append(im)
            pred_people = []
            for p in range(people):
                if rng.random() < 0.05:
                    continue  # missed person
                kp = np.zeros((17, 3))
                kp[:, :2] = tracks[p, f] + rng.normal(0, 0.1, (17, 2)) * heads[p]
                kp[:, 2] = rng.uniform(0.05, 1.0, 17)
                kp[3:5] = 0
                tid = p if rng.random() > 0.02 else people + p  # occasional identity switch
                pred_people.append(PersonPose(tid, kp, float(kp[:, 2].mean())))
            for extra in range(int(rng.integers(0, 3))):  # false positives
                kp = np.zeros((17, 3))
                kp[:, :2] = rng.uniform([0, 0], [1920, 1080], 2) + rng.normal(0, 40, (17, 2))
                kp[:, 2] = rng.uniform(0.05, 0.5, 17)
                kp[3:5] = 0
                pred_people.append(PersonPose(2 * people + extra, kp, 0.2))
            writer.add(FramePoses(file_name, image_id, image_id, pred_people, f in labeled_idx, f"{seq:06d}", n_frames))
    gt = {"images": images, "annotations": anns, "categories": [PT18_CATEGORY]}
    (out / "gt" / f"{name}.json").write_text(json.dumps(gt))
    return len(anns)


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--videos", type=int, default=170)
    parser.add_argument("--people", type=int, default=10, help="people per frame")
    parser.add_argument("--labeled", type=int, default=30, help="labeled frames per video")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="time an existing set without regenerating it")
    parser.add_argument("--metrics", default="map,mota", help="map,mota (poseval, one run) and/or hota")
    args = parser.parse_args()
    if not args.reuse:
        for sub in ("gt", "pred"):
            (args.out_dir / sub).mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(args.seed)
        t0 = time.perf_counter()
        n_gt = sum(make_video(args.out_dir, 1000 + s, rng, args.people, args.labeled) for s in range(args.videos))
        print(f"generated {args.videos} videos, {n_gt} labeled GT persons in {time.perf_counter() - t0:.1f} s")
    size = sum(p.stat().st_size for p in args.out_dir.glob("*/*.json")) / 2**20
    runs = [(evaluate, format_table)] if {"map", "mota"} & set(args.metrics.split(",")) else []
    runs += [(evaluate_hota, format_hota_table)] if "hota" in args.metrics.split(",") else []
    for fn, table in runs:
        cpu0 = _cpu_seconds()
        t0 = time.perf_counter()
        results = fn(args.out_dir / "gt", args.out_dir / "pred", workers=args.workers)
        elapsed = time.perf_counter() - t0
        cpu = _cpu_seconds() - cpu0
        print(table(results))
        print(f"{fn.__name__}(workers={args.workers}): {elapsed:.1f} s for {results['num_videos']} videos, "
              f"{results['num_frames']} kept frames, {size:.0f} MiB of json; CPU time {cpu:.1f} s (all processes); "
              f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
