"""PoseTrack21 keypoint HOTA, as the official kit (``anDoer/PoseTrack21``, ``HOTAeypoints``) computes it.

Shapes: A = 19 localisation thresholds alpha = 0.05 .. 0.95, J = 15 joints (``HOTA_JOINTS``, the
PoseTrack18 slots without the ears; LE/RE are the elbows), G / P GT / predicted people of a frame.
Coordinates are image pixels, distances are in GT head sizes (0.6 x head-box diagonal).

What the kit computes, quirks included, is in ``shared/specs/posetrack21_hota.md``. In short: a
joint exists iff x > 0 and y > 0 (GT flags and prediction scores are never read), similarity
``max(0, 1 - d / 0.5001)``, one Hungarian assignment per frame and joint on the similarity, a pair
counts at alpha when its similarity >= alpha - eps; standard HOTA per joint and alpha; only
``is_labeled`` frames; points strictly inside an ignore polygon removed. A sequence's Total column
is the mean over its joints (sums for counts); sequences are combined by summing the counts and
weighting AssA/AssRe/AssPr/FragA/LocA (Total included) by the true positives, then DetA, HOTA, ...
are recomputed from the combined columns. Every figure is reported as 100 x its mean over alpha.

``HotaOptions()`` keeps the kit's numbers; ``HotaOptions.fixed()`` switches its plain bugs off:

* ``empty_frame_sequence_fn``: a labelled frame with GT people but no predictions adds the GT
  joints of the *whole sequence* to FN. Fixed: that frame's own GT joints.
* ``pair_by_position``: prediction frames are paired with GT frames by list position, and each
  labelled one must carry its GT frame's image id (the kit asserts it). Fixed: paired by
  ``file_name``, whatever the order and ids.
* ``joint_mean_total``: a sequence's Total AssA, AssRe, AssPr and FragA are the plain mean over
  its 15 joints, so a joint the sequence does not show counts 0 (and its LocA 1): a perfect
  prediction of the real PoseTrack18 sample scores HOTA 99.07. Fixed: the joints' values
  weighted by their true positives, i.e. pooled like DetA.

Where the kit crashes, the natural figures are given: a labelled frame without GT people (all
its predicted joints are false positives) and a sequence without any prediction combined with
others (all its GT joints are misses).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from posetrack.eval.posetrack import QuirkOptions, _pair_frames, points_in_polygons
from posetrack.io.posetrack_json import PoseTrackFormatError, VideoFile
from posetrack.pose.keypoints import POSETRACK18_KEYPOINTS

logger = logging.getLogger(__name__)

HOTA_JOINTS: tuple[str, ...] = ("Nose", "Neck", "Head", "LS", "RS", "LE", "RE", "LW", "RW", "LH", "RH",
                                "LK", "RK", "LA", "RA")
# PoseTrack18 slot of each HOTA joint: the kit deletes slots 3 and 4 (the ears)
HOTA_SLOTS: np.ndarray = np.array([s for s, n in enumerate(POSETRACK18_KEYPOINTS) if not n.endswith("_ear")])
HOTA_SLOTS.setflags(write=False)
ALPHAS: np.ndarray = np.arange(0.05, 0.99, 0.05)  # the kit's array, float rounding included
ALPHAS.setflags(write=False)
_EPS = np.finfo(float).eps
_SLOPE = -1 / 0.5001  # similarity reaches 0 just past d = 0.5 (PCKh)
J = len(HOTA_JOINTS)

COUNT_FIELDS = ("HOTA_TP", "HOTA_FN", "HOTA_FP")
ASSOC_FIELDS = ("AssRe", "AssPr", "AssA", "FragA")  # combined by TP weighting, with LocA
# the kit's summary rows, in its order (the combined result dict's insertion order)
FIELDS: tuple[str, ...] = ("HOTA_TP(0)", "HOTA_FN(0)", "HOTA_FP(0)", *COUNT_FIELDS, *ASSOC_FIELDS, "LocA",
                           "DetRe", "DetPr", "DetA", "HOTA", "RHOTA", "FA-HOTA", "FA-RHOTA",
                           "HOTA(0)", "LocA(0)", "HOTALocA(0)")
_INT_FIELDS = ("HOTA_TP(0)", "HOTA_FN(0)", "HOTA_FP(0)", *COUNT_FIELDS)
COUNT_TABLE = ("Dets", "GT_Dets", "IDs", "GT_IDs")


@dataclass(frozen=True)
class HotaOptions(QuirkOptions):
    """Which kit quirks to reproduce (all True: the official numbers)."""

    empty_frame_sequence_fn: bool = True
    pair_by_position: bool = True
    joint_mean_total: bool = True


# --------------------------------------------------------------------------- one sequence

@dataclass
class _Frame:
    """One labelled frame after ignore regions: ids (N,) int, xy (N, J, 2), valid (N, J); GT head (G,)."""

    gt_id: np.ndarray
    gt_xy: np.ndarray
    gt_valid: np.ndarray
    head: np.ndarray
    pr_id: np.ndarray
    pr_xy: np.ndarray
    pr_valid: np.ndarray


def _keep_outside(xy: np.ndarray, regions: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The kit's ignore-region rule: (keep (N,), xy with inside points set to 0).

    Every one of the J points is tested, (0, 0) included; a person goes when all J lie inside, or
    when afterwards no point has x > 0 or y > 0.
    """
    inside = points_in_polygons(xy.reshape(-1, 2), regions).reshape(xy.shape[:2])
    xy = np.where(inside[..., None], 0.0, xy)
    keep = ~inside.all(axis=1) & ~((xy[..., 0] <= 0) & (xy[..., 1] <= 0)).all(axis=1)
    return keep, xy


