"""PoseTrack evaluation: per-joint AP and MOTA/MOTP/precision/recall, as the official poseval.

Shapes: P predicted people, G ground-truth people, J = 15 joints (PoseTrack 2017 ids, see
``posetrack.io.posetrack_json.PT17_JOINTS``). Coordinates are image pixels; distances are in
units of the GT head size ``0.6 * ||head box diagonal||`` (PCKh, threshold 0.5).

The official tool's behaviour, quirks included, is described in
``shared/specs/posetrack_eval.md``. ``EvalOptions()`` reproduces it; each quirk that is a plain
bug can be switched off (``EvalOptions.fixed()`` switches all of them off):

* ``motp_raw``: MOTP sums every finite candidate distance (motmetrics RAW rows), not only
  those of matched pairs. Fixed: CLEAR-MOT MOTP from MATCH/SWITCH distances.
* ``empty_frame_dummy``: a frame without predictions or without GT people adds one phantom
  object and one phantom hypothesis per joint instead of its real ones. Fixed: its real GT
  joints count as misses and its predicted joints as false positives.
* ``skip_last_frame``: the last kept frame of every video is left out of the MOT metrics.
* ``pair_by_position``: prediction frames are paired with GT frames by list index. Fixed:
  paired by ``file_name`` (every GT frame must be present).
* ``dir_order``: videos are visited in directory order (poseval's unsorted ``glob``); this
  only matters for AP when scores tie exactly. Fixed: sorted by name.

A video with a single kept frame crashes poseval (IndexError) once its last frame is dropped;
here it contributes nothing to the MOT metrics (what poseval's arithmetic gives without the
crash) and a warning is logged. Its frame still counts for AP.
"""

from __future__ import annotations

import glob
import logging
import math
import os
from dataclasses import dataclass, fields, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from posetrack.io.posetrack_json import (
    MAX_TRACK_ID, PT17_JOINTS, PT17_TO_PT18, FrameArrays, PoseTrackFormatError, VideoFile, posetrack_image_id,
)

logger = logging.getLogger(__name__)

NUM_JOINTS = 15
PCKH_THRESHOLD = 0.5
MIN_SCORE = -9999.0  # poseval's score for a predicted keypoint without one
# Joint groups (issue-4 names, the JSON keys): poseval averages the joints of each group (2017 joint ids).
JOINT_GROUPS: dict[str, tuple[int, ...]] = {
    "Head": (14, 12, 13), "Shoulder": (8, 9), "Elbow": (7, 10), "Wrist": (6, 11),
    "Hip": (2, 3), "Knee": (1, 4), "Ankle": (0, 5),
}
# poseval's abbreviated column headers, used only in the printed table
TABLE_LABELS = {"Shoulder": "Shou", "Elbow": "Elb", "Wrist": "Wri", "Ankle": "Ankl"}


class QuirkOptions:
    """Base of a frozen dataclass of bool fields, one per quirk of an official tool (True: reproduced)."""

    @classmethod
    def fixed(cls):
        return cls(**{f.name: False for f in fields(cls)})

    def without(self, *quirks: str):
        known = [f.name for f in fields(self)]
        unknown = set(quirks) - set(known)
        if unknown:
            raise ValueError(f"unknown quirk(s) {sorted(unknown)}; known: {', '.join(known)}")
        return replace(self, **{q: False for q in quirks})


@dataclass(frozen=True)
class EvalOptions(QuirkOptions):
    """Which poseval quirks to reproduce (all True: the official numbers)."""

    motp_raw: bool = True
    empty_frame_dummy: bool = True
    skip_last_frame: bool = True
    pair_by_position: bool = True
    dir_order: bool = True


# --------------------------------------------------------------------------- ignore regions

_CCW_ERRBOUND = (3.0 + 16.0 * 2.0**-53) * 2.0**-53  # Shewchuk's orient2d error bound


