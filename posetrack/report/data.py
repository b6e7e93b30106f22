"""A tracked video as flat arrays, and the per-track statistics the report shows.

Shapes: F frames, N person entries over all frames (frame-major), T tracks, K = 17
PoseTrack-2018 slots. Coordinates are image pixels.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posetrack.io.posetrack_json import VideoFile, load_json


@dataclass
class TrackedVideo:
    """offsets (F+1,): frame f's people are entries offsets[f]:offsets[f+1];
    frame (N,) frame index; track_id (N,); score (N,) person score (NaN: none given);
    keypoints (N, K, 3) x, y, score (NaN: none given); present (N, K) bool;
    box (N, 4) x, y, w, h (the file's bbox, else the extent of the present joints)."""

    offsets: np.ndarray
    frame: np.ndarray
    track_id: np.ndarray
    score: np.ndarray
    keypoints: np.ndarray
    present: np.ndarray
    box: np.ndarray

    @property
    def num_frames(self) -> int:
        return len(self.offsets) - 1

    def track_ids(self) -> np.ndarray:
        return np.unique(self.track_id)


def _joint_box(keypoints: np.ndarray, present: np.ndarray) -> np.ndarray:
    if not present.any():
        return np.full(4, math.nan)
    xy = keypoints[present, :2]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])


def _score_and_box(score: Any, bbox: Any, where: str) -> tuple[float, np.ndarray | None]:
    try:
        box = None if bbox is None else np.array(bbox, np.float64).reshape(4)
        return float(score), box
    except (TypeError, ValueError):
        raise ValueError(f"{where}: fields 'score' and 'bbox' must be a number and [x, y, w, h]") from None


def load_tracked_video(path: str | os.PathLike) -> TrackedVideo:
    """Read a PoseTrack 2017/2018 file (``posetrack track`` output or ground truth).

    Joints come through ``VideoFile.frame_arrays`` (vectorised for 2018 files, which is what makes
    a 10-minute video load in seconds); person score and box are read beside them.
    """
    path = Path(path)
    data = load_json(path)
    video = VideoFile(path, data)
    by_image: dict[Any, list[dict]] = {}
    if video.format == "2018":  # grouped as VideoFile groups them: by image_id, in file order
        for a in data.get("annotations", []):
            by_image.setdefault(a["image_id"], []).append(a)
    counts, parts = [0], []
    for i in range(len(video)):
        arr = video.frame_arrays(i)
        if video.format == "2018":
            meta = [(a.get("score", math.nan), a.get("bbox")) for a in by_image.get(video.frame_ids(i)[1], [])]
        else:
            meta = [(p.score, p.bbox) for p in video.frame(i).people]
        scores, boxes = [], []
        for k, (score, bbox) in enumerate(meta):
            score, box = _score_and_box(score, bbox, f"{path}: frame {i} ({video.frame_name(i)}): person {k}")
            scores.append(score)
            boxes.append(box if box is not None else _joint_box(arr.keypoints[k], arr.present[k]))
        counts.append(len(meta))
        parts.append((np.full(len(meta), i), arr.track_id, np.array(scores, np.float64), arr.keypoints,
                      arr.present, np.array(boxes, np.float64).reshape(-1, 4)))
    if not parts:
        raise ValueError(f"{path}: holds no frames")
    frame, track_id, score, keypoints, present, box = (np.concatenate(c) for c in zip(*parts))
    return TrackedVideo(np.cumsum(counts).astype(np.int64), frame.astype(np.int64), track_id.astype(np.int64),
                        score, keypoints.reshape(-1, 17, 3), present.reshape(-1, 17).astype(bool), box)


@dataclass
class TrackStats:
    """One track's row of the report table.

    segments: [first, last] runs of consecutive frames (a gap between runs is a re-link);
    jitter: mean joint acceleration ||p(t+1) - 2 p(t) + p(t-1)|| in px/frame^2 over joints present
    in three consecutive frames (NaN when there are none); switch_frames: frames t where the box
    centre moved more than the box size (max of width, height at t-1) since frame t-1.
    """

    track_id: int
    frames: int
    first: int
    last: int
    mean_score: float
    mean_joint_score: float
    jitter: float
    segments: list[tuple[int, int]]
    switch_frames: list[int]

    @property
    def suspected_switches(self) -> int:
        return len(self.switch_frames)


def _nanmean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else math.nan


def _one_track(video: TrackedVideo, rows: np.ndarray, track_id: int) -> TrackStats:
    order = np.argsort(video.frame[rows], kind="stable")
    rows = rows[order]
    frames = video.frame[rows]
    if np.any(np.diff(frames) == 0):
        raise ValueError(f"track {track_id} appears twice in frame {int(frames[np.argmax(np.diff(frames) == 0)])}")
    breaks = np.nonzero(np.diff(frames) != 1)[0]
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(frames) - 1]])
    segments = [(int(frames[s]), int(frames[e])) for s, e in zip(starts, ends)]

    kp, ok = video.keypoints[rows], video.present[rows]
    joint_scores = np.where(ok, kp[..., 2], np.nan)
    # accelerations only across three directly consecutive frames with the joint present in all
    triple = (frames[2:] - frames[:-2]) == 2
    acc_ok = ok[2:] & ok[1:-1] & ok[:-2] & triple[:, None]
    acc = kp[2:, :, :2] - 2 * kp[1:-1, :, :2] + kp[:-2, :, :2]
    jitter = float(np.linalg.norm(acc, axis=2)[acc_ok].mean()) if acc_ok.any() else math.nan

    box = video.box[rows]
    centre = box[:, :2] + box[:, 2:] / 2
    step = np.linalg.norm(centre[1:] - centre[:-1], axis=1)
    size = np.max(box[:-1, 2:], axis=1)
    with np.errstate(invalid="ignore"):
        jump = (np.diff(frames) == 1) & (step > size)
    return TrackStats(int(track_id), len(frames), int(frames[0]), int(frames[-1]), _nanmean(video.score[rows]),
                      _nanmean(joint_scores.reshape(-1)), jitter, segments,
                      [int(f) for f in frames[1:][jump]])


def track_stats(video: TrackedVideo) -> list[TrackStats]:
    """Per-track statistics, by ascending track id."""
    return [_one_track(video, np.nonzero(video.track_id == t)[0], int(t)) for t in video.track_ids()]