def _check_ids(ids: np.ndarray, path: Path, i: int, video: VideoFile) -> None:
    uniq, count = np.unique(ids, return_counts=True)
    if np.any(count > 1):
        raise PoseTrackFormatError(f"{path}: frame {i} ({video.frame_name(i)}): duplicate track id(s) "
                                   f"{uniq[count > 1].tolist()} in one frame (the kit refuses them)")


def _load_frames(gt_path: Path, pr_path: Path, opts: HotaOptions) -> list[_Frame]:
    gt, pr = VideoFile(gt_path), VideoFile(pr_path)
    if opts.pair_by_position:
        if len(pr) < len(gt):  # the kit: IndexError; more prediction frames are ignored
            raise PoseTrackFormatError(f"{pr_path}: {len(pr)} prediction frames but {len(gt)} GT frames in "
                                       f"{gt_path} (frames are paired by position)")
        pairs = list(range(len(gt)))
    else:
        pairs = _pair_frames(gt, pr, by_position=False)
    frames = []
    for i in range(len(gt)):
        if not gt.is_labeled(i):
            continue
        g, p = gt.frame_arrays(i), pr.frame_arrays(pairs[i])
        where = f"{gt_path}: frame {i} ({gt.frame_name(i)})"
        if np.isnan(g.head_box).any():
            raise PoseTrackFormatError(f"{where}: person {int(np.isnan(g.head_box).any(axis=1).argmax())}: "
                                       "GT head box 'bbox_head' missing")
        gxy, pxy = g.keypoints[:, HOTA_SLOTS, :2], p.keypoints[:, HOTA_SLOTS, :2]
        gid, pid, hb = g.track_id, p.track_id, g.head_box
        if opts.pair_by_position and gt.frame_ids(i)[1] != pr.frame_ids(i)[1]:
            raise PoseTrackFormatError(f"{pr_path}: frame {i}: image id {pr.frame_ids(i)[1]!r} differs from GT "
                                       f"frame {i} ({gt.frame_ids(i)[1]!r}); frames are paired by position "
                                       "(--fix frame-pairing pairs them by file name)")
        if g.ignore_regions:
            keep, xy = _keep_outside(np.concatenate([gxy, pxy]), g.ignore_regions)  # one polygon test for both
            gkeep, pkeep = np.split(keep, [len(gxy)])
            gxy, pxy = np.split(xy, [len(gxy)])
            gxy, gid, hb, pxy, pid = gxy[gkeep], gid[gkeep], hb[gkeep], pxy[pkeep], pid[pkeep]
        _check_ids(gid, gt_path, i, gt)
        _check_ids(pid, pr_path, pairs[i], pr)
        wh = hb[:, 2:] - hb[:, :2]  # the kit: 0.6 * ||(x1 + w, y1 + h) - (x1, y1)||
        head = 0.6 * np.sqrt(wh[:, 0] ** 2 + wh[:, 1] ** 2)
        frames.append(_Frame(gid, gxy, (gxy[..., 0] > 0) & (gxy[..., 1] > 0), head,
                             pid, pxy, (pxy[..., 0] > 0) & (pxy[..., 1] > 0)))
    return frames


