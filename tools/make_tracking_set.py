"""A tracking set with exact ground truth made from real annotated people on real frames.

The 14 annotated people of ``../shared/data/posetrack18_sample`` (their image patches, PoseTrack
2018 keypoints and head boxes) walk along straight lines over a real frame of that sample (a
slow camera pan across it): crossings (the nearer person, lower in the frame, covers the other),
static real occluders (patches of another real frame) that hide walkers for 10-80 frames, and
people entering and leaving through the frame borders. Ground truth follows what the camera
sees: a joint is annotated when it is inside the frame and not covered by anything nearer; a
person is annotated with at least ``MIN_GT_JOINTS`` such joints.

Written under ``--out`` (video ``990001_mpii_test``, a name that parses as a PoseTrack id):

* ``frames/<video>/NNNNNN.jpg``: the frames (``posetrack track`` input);
* ``gt/<video>.json``: PoseTrack 2018 ground truth (``posetrack eval --gt``);
* ``poses_exact.json``: the GT people, ids removed (COCO keypoint results, PoseTrack-2018 joint
  order: ``--poses F --set poses_file.keypoints=posetrack18``), joint score 1;
* ``poses_noisy.json``: an estimator model: visible joints near the truth with high scores, a
  few of them wrong with low scores, and low-scoring guesses at hidden joints (what a top-down
  network outputs for every joint), plus a few low-scoring false people; people with fewer than
  ``MIN_SEEN_JOINTS`` visible joints are missed (the detector would not find them);
* ``poses_jitter.json``: the visible joints with Gaussian jitter (``--jitter`` px), score 1, each
  entry also with its ``track_id`` and ``true_keypoints`` (for measuring smoothing; the
  poses_file stage ignores both).

The estimator model's numbers (``NOISE``) are assumptions, not measurements of a network: they
make the AP / MOTA trade-off of keypoint thresholds visible; choose a threshold for real
predictions with ``posetrack eval --kpt-thr`` on a validation set.

    python -m tools.make_tracking_set --out /tmp/trackset [--frames 200] [--seed 0] [--jitter 4]
    python -m tools.make_tracking_set --smoothing-error /tmp/trackset [--min-cutoff 1 --beta 10]

The second prints the mean joint error (px) of ``poses_jitter.json`` before and after the
``smooth`` stage's One-Euro filter, over all people and over the runner alone (walker 9, 12 px
per frame: the filter's lag shows there).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from posetrack.io.posetrack_json import FramePoses, PersonPose, PoseTrackWriter
from posetrack.track.stages.smooth import SmoothStage
from posetrack.track.types import Poses

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "posetrack18_sample"
VIDEO = "990001_mpii_test"
SIZE = (960, 540)  # frame width, height
FPS = 25.0  # frame times of the set
RUNNER = 9  # the walker at 12 px per frame
MIN_GT_JOINTS = 3  # visible joints for a person to be annotated
MIN_SEEN_JOINTS = 6  # visible joints for the estimator model to find a person
NOISE = {  # the estimator model (see the module docstring)
    "visible_score": (0.75, 0.15),  # mean, sd of a visible joint's score (clipped to 0.05-1)
    "visible_error": 0.06,  # sd of a visible joint's error, head sizes
    "wrong_rate": 0.08,  # share of visible joints placed wrongly
    "wrong_score": (0.05, 0.5),  # uniform score range of a wrong joint
    "wrong_error": 1.0,  # sd of a wrong joint's error, head sizes
    "hidden_score": (0.0, 0.6),  # uniform score range of a guess at a hidden joint
    "hidden_error": 0.6,  # sd of that guess around the true (hidden) place, head sizes
    "false_people": 0.3,  # false people per frame (Poisson mean), person score 0.05-0.45
}


@dataclass
class RealPerson:
    """One annotated person: patch (h, w, 3) RGB, keypoints (17, 3) x, y, v in patch px, head box."""

    patch: np.ndarray
    keypoints: np.ndarray
    head: np.ndarray  # x1, y1, x2, y2 in patch px


@dataclass
class Walker:
    person: int  # index into the real people
    height: float  # patch height on screen, px
    start: tuple[float, float]  # patch top-left at frame `first`, world px
    velocity: tuple[float, float]  # px per frame
    first: int
    last: int  # inclusive


def load_people(sample: Path = SAMPLE) -> list[RealPerson]:
    """The annotated people of the sample's three GT frames, cut out with a margin."""
    people = []
    for gt in sorted((sample / "annotations" / "val").glob("*.json")):
        data = json.loads(gt.read_text())
        image = np.asarray(Image.open(sample / data["images"][0]["file_name"]).convert("RGB"))
        h, w = image.shape[:2]
        for ann in data["annotations"]:
            kp = np.array(ann["keypoints"], np.float64).reshape(17, 3)
            vis = kp[:, 2] > 0
            hx, hy, hw, hh = ann["bbox_head"]
            xs = np.concatenate([kp[vis, 0], [hx, hx + hw]])
            ys = np.concatenate([kp[vis, 1], [hy, hy + hh]])
            mx, my = 0.15 * (xs.max() - xs.min()), 0.1 * (ys.max() - ys.min())
            x1, y1 = int(max(0, xs.min() - mx)), int(max(0, ys.min() - my))
            x2, y2 = int(min(w, xs.max() + mx)), int(min(h, ys.max() + my))
            kp[vis, :2] -= (x1, y1)
            kp[~vis] = 0
            people.append(RealPerson(image[y1:y2, x1:x2].copy(), kp,
                                     np.array([hx - x1, hy - y1, hx + hw - x1, hy + hh - y1])))
    return people