def _orientation(a: np.ndarray, b: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Exact sign of orient2d(a, b, p): +1 when p is left of a->b (counter-clockwise), 0 on the line.

    Float64 with Shewchuk's error bound; the rare ambiguous cases are redone in exact rationals,
    as GEOS (shapely) decides them exactly.
    """
    detl = (a[..., 0] - p[..., 0]) * (b[..., 1] - p[..., 1])
    detr = (a[..., 1] - p[..., 1]) * (b[..., 0] - p[..., 0])
    det = detl - detr
    sign = np.sign(det)
    unsure = np.abs(det) <= _CCW_ERRBOUND * np.abs(detl + detr)
    for idx in zip(*np.nonzero(unsure)):
        (ax, ay), (bx, by), (px, py) = (map(Fraction, v[idx].tolist()) for v in (a, b, p))
        exact = (ax - px) * (by - py) - (ay - py) * (bx - px)
        sign[idx] = (exact > 0) - (exact < 0)
    return sign


def points_in_polygons(points: np.ndarray, polygons: list[np.ndarray]) -> np.ndarray:
    """(M, 2) points -> (M,) bool: strictly inside at least one polygon (boundary is outside).

    Same answer as shapely ``Polygon(poly).contains(Point(p))``: GEOS's ray-crossing count
    (even-odd) with boundary points excluded, decided exactly. Polygons with fewer than 3
    vertices contain nothing (shapely refuses to build them).
    """
    points = np.asarray(points, np.float64).reshape(-1, 2)
    rings = [np.asarray(r, np.float64).reshape(-1, 2) for r in polygons]
    rings = [r for r in rings if len(r) >= 3]
    if not rings or len(points) == 0:
        return np.zeros(len(points), bool)
    # all edges of all rings side by side; each ring's edges are contiguous
    p1 = np.concatenate(rings)[None]
    p2 = np.concatenate([np.roll(r, -1, axis=0) for r in rings])[None]
    starts = np.cumsum([0] + [len(r) for r in rings[:-1]])
    px, py = points[:, None, 0], points[:, None, 1]
    x1, y1, x2, y2 = p1[..., 0], p1[..., 1], p2[..., 0], p2[..., 1]
    left_of_point = (x1 < px) & (x2 < px)
    at_vertex = (px == x2) & (py == y2)
    horizontal = (y1 == py) & (y2 == py)
    on_horizontal = horizontal & (px >= np.minimum(x1, x2)) & (px <= np.maximum(x1, x2))
    straddles = ((y1 > py) & (y2 <= py)) | ((y2 > py) & (y1 <= py))
    live = ~left_of_point & ~at_vertex & ~horizontal & straddles  # (M, E)
    orient = np.zeros(live.shape)
    ii, jj = np.nonzero(live)
    if len(ii):
        orient[ii, jj] = _orientation(p1[0, jj], p2[0, jj], points[ii])
    on_segment = ~left_of_point & (at_vertex | on_horizontal | (live & (orient == 0)))
    crosses = live & (np.where(y2 < y1, -orient, orient) > 0)  # upward edge, point on its left
    odd = np.add.reduceat(crosses, starts, axis=1) % 2 == 1  # (M, rings)
    boundary = np.logical_or.reduceat(on_segment, starts, axis=1)
    return np.any(odd & ~boundary, axis=1)


# --------------------------------------------------------------------------- per-frame arrays

@dataclass
class _People:
    """People of one frame in evaluation form (J = 15 joint ids).

    xy: (N, J, 2); has: (N, J) bool; score: (N, J) keypoint scores (MIN_SCORE where missing);
    tid: (N,) int64 track ids (offset by video index * 10000 as poseval); head: (N, 4) x1, y1, x2, y2 or None.
    """

    xy: np.ndarray
    has: np.ndarray
    score: np.ndarray
    tid: np.ndarray
    head: np.ndarray | None

    def __len__(self) -> int:
        return len(self.tid)

    def select(self, keep: np.ndarray) -> "_People":
        return _People(self.xy[keep], self.has[keep], self.score[keep], self.tid[keep],
                       None if self.head is None else self.head[keep])


def _people(frame: FrameArrays, offset: int, need_head: bool, where: str) -> _People:
    keep = frame.annotated  # poseval drops rects without annopoints
    kp = frame.keypoints[keep][:, PT17_TO_PT18]
    head = None
    if need_head:
        head = frame.head_box[keep]
        missing = np.nonzero(np.isnan(head).any(axis=1))[0]
        if len(missing):
            raise PoseTrackFormatError(f"{where}: person {np.nonzero(keep)[0][missing[0]]}: GT head box missing "
                                       "('bbox_head' in 2018, 'x1,y1,x2,y2' in 2017)")
    score = np.where(np.isnan(kp[..., 2]), MIN_SCORE, kp[..., 2])
    has = frame.present[keep][:, PT17_TO_PT18]
    return _People(kp[..., :2], has, score, frame.track_id[keep] + offset, head)


def _remove_ignored(gt: _People, pr: _People, regions: list[np.ndarray]) -> tuple[_People, _People]:
    """Delete GT and predicted joints strictly inside an ignore region, then people left without joints."""
    idx = [np.nonzero(p.has) for p in (gt, pr)]
    inside = points_in_polygons(np.concatenate([gt.xy[idx[0]], pr.xy[idx[1]]]), regions)
    out = []
    for people, (rows, cols), hit in zip((gt, pr), idx, np.split(inside, [len(idx[0][0])])):
        has = people.has.copy()
        has[rows[hit], cols[hit]] = False
        kept = _People(people.xy, has, people.score, people.tid, people.head)
        out.append(kept.select(has.any(axis=1)))
    return out[0], out[1]


@dataclass
class _FrameResult:
    """AP records and MOT inputs of one kept frame.

    score, label, has: (P, J) for the predictions in file order; n_gt: (J,) annotated GT joints;
    mot: per joint (oids, hids, D (len(oids), len(hids)) NaN = may not pair).
    """

    score: np.ndarray
    label: np.ndarray
    has: np.ndarray
    n_gt: np.ndarray
    mot: list[tuple[np.ndarray, np.ndarray, np.ndarray]]


_DUMMY = (np.array([0]), np.array([0]), np.full((1, 1), np.nan))


def _evaluate_frame(gt: _People, pr: _People, dummy: bool) -> _FrameResult:
    P, G = len(pr), len(gt)
    label = np.zeros((P, NUM_JOINTS), bool)
    n_gt = gt.has.sum(axis=0)
    if P == 0 or G == 0:
        if dummy:
            mot = [_DUMMY] * NUM_JOINTS
        else:
            mot = [(gt.tid[gt.has[:, j]], pr.tid[pr.has[:, j]],
                    np.full((int(gt.has[:, j].sum()), int(pr.has[:, j].sum())), np.nan)) for j in range(NUM_JOINTS)]
        return _FrameResult(pr.score, label, pr.has, n_gt, mot)
    head_size = 0.6 * np.sqrt((gt.head[:, 2] - gt.head[:, 0]) ** 2 + (gt.head[:, 3] - gt.head[:, 1]) ** 2)
    diff = gt.xy[None, :, :, :] - pr.xy[:, None, :, :]  # (P, G, J, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = np.sqrt(diff[..., 0] ** 2 + diff[..., 1] ** 2) / head_size[None, :, None]
    dist[~(pr.has[:, None, :] & gt.has[None, :, :])] = np.inf
    match = dist <= PCKH_THRESHOLD  # (P, G, J)
    # person assignment (AP only): each prediction keeps its best GT, each GT its best prediction
    n_joints = gt.has.sum(axis=1)
    pck = match.sum(axis=2).astype(np.float64)
    pck[:, n_joints > 0] /= n_joints[n_joints > 0]
    best_gt = np.argmax(pck, axis=1)
    only_best = np.zeros_like(pck)
    only_best[np.arange(P), best_gt] = pck[np.arange(P), best_gt]
    pr_of_gt = np.argmax(only_best, axis=0)
    matched_gt = only_best.max(axis=0) > 0
    label[pr_of_gt[matched_gt]] = match[pr_of_gt[matched_gt], np.nonzero(matched_gt)[0]]
    pair_dist = np.where(match, dist, np.nan).transpose(2, 1, 0)  # (J, G, P); NaN: may not pair
    mot = []
    for j in range(NUM_JOINTS):
        g_has, p_has = gt.has[:, j], pr.has[:, j]
        mot.append((gt.tid[g_has], pr.tid[p_has], pair_dist[j][g_has][:, p_has]))
    return _FrameResult(pr.score, label, pr.has, n_gt, mot)


# --------------------------------------------------------------------------- loading

def _check_track_ids(video: VideoFile, unique: bool) -> None:
    """poseval asserts id < 10000 in every frame and, for predictions, unique ids per frame."""
    for i in range(len(video)):
        ids = video.raw_track_ids(i)
        for k, t in enumerate(ids):
            if isinstance(t, bool) or not isinstance(t, (int, float)) or t != int(t) or t >= MAX_TRACK_ID:
                raise PoseTrackFormatError(f"{video.path}: frame {i} ({video.frame_name(i)}): person {k}: "
                                           f"field 'track_id' must be an integer below {MAX_TRACK_ID}, got {t!r}")
        if unique and len(set(ids)) != len(ids):
            dup = sorted({t for t in ids if ids.count(t) > 1})
            raise PoseTrackFormatError(f"{video.path}: frame {i} ({video.frame_name(i)}): "
                                       f"duplicate track id(s) {dup} in one frame")


def _pair_frames(gt: VideoFile, pr: VideoFile, by_position: bool) -> list[int]:
    """For each GT frame index, the index of its prediction frame."""
    if by_position:
        if len(pr) != len(gt):
            raise PoseTrackFormatError(f"{pr.path}: {len(pr)} prediction frames but {len(gt)} GT frames "
                                       f"in {gt.path} (frames are paired by position)")
        return list(range(len(gt)))
    index = {pr.frame_name(i): i for i in range(len(pr))}
    pairs = []
    for i in range(len(gt)):
        name = gt.frame_name(i)
        if name not in index:
            raise PoseTrackFormatError(f"{pr.path}: no prediction frame named {name!r} (GT frame {i})")
        pairs.append(index[name])
    return pairs


def _check_2018_names(video: VideoFile) -> None:
    # poseval rebuilds each 2018 frame's id from its file name and fails when it cannot
    if video.format != "2018":
        return
    for i in range(len(video)):
        if posetrack_image_id(video.frame_name(i)) is None:
            raise PoseTrackFormatError(
                f"{video.path}: frame {i}: field 'file_name' {video.frame_name(i)!r} must look like "
                "'images/val/012834_mpii_test/000000.jpg' (sequence NNNNNN_mpii|bonn|mpiinew, frame < 10000)")


def _threshold(pr: _People, kpt_thr: float | None) -> _People:
    """Predicted joints scoring below ``kpt_thr`` made absent, then people without joints dropped:
    what scoring a file written with that ``--kpt-thr`` gives."""
    if kpt_thr is None:
        return pr
    has = pr.has & (pr.score >= kpt_thr)
    return _People(pr.xy, has, pr.score, pr.tid, pr.head).select(has.any(axis=1))


def _evaluate_video(gt_path: Path, pr_path: Path, seq_index: int, opts: EvalOptions,
                    kpt_thr: float | None = None) -> list[_FrameResult]:
    gt, pr = VideoFile(gt_path), VideoFile(pr_path)
    for v in (gt, pr):
        _check_2018_names(v)
    _check_track_ids(gt, unique=False)
    _check_track_ids(pr, unique=True)
    pairs = _pair_frames(gt, pr, opts.pair_by_position)
    offset = seq_index * MAX_TRACK_ID
    results = []
    for i in range(len(gt)):
        if gt.num_people(i) == 0:  # only frames with GT people count; is_labeled is never read
            continue
        gframe, pframe = gt.frame_arrays(i), pr.frame_arrays(pairs[i])
        where = f"{gt.path}: frame {i} ({gt.frame_name(i)})"
        g = _people(gframe, offset, True, where)
        p = _threshold(_people(pframe, offset, False, where), kpt_thr)
        if gframe.ignore_regions:
            g, p = _remove_ignored(g, p, gframe.ignore_regions)
        results.append(_evaluate_frame(g, p, opts.empty_frame_dummy))
    return results


# --------------------------------------------------------------------------- metrics

def voc_ap(rec: np.ndarray, prec: np.ndarray) -> float:
    """VOC all-points AP (area under the precision envelope) of a PR curve, in [0, 1]."""
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[0.0], prec, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.nonzero(mrec[1:] != mrec[:-1])[0] + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


def _ap_per_joint(frames: list[_FrameResult]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(J,) AP, last precision, last recall (percent); AP 0 for a joint without predictions."""
    ap, pre, rec = np.zeros(NUM_JOINTS), np.zeros(NUM_JOINTS), np.zeros(NUM_JOINTS)
    score = np.concatenate([f.score for f in frames]) if frames else np.zeros((0, NUM_JOINTS))
    label = np.concatenate([f.label for f in frames]) if frames else np.zeros((0, NUM_JOINTS), bool)
    has = np.concatenate([f.has for f in frames]) if frames else np.zeros((0, NUM_JOINTS), bool)
    n_gt = np.sum([f.n_gt for f in frames], axis=0) if frames else np.zeros(NUM_JOINTS)
    for j in range(NUM_JOINTS):
        s, lab = score[has[:, j], j], label[has[:, j], j]
        if len(s) == 0:
            continue
        order = s.argsort()[::-1]  # poseval's order, ties included
        tp = np.cumsum(lab[order])
        with np.errstate(divide="ignore", invalid="ignore"):
            recall = tp / float(n_gt[j])
        precision = tp / np.arange(1, len(s) + 1)
        ap[j] = voc_ap(recall, precision) * 100.0
        pre[j], rec[j] = precision[-1] * 100.0, recall[-1] * 100.0
    return ap, pre, rec


_COUNTS = ("num_misses", "num_switches", "num_false_positives", "num_objects", "num_detections")


def _event_columns(acc) -> tuple[np.ndarray, np.ndarray]:
    """Event types and distances of a MOTAccumulator, in event order.

    Read from its event lists: building ``acc.events`` (a pandas DataFrame) per accumulator
    would cost more than the whole rest of the evaluation.
    """
    events = getattr(acc, "_events", None)
    if isinstance(events, dict) and "Type" in events and "D" in events:
        return np.asarray(events["Type"], dtype=object), np.asarray(events["D"], np.float64)
    ev = acc.events  # other motmetrics versions: the public (slower) way
    return ev["Type"].astype(str).to_numpy(object), ev["D"].to_numpy(np.float64)


def _event_frames(acc) -> np.ndarray:
    """Accumulator frame index (0-based, ``auto_id``) of every event, in ``_event_columns``' order."""
    indices = getattr(acc, "_indices", None)
    if isinstance(indices, dict) and "FrameId" in indices:
        return np.asarray(indices["FrameId"], np.int64)
    return acc.events.index.get_level_values("FrameId").to_numpy(np.int64)


def _joint_accumulators(frames: list[_FrameResult]):
    """Yields (joint, motmetrics accumulator over ``frames``) for the 15 joints."""
    import motmetrics as mm

    # poseval ran on scipy's Hungarian; motmetrics would prefer the 'lap' package when installed
    with mm.lap.set_default_solver("scipy"):
        for j in range(NUM_JOINTS):
            acc = mm.MOTAccumulator(auto_id=True)
            for f in frames:
                acc.update(*f.mot[j])
            yield j, acc


def _mot_counts(frames: list[_FrameResult], opts: EvalOptions) -> dict[str, np.ndarray]:
    """Per-joint motmetrics counts and distance sum of one video."""
    out = {k: np.zeros(NUM_JOINTS) for k in _COUNTS + ("sumD",)}
    if opts.skip_last_frame:
        frames = frames[:-1]
    if not frames:
        return out
    for j, acc in _joint_accumulators(frames):
        kind, dists = _event_columns(acc)
        n = {t: int(np.count_nonzero(kind == t)) for t in ("MATCH", "SWITCH", "MISS", "FP")}
        out["num_misses"][j] = n["MISS"]
        out["num_switches"][j] = n["SWITCH"]
        out["num_false_positives"][j] = n["FP"]
        out["num_objects"][j] = n["MATCH"] + n["SWITCH"] + n["MISS"]
        out["num_detections"][j] = n["MATCH"] + n["SWITCH"]
        if not opts.motp_raw:
            dists = dists[(kind == "MATCH") | (kind == "SWITCH")]
        # pandas' Series.sum (poseval: acc.events['D'].sum()) zero-fills NaN, then numpy's sum
        out["sumD"][j] = np.where(np.isnan(dists), 0.0, dists).sum()
    return out


def _nanmean(v: np.ndarray) -> float:
    v = v[~np.isnan(v)]
    return float(v.mean()) if len(v) else math.nan


def _columns(per_joint: np.ndarray) -> dict[str, float]:
    """Group columns (plain mean, NaN propagates, as poseval's table) and Total (NaN-skipping mean)."""
    out = {name: float(np.mean(per_joint[list(ids)])) for name, ids in JOINT_GROUPS.items()}
    out["Total"] = _nanmean(per_joint)
    return out


def _list_videos(gt_dir: Path, dir_order: bool) -> list[Path]:
    names = glob.glob(os.path.join(gt_dir, "*.json"))
    return [Path(n) for n in (names if dir_order else sorted(names))]


def _video_job(job: tuple[Path, Path, int, EvalOptions, float | None]
               ) -> tuple[list[_FrameResult], dict[str, np.ndarray]]:
    gt_path, pr_path, seq_index, options, kpt_thr = job
    frames = _evaluate_video(gt_path, pr_path, seq_index, options, kpt_thr)
    return frames, _mot_counts(frames, options)


def evaluate(gt_dir: str | os.PathLike, pred_dir: str | os.PathLike,
             options: EvalOptions = EvalOptions(), workers: int = 1, kpt_thr: float | None = None) -> dict:
    """Evaluate every ``GT_DIR/*.json`` against ``PRED_DIR/<same name>``.

    ``workers`` > 1 reads and scores videos in that many processes (same numbers). ``kpt_thr``:
    predicted joints scoring below it count as absent (equal to scoring files written with
    ``posetrack track --kpt-thr``).

    Returns ``{"ap"|"mota"|"motp"|"precision"|"recall": {Head, Shoulder, Elbow, Wrist, Hip, Knee,
    Ankle, Total}}`` in percent (NaN where undefined), plus ``per_joint`` (the 15 joints by 2017 id
    name, and AP's last precision/recall), ``counts`` (summed motmetrics counts per joint),
    ``num_videos``, ``num_frames`` (kept frames) and ``options``.
    """
    gt_dir, pred_dir = Path(gt_dir), Path(pred_dir)
    if not gt_dir.is_dir():
        raise FileNotFoundError(f"GT directory not found: {gt_dir}")
    if not pred_dir.is_dir():
        raise FileNotFoundError(f"prediction directory not found: {pred_dir}")
    videos = _list_videos(gt_dir, options.dir_order)
    if not videos:
        raise FileNotFoundError(f"no *.json files in GT directory {gt_dir}")
    jobs = []
    for seq_index, gt_path in enumerate(videos):
        pr_path = pred_dir / gt_path.name
        if not pr_path.is_file():
            raise FileNotFoundError(f"prediction file missing: {pr_path} (for GT {gt_path})")
        jobs.append((gt_path, pr_path, seq_index, options, kpt_thr))
    if workers > 1 and len(jobs) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
            per_video = list(pool.map(_video_job, jobs, chunksize=4))
    else:
        per_video = [_video_job(job) for job in jobs]
    all_frames: list[_FrameResult] = []
    totals = {k: np.zeros(NUM_JOINTS) for k in _COUNTS + ("sumD",)}
    for (gt_path, *_), (frames, counts) in zip(jobs, per_video):  # video order: sums as poseval's
        all_frames += frames
        if len(frames) == 1 and options.skip_last_frame:
            logger.warning("%s: only one frame with GT people; poseval crashes here (IndexError). "
                           "It contributes nothing to the MOT metrics.", gt_path)
        for k in totals:
            totals[k] += counts[k]

    ap, ap_pre, ap_rec = _ap_per_joint(all_frames)
    with np.errstate(divide="ignore", invalid="ignore"):
        n_obj = np.where(totals["num_objects"] > 0, totals["num_objects"], np.nan)
        fp, det = totals["num_false_positives"], totals["num_detections"]
        mota = 100.0 * (1.0 - (totals["num_misses"] + totals["num_switches"] + fp) / n_obj)
        motp = np.where(det == 0, 0.0, 100.0 * (1.0 - totals["sumD"] / np.where(det == 0, 1, det)))
        prec = 100.0 * det / np.where(fp + det > 0, fp + det, np.nan)
        rec = 100.0 * det / n_obj
    names = list(PT17_JOINTS)

    def by_joint(v: np.ndarray) -> dict[str, float]:
        return {n: float(x) for n, x in zip(names, v)}

    return {
        "ap": _columns(ap), "mota": _columns(mota), "motp": _columns(motp),
        "precision": _columns(prec), "recall": _columns(rec),
        "per_joint": {"ap": by_joint(ap), "ap_precision": by_joint(ap_pre), "ap_recall": by_joint(ap_rec),
                      "mota": by_joint(mota), "motp": by_joint(motp),
                      "precision": by_joint(prec), "recall": by_joint(rec)},
        "counts": {k: by_joint(v) for k, v in totals.items()},
        "num_videos": len(videos), "num_frames": len(all_frames),
        "options": {f.name: getattr(options, f.name) for f in fields(options)},
    }


def frame_events(gt_path: str | os.PathLike, pred_path: str | os.PathLike,
                 options: EvalOptions = EvalOptions()) -> dict[str, np.ndarray]:
    """Where one video's MOT errors happen, for marking frames.

    Returns ``frame`` (M,): the prediction frame index of each of the M frames with GT people, and
    ``misses``, ``false_positives``, ``switches`` (M,): motmetrics' events there, summed over the 15
    joints. Every such frame counts, the last one too (``skip_last_frame`` only shapes MOTA).
    """
    gt_path, pred_path = Path(gt_path), Path(pred_path)
    gt, pr = VideoFile(gt_path), VideoFile(pred_path)
    pairs = _pair_frames(gt, pr, options.pair_by_position)
    frame = np.array([pairs[i] for i in range(len(gt)) if gt.num_people(i)], np.int64)
    frames = _evaluate_video(gt_path, pred_path, 0, options)
    out = {"frame": frame, **{k: np.zeros(len(frames), np.int64) for k in ("misses", "false_positives", "switches")}}
    for _, acc in _joint_accumulators(frames):
        kind, at = _event_columns(acc)[0], _event_frames(acc)
        for key, event in (("misses", "MISS"), ("false_positives", "FP"), ("switches", "SWITCH")):
            out[key] += np.bincount(at[kind == event], minlength=len(frames))
    return out

def sweep_kpt_thr(gt_dir: str | os.PathLike, pred_dir: str | os.PathLike, thresholds: list[float],
                  options: EvalOptions = EvalOptions(), workers: int = 1) -> list[dict]:
    """One unthresholded prediction folder scored at each keypoint threshold:
    ``[{"kpt_thr": t, "ap", "mota", "motp", "precision", "recall": {group: percent}}, ...]``."""
    out = []
    for t in thresholds:
        r = evaluate(gt_dir, pred_dir, options, workers, kpt_thr=t)
        out.append({"kpt_thr": t, **{k: r[k] for k in ("ap", "mota", "motp", "precision", "recall")}})
    return out


def format_sweep(sweep: list[dict]) -> str:
    """One row per threshold: AP per group and total, MOTA total, precision and recall."""
    cols = list(JOINT_GROUPS) + ["Total"]
    head = "kpt_thr |" + "".join(f" AP {TABLE_LABELS.get(c, c):<5}" for c in cols) + " | MOTA   Prec   Rec"
    rows = [f"{e['kpt_thr']:7.2f} |" + "".join(f" {e['ap'][c]:8.1f}" for c in cols)
            + f" | {e['mota']['Total']:5.1f} {e['precision']['Total']:6.1f} {e['recall']['Total']:5.1f}"
            for e in sweep]
    return "\n".join(["Keypoint threshold sweep (AP and MOT totals in percent):", head, *rows])


def format_table(results: dict) -> str:
    """The two tables poseval prints (AP; MOTA per group, then MOTP/Prec/Rec totals)."""
    cols = list(JOINT_GROUPS) + ["Total"]
    labels = [TABLE_LABELS.get(c, c) for c in cols]

    def cell(v: float) -> str:
        return "{:>5}".format("%1.1f" % v)

    head = "&" + "&".join(f" {c:<4} " if c != "Total" else " Total" for c in labels) + "\\\\"
    ap_row = "&" + " &".join(cell(results["ap"][c]) for c in cols) + " \\\\"
    mot_head1 = "&" + " MOTA &" * 8 + " MOTP &" + " Prec &" + " Rec  \\\\"
    mot_head2 = "&" + "&".join(f" {c:<4} " for c in labels[:-1]) + "&" + " Total&" * 3 + " Total\\\\"
    mot_vals = [results["mota"][c] for c in cols] + [results["motp"]["Total"], results["precision"]["Total"],
                                                    results["recall"]["Total"]]
    mot_row = "&" + " &".join(cell(v) for v in mot_vals) + " \\\\"
    return "\n".join(["Average Precision (AP) metric:", head, ap_row,
                      "Multiple Object Tracking (MOT) metrics:", mot_head1, mot_head2, mot_row])