def _similarity(f: _Frame) -> np.ndarray:
    """(G, P, J) similarity; 0 where either joint is missing or d > 0.5001."""
    diff = f.gt_xy[:, None] - f.pr_xy[None]
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.sqrt(diff[..., 0] ** 2 + diff[..., 1] ** 2) / f.head[:, None, None]
    d[~(f.gt_valid[:, None] & f.pr_valid[None])] = np.inf
    return np.maximum(_SLOPE * d + 1, 0)


def _assign(sim: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hungarian pairs with similarity > 0 per joint: (joint, gt row, pred column) arrays.

    Where no GT joint and no predicted joint has more than one candidate, every candidate pair
    is in any optimal assignment, so it is taken directly; the rest go through the kit's call
    (on the whole frame matrix, so ties break as there).
    """
    pos = sim > 0
    simple = (pos.sum(axis=1).max(axis=0, initial=0) <= 1) & (pos.sum(axis=0).max(axis=0, initial=0) <= 1)
    g, p, j = np.nonzero(pos & simple[None, None])
    out = [(j, g, p)]
    for jj in np.nonzero(~simple)[0]:
        rows, cols = linear_sum_assignment(-sim[:, :, jj])
        keep = sim[rows, cols, jj] > 0
        out.append((np.full(int(keep.sum()), jj), rows[keep], cols[keep]))
    return tuple(np.concatenate(parts) for parts in zip(*out))


def _relabel(ids: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Track ids -> 0..n-1 over the sequence (the kit's id map)."""
    flat = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    uniq, inv = np.unique(flat, return_inverse=True)
    return np.split(inv, np.cumsum([len(x) for x in ids])[:-1]), len(uniq)


def _sequence(frames: list[_Frame], opts: HotaOptions) -> dict[str, np.ndarray]:
    """The kit's per-sequence result: (A, J + 1) arrays, the last column Total (see ``_with_total``)."""
    A = len(ALPHAS)
    res = {k: np.zeros((A, J)) for k in COUNT_FIELDS + ASSOC_FIELDS + ("LocA",)}
    gids, n_gt = _relabel([f.gt_id for f in frames])
    pids, n_pr = _relabel([f.pr_id for f in frames])
    gt_joints = sum((f.gt_valid.sum(axis=0) for f in frames), np.zeros(J, np.int64))
    pr_joints = sum((f.pr_valid.sum(axis=0) for f in frames), np.zeros(J, np.int64))
    if sum(len(f.pr_id) for f in frames) == 0 or sum(len(f.gt_id) for f in frames) == 0:
        res["HOTA_FN"] += gt_joints  # the kit's early returns: nothing can match
        res["HOTA_FP"] += pr_joints
        res["LocA"][:] = 1.0
        return _with_total(_final(res), opts.joint_mean_total)
    gt_count, pr_count = np.zeros((n_gt, J)), np.zeros((n_pr, J))
    matches = []  # per frame: joint, GT id, prediction id, similarity, frame of each candidate pair
    for t, (f, g_ids, p_ids) in enumerate(zip(frames, gids, pids)):
        np.add.at(gt_count, g_ids, f.gt_valid)
        np.add.at(pr_count, p_ids, f.pr_valid)
        if len(g_ids) == 0:
            res["HOTA_FP"] += f.pr_valid.sum(axis=0)
            continue
        if len(p_ids) == 0:
            res["HOTA_FN"] += gt_joints if opts.empty_frame_sequence_fn else f.gt_valid.sum(axis=0)
            continue
        res["HOTA_FN"] += f.gt_valid.sum(axis=0)  # minus the matches, below
        res["HOTA_FP"] += f.pr_valid.sum(axis=0)
        sim = _similarity(f)
        j, r, c = _assign(sim)
        matches.append((j, g_ids[r], p_ids[c], sim[r, c, j], np.full(len(j), t)))
    if matches:
        mj, mg, mp, ms, mt = (np.concatenate(x) for x in zip(*matches))
    else:
        mj = mg = mp = mt = np.zeros(0, np.int64)
        ms = np.zeros(0)
    order = np.lexsort((mt, mg, mj))  # by joint, GT id, time: fragments are runs of one prediction id
    mj, mg, mp, ms = mj[order], mg[order], mp[order], ms[order]
    for a, alpha in enumerate(ALPHAS):
        hit = ms >= alpha - _EPS
        j, g, p, s = mj[hit], mg[hit], mp[hit], ms[hit]
        tp = np.bincount(j, minlength=J).astype(float)
        res["HOTA_TP"][a] = tp
        res["HOTA_FN"][a] -= tp
        res["HOTA_FP"][a] -= tp
        res["LocA"][a] = np.bincount(j, s, minlength=J)
        # association: matches per (joint, GT id, prediction id)
        pair = (j * n_gt + g) * n_pr + p
        key, m = np.unique(pair, return_counts=True)
        kj, kg, kp = key // (n_gt * n_pr), key // n_pr % n_gt, key % n_pr
        gc, pc = gt_count[kg, kj], pr_count[kp, kj]
        union = np.maximum(1, gc + pc - m)
        denom = np.maximum(1, tp)
        res["AssA"][a] = np.bincount(kj, m * m / union, minlength=J) / denom
        res["AssRe"][a] = np.bincount(kj, m * m / np.maximum(1, gc), minlength=J) / denom
        res["AssPr"][a] = np.bincount(kj, m * m / np.maximum(1, pc), minlength=J) / denom
        # fragments: a new one whenever the prediction id matched to a GT id changes
        start = np.ones(len(j), bool)
        start[1:] = (j[1:] != j[:-1]) | (g[1:] != g[:-1]) | (p[1:] != p[:-1])
        size = np.bincount(np.cumsum(start) - 1).astype(float)
        frag_union = union[np.searchsorted(key, pair[start])]
        res["FragA"][a] = np.bincount(j[start], size * size / frag_union, minlength=J) / denom
    res["LocA"] = np.maximum(1e-10, res["LocA"]) / np.maximum(1e-10, res["HOTA_TP"])
    return _with_total(_final(res), opts.joint_mean_total)


def _final(res: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The fields that follow from counts and association scores (the kit's ``_compute_final_fields``)."""
    tp, fn, fp = res["HOTA_TP"], res["HOTA_FN"], res["HOTA_FP"]
    res["DetRe"] = tp / np.maximum(1, tp + fn)
    res["DetPr"] = tp / np.maximum(1, tp + fp)
    res["DetA"] = tp / np.maximum(1, tp + fn + fp)
    res["HOTA"] = np.sqrt(res["DetA"] * res["AssA"])
    res["RHOTA"] = np.sqrt(res["DetRe"] * res["AssA"])
    frag = np.sqrt(res["AssA"] * res["FragA"])
    res["FA-HOTA"] = np.sqrt(res["DetA"] * frag)
    res["FA-RHOTA"] = np.sqrt(res["DetRe"] * frag)
    return res


def _with_total(res: dict[str, np.ndarray], joint_mean: bool) -> dict[str, np.ndarray]:
    """Append the Total column: counts summed, the rest the joint mean (or, not ``joint_mean``,
    association scores and LocA weighted by the joints' true positives)."""
    tp = res["HOTA_TP"]
    out = {}
    for k, v in res.items():
        if k in COUNT_FIELDS:
            total = v.sum(axis=1)
        elif joint_mean or k not in ASSOC_FIELDS + ("LocA",):
            total = v.mean(axis=1)
        elif k == "LocA":
            total = np.maximum(1e-10, (v * tp).sum(axis=1)) / np.maximum(1e-10, tp.sum(axis=1))
        else:
            total = (v * tp).sum(axis=1) / np.maximum(1, tp.sum(axis=1))
        out[k] = np.append(v, total[:, None], axis=1)
    return out


def _combine(per_seq: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The kit's ``combine_sequences``: counts summed, association scores and LocA TP-weighted."""
    res = {k: sum(r[k] for r in per_seq) for k in COUNT_FIELDS}
    tp = res["HOTA_TP"]
    for k in ASSOC_FIELDS:
        res[k] = sum(r[k] * r["HOTA_TP"] for r in per_seq) / np.maximum(1.0, tp)
    res["LocA"] = np.maximum(1e-10, sum(r["LocA"] * r["HOTA_TP"] for r in per_seq)) / np.maximum(1e-10, tp)
    return _final(res)


# --------------------------------------------------------------------------- public

def _video_job(job: tuple[Path, Path, HotaOptions]) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    gt_path, pr_path, opts = job
    frames = _load_frames(gt_path, pr_path, opts)
    counts = {"Dets": sum(len(f.pr_id) for f in frames), "GT_Dets": sum(len(f.gt_id) for f in frames),
              "IDs": len(np.unique(np.concatenate([f.pr_id for f in frames]))) if frames else 0,
              "GT_IDs": len(np.unique(np.concatenate([f.gt_id for f in frames]))) if frames else 0,
              "frames": len(frames)}
    return _sequence(frames, opts), counts


def video_pairs(gt_dir: str | os.PathLike, pred_dir: str | os.PathLike) -> list[tuple[Path, Path]]:
    """(GT file, prediction file) for every ``GT_DIR/*.json``, sorted by name; a missing prediction is an error."""
    gt_dir, pred_dir = Path(gt_dir), Path(pred_dir)
    if not gt_dir.is_dir():
        raise FileNotFoundError(f"GT directory not found: {gt_dir}")
    if not pred_dir.is_dir():
        raise FileNotFoundError(f"prediction directory not found: {pred_dir}")
    videos = sorted(gt_dir.glob("*.json"))
    if not videos:
        raise FileNotFoundError(f"no *.json files in GT directory {gt_dir}")
    for gt_path in videos:
        if not (pred_dir / gt_path.name).is_file():
            raise FileNotFoundError(f"prediction file missing: {pred_dir / gt_path.name} (for GT {gt_path})")
    return [(g, pred_dir / g.name) for g in videos]


def evaluate_hota(gt_dir: str | os.PathLike, pred_dir: str | os.PathLike,
                  options: HotaOptions = HotaOptions(), workers: int = 1) -> dict:
    """Keypoint HOTA of ``PRED_DIR/<name>.json`` against every ``GT_DIR/*.json`` (PoseTrack18 or 21).

    Returns, in percent (100 x mean over the 19 alphas), ``{field: {joint: value, ..., "Total": value}}``
    for every figure of the kit (``FIELDS``; counts as their mean over alpha, not in percent), plus
    ``Count`` ({Dets, GT_Dets, IDs, GT_IDs}: people and ids in labelled frames), ``num_videos``,
    ``num_frames`` (labelled frames) and ``options``. ``workers`` > 1 scores videos in processes.
    """
    jobs = [(g, p, options) for g, p in video_pairs(gt_dir, pred_dir)]
    if workers > 1 and len(jobs) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
            per_video = list(pool.map(_video_job, jobs, chunksize=4))
    else:
        per_video = [_video_job(job) for job in jobs]
    res = _combine([r for r, _ in per_video])
    cols = HOTA_JOINTS + ("Total",)
    out: dict = {}
    for k in FIELDS:
        base = k.removesuffix("(0)")
        if base == "HOTALocA":
            v = 100.0 * res["HOTA"][0] * res["LocA"][0]
        elif k.endswith("(0)"):  # the value at the first alpha (0.05)
            v = res[base][0] * (1.0 if base in COUNT_FIELDS else 100.0)
        else:
            v = res[k].mean(axis=0) * (1.0 if k in COUNT_FIELDS else 100.0)
        out[k] = {c: float(x) for c, x in zip(cols, v)}
    out["Count"] = {k: int(sum(c[k] for _, c in per_video)) for k in COUNT_TABLE}
    out["num_videos"] = len(jobs)
    out["num_frames"] = int(sum(c["frames"] for _, c in per_video))
    out["options"] = {f.name: getattr(options, f.name) for f in fields(options)}
    return out


def format_hota_table(results: dict) -> str:
    """The kit's summary table (one row per figure, columns Nose .. RA, Total) and its Count table."""
    def row(cells: list[str], first: int = 25, width: int = 10) -> str:
        return f"%-{first}s" % cells[0] + "".join(f"%-{width}s" % c for c in cells[1:])

    def cell(field: str, v: float) -> str:
        return "%d" % int(v) if field in _INT_FIELDS else "{0:1.5g}".format(v)

    cols = HOTA_JOINTS + ("Total",)
    lines = ["HOTAeypoints->Summary:", row(["\t", *cols]), row(["\tMetric"])]
    lines += [row([f"\t{k}", *(cell(k, results[k][c]) for c in cols)]) for k in FIELDS]
    lines += ["", row(["Count", *COUNT_TABLE], first=35), row(["COMBINED", *(str(results["Count"][k]) for k in COUNT_TABLE)], first=35)]
    return "\n".join(lines)