def scenario(frames: int, n_people: int, rng: np.random.Generator) -> tuple[list[Walker], list[tuple]]:
    """Walkers (crossings, border entries, late arrivals) and static occluders (x1, y1, x2, y2, depth)."""
    w, h = SIZE
    walkers = []
    lanes = [0.18, 0.3, 0.42, 0.55]  # top of the patch as a share of the frame height (depth: lower = nearer)
    for i in range(10):
        lane = lanes[i % len(lanes)]
        height = 150 + 220 * lane  # nearer people are taller
        leftward = i % 2 == 1
        speed = (12.0 if i == RUNNER else rng.uniform(2.0, 5.0)) * (-1 if leftward else 1)
        first = int(rng.integers(0, frames // 3)) if i >= 4 else 0
        x0 = w + 10 if leftward else -120.0  # enter through a border...
        if i < 4:  # ...or already in view
            x0 = rng.uniform(0.15 * w, 0.7 * w)
        walkers.append(Walker(i % n_people, height, (x0, lane * h), (speed, rng.uniform(-0.3, 0.3)), first,
                              frames - 1))
    occluders = [(0.30 * w, 0.0, 0.30 * w + 200, h, 0.50), (0.68 * w, 0.25 * h, 0.68 * w + 150, h, 0.35)]
    return walkers, occluders


def _depth(walker: Walker) -> float:
    return walker.start[1] / SIZE[1]


def render(out: Path, frames: int, seed: int, jitter: float, sample: Path = SAMPLE) -> dict:
    """Write the set (see the module docstring); returns a summary."""
    rng = np.random.default_rng(seed)
    people = load_people(sample)
    walkers, occluders = scenario(frames, len(people), rng)
    world = np.asarray(Image.open(sample / "images/val/009473_mpii_test/000000.jpg").convert("RGB")
                       .resize((1280, 720), Image.BILINEAR))
    texture = np.asarray(Image.open(sample / "images/val/012834_mpii_test/000000.jpg").convert("RGB")
                         .resize((960, 540), Image.BILINEAR))
    frame_dir = out / "frames" / VIDEO
    frame_dir.mkdir(parents=True, exist_ok=True)
    scaled = {}
    for k, wk in enumerate(walkers):
        p = people[wk.person]
        f = wk.height / p.patch.shape[0]
        size = (max(1, round(p.patch.shape[1] * f)), max(1, round(p.patch.shape[0] * f)))
        scaled[k] = (np.asarray(Image.fromarray(p.patch).resize(size, Image.BILINEAR)), f)
    gt_frames, exact, noisy, jittered = [], [], [], []
    hidden_runs: dict[int, list[int]] = {}
    for t in range(frames):
        pan = 0.8 * t % (world.shape[1] - SIZE[0])  # camera pans right
        img = world[90:90 + SIZE[1], int(pan):int(pan) + SIZE[0]].copy()
        layers = []  # (depth, kind, index, x1, y1, x2, y2)
        for k, wk in enumerate(walkers):
            if wk.first <= t <= wk.last:
                dt = t - wk.first
                x1 = wk.start[0] + wk.velocity[0] * dt  # screen px (occluders and walkers ignore the pan)
                y1 = wk.start[1] + wk.velocity[1] * dt
                ph, pw = scaled[k][0].shape[:2]
                layers.append((_depth(wk), "walker", k, x1, y1, x1 + pw, y1 + ph))
        for j, (x1, y1, x2, y2, d) in enumerate(occluders):
            layers.append((d + 0.3, "occluder", j, x1, y1, x2, y2))
        layers.sort(key=lambda lay: lay[0])
        for depth, kind, k, x1, y1, x2, y2 in layers:
            src = scaled[k][0] if kind == "walker" else texture[int(y1):int(y2), int(x1):int(x2)]
            _paste(img, src, int(round(x1)), int(round(y1)))
        Image.fromarray(img).save(frame_dir / f"{t:06d}.jpg", quality=92)
        gt_people, frame_exact, frame_noisy, frame_jit = [], [], [], []
        for li, (depth, kind, k, x1, y1, x2, y2) in enumerate(layers):
            if kind != "walker":
                continue
            p, f = people[walkers[k].person], scaled[k][1]
            kp = p.keypoints.copy()
            annotated = kp[:, 2] > 0
            kp[:, :2] = kp[:, :2] * f + (round(x1), round(y1))
            head = p.head * f + np.array([round(x1), round(y1)] * 2)
            nearer = layers[li + 1:]
            visible = annotated & (kp[:, 0] >= 0) & (kp[:, 0] < SIZE[0]) & (kp[:, 1] >= 0) & (kp[:, 1] < SIZE[1])
            for _, _, _, a1, b1, a2, b2 in nearer:  # covered by a nearer patch
                inside_x = (kp[:, 0] >= round(a1)) & (kp[:, 0] < round(a2))
                visible &= ~(inside_x & (kp[:, 1] >= round(b1)) & (kp[:, 1] < round(b2)))
            head_size = 0.6 * np.hypot(*(head[2:] - head[:2]))
            if visible.sum() < MIN_GT_JOINTS:
                hidden_runs.setdefault(k, []).append(t)
                continue
            g = np.zeros((17, 3))
            g[visible, :2], g[:, 2] = kp[visible, :2], np.nan  # GT: no scores
            gt_people.append(PersonPose(k, g, head_box=head, visible=visible.astype(float), present=visible))
            frame_exact.append(_entry(t, np.where(visible[:, None], np.c_[kp[:, :2], np.ones(17)], 0), 1.0))
            jit = np.where(visible[:, None], np.c_[kp[:, :2] + rng.normal(0, jitter, (17, 2)), np.ones(17)], 0)
            frame_jit.append({**_entry(t, jit, 1.0), "track_id": k, "true_keypoints": kp[:, :2].round(3).tolist()})
            if visible.sum() >= MIN_SEEN_JOINTS:
                est = _estimate(kp, annotated, visible, head_size, rng)
                frame_noisy.append(_entry(t, est, float(est[est[:, 2] > 0, 2].mean())))
        for _ in range(rng.poisson(NOISE["false_people"])):  # a false person: a real pose at a random place
            p = people[int(rng.integers(len(people)))]
            f = rng.uniform(0.4, 0.8)
            kp = p.keypoints.copy()
            kp[:, :2] = kp[:, :2] * f + (rng.uniform(0, SIZE[0] * 0.8), rng.uniform(0, SIZE[1] * 0.5))
            kp[:, 2] = np.where(kp[:, 2] > 0, rng.uniform(0.05, 0.45, 17), 0)
            kp[kp[:, 2] == 0] = 0
            frame_noisy.append(_entry(t, kp, float(kp[kp[:, 2] > 0, 2].mean())))
        gt_frames.append(FramePoses(f"images/val/{VIDEO}/{t:06d}.jpg", _image_id(t), _image_id(t), gt_people,
                                    True, VIDEO, frames, width=SIZE[0], height=SIZE[1]))
        exact += frame_exact
        noisy += frame_noisy
        jittered += frame_jit
    (out / "gt").mkdir(parents=True, exist_ok=True)
    with PoseTrackWriter(out / "gt" / f"{VIDEO}.json") as w:
        for fr in gt_frames:
            w.add(fr)
    for name, entries in (("exact", exact), ("noisy", noisy), ("jitter", jittered)):
        (out / f"poses_{name}.json").write_text(json.dumps(entries))
    seen = {k: [t for t, fr in enumerate(gt_frames) if any(p.track_id == k for p in fr.people)] for k in hidden_runs}
    occlusions = [len(run) for k, v in hidden_runs.items() if seen[k] for run in _runs(v)
                  if seen[k][0] < run[0] and run[-1] < seen[k][-1]]  # hidden between two visible frames
    return {"frames": frames, "walkers": len(walkers), "gt_people": sum(len(f.people) for f in gt_frames),
            "occlusions": sorted(occlusions)}


def _runs(frames: list[int]) -> list[list[int]]:
    """Runs of consecutive frame indices."""
    out, start = [], 0
    for i in range(1, len(frames) + 1):
        if i == len(frames) or frames[i] != frames[i - 1] + 1:
            out.append(frames[start:i])
            start = i
    return out


def _estimate(kp: np.ndarray, annotated: np.ndarray, visible: np.ndarray, head_size: float,
              rng: np.random.Generator) -> np.ndarray:
    """(17, 3) estimator-model output for one found person (PoseTrack slots; ears absent)."""
    n = NOISE
    out = np.zeros((17, 3))
    mu, sd = n["visible_score"]
    for s in range(17):
        if s in (3, 4):  # ear slots: never predicted
            continue
        if visible[s]:
            if rng.random() < n["wrong_rate"]:
                out[s, :2] = kp[s, :2] + rng.normal(0, n["wrong_error"] * head_size, 2)
                out[s, 2] = rng.uniform(*n["wrong_score"])
            else:
                out[s, :2] = kp[s, :2] + rng.normal(0, n["visible_error"] * head_size, 2)
                out[s, 2] = np.clip(rng.normal(mu, sd), 0.05, 1.0)
        else:  # hidden or never annotated: a network still answers, with a low score
            centre = kp[s, :2] if annotated[s] else kp[visible, :2].mean(0)
            out[s, :2] = centre + rng.normal(0, n["hidden_error"] * head_size, 2)
            out[s, 2] = rng.uniform(*n["hidden_score"])
    return out


def _entry(t: int, kp: np.ndarray, score: float) -> dict:
    return {"image_id": f"{VIDEO}/{t:06d}.jpg", "category_id": 1, "score": round(score, 4),
            "keypoints": [round(float(v), 3) for v in np.asarray(kp).reshape(-1)]}


def _image_id(t: int) -> int:
    return int(f"1{VIDEO[:6]}{t:04d}")


def _paste(img: np.ndarray, src: np.ndarray, x: int, y: int) -> None:
    h, w = img.shape[:2]
    x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + src.shape[1], w), min(y + src.shape[0], h)
    if x2 > x1 and y2 > y1:
        img[y1:y2, x1:x2] = src[y1 - y:y2 - y, x1 - x:x2 - x]


def smoothing_error(set_dir: Path, **params: float) -> dict[str, float]:
    """Mean joint error (px) of ``poses_jitter.json`` after the smooth stage with ``params``
    (raw when empty): over all visible joints and over the runner's."""
    frames: dict[str, list[dict]] = {}
    for e in json.loads((set_dir / "poses_jitter.json").read_text()):
        frames.setdefault(e["image_id"], []).append(e)
    stage = SmoothStage(enabled=True, **params) if params else None
    every, runner = [], []
    for i, name in enumerate(sorted(frames)):
        people = frames[name]
        kp = np.array([e["keypoints"] for e in people], np.float32).reshape(-1, 17, 3)
        true = np.array([e["true_keypoints"] for e in people], np.float32)
        ids = np.array([e["track_id"] for e in people])
        seen = kp[..., 2] > 0
        boxes = np.stack([np.r_[t[v].min(0), t[v].max(0)] for t, v in zip(true, seen)]).astype(np.float32)
        poses = Poses(kp, np.ones(len(people), np.float32), boxes, ids)
        out = stage.process(poses, i / FPS)["smoothed"] if stage else poses
        err = np.linalg.norm(out.keypoints[..., :2] - true, axis=2)
        every += err[seen].tolist()
        runner += err[seen & (ids == RUNNER)[:, None]].tolist()
    return {"all": float(np.mean(every)), "runner": float(np.mean(runner))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write a set here")
    parser.add_argument("--smoothing-error", type=Path, metavar="SET", help="measure smoothing on a written set")
    parser.add_argument("--min-cutoff", type=float, default=1.0)
    parser.add_argument("--beta", type=float, default=10.0)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jitter", type=float, default=4.0, help="sd of poses_jitter.json's joint noise, px")
    args = parser.parse_args(argv)
    if args.smoothing_error is not None:
        raw = smoothing_error(args.smoothing_error)
        smoothed = smoothing_error(args.smoothing_error, min_cutoff=args.min_cutoff, beta=args.beta)
        print(json.dumps({"raw": raw, "smoothed": smoothed}))
        return 0
    if args.out is None:
        parser.error("give --out SET (write a set) or --smoothing-error SET")
    print(json.dumps(render(args.out, args.frames, args.seed, args.jitter)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
