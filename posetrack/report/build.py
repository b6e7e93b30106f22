"""Write ``OUT_DIR/report/<video>.html``: one offline page per tracked video.

The page's code lives beside this file (``template.html``, ``report.js``, ``report.css``) and is
inlined with the data, so the file opens from disk with no network request. The people travel as
base64 typed arrays, decoded once; the script draws each frame from them.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from posetrack.io.atomic import write_text_atomic
from posetrack.io.render import SKELETON, track_color
from posetrack.pose.keypoints import POSETRACK18_KEYPOINTS
from posetrack.report.data import TrackedVideo, TrackStats, load_tracked_video, track_stats
from posetrack.report.facts import read_run_facts
from posetrack.resources import package_path

# Containers and codecs every current browser decodes (H.264 in MP4; VP8/VP9/AV1 in WebM or MP4).
PLAYABLE_CONTAINERS = {".mp4": {"h264", "vp9", "av1"}, ".m4v": {"h264"}, ".mov": {"h264"},
                       ".webm": {"vp8", "vp9", "av1"}}
COORD_SCALE = 4  # joints travel as int16 quarter pixels: 8 K frames fit, 0.125 px rounding


def _f(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 4)


def browser_playable(path: Path) -> bool:
    """True when ``path`` is a video file in a container/codec pair browsers play."""
    import av

    codecs = PLAYABLE_CONTAINERS.get(path.suffix.lower())
    if not codecs or not path.is_file():
        return False
    try:
        with av.open(str(path)) as container:
            return container.streams.video[0].codec_context.name in codecs
    except (av.error.FFmpegError, OSError, IndexError):
        return False


def _video_geometry(path: Path) -> tuple[int, int, float] | None:
    import av

    try:
        with av.open(str(path)) as container:
            s = container.streams.video[0]
            return s.width, s.height, float(s.average_rate or s.guessed_rate or 0) or None
    except (av.error.FFmpegError, OSError, IndexError):
        return None


def _video_source(out_dir: Path, name: str, facts: dict | None) -> Path | None:
    """The overlay render when the browser can play it, else the input video, else None."""
    candidates = [out_dir / "render" / f"{name}.mp4"]
    if facts and isinstance(facts.get("input"), str):
        candidates.append(Path(facts["input"]))
    return next((c for c in candidates if browser_playable(c)), None)


def _b64(array: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def _arrays(video: TrackedVideo, stats: list[TrackStats]) -> dict[str, str]:
    """Typed arrays for the page: offsets (F+1) int32, track index (N) uint16, joints x, y (N*K*2)
    int16 in 1/COORD_SCALE px, joint scores (N*K) uint8 (0: absent, 1 + 254 * score)."""
    index = {s.track_id: i for i, s in enumerate(stats)}
    xy = np.clip(np.round(video.keypoints[..., :2] * COORD_SCALE), -32768, 32767)
    score = np.nan_to_num(video.keypoints[..., 2], nan=1.0)  # no score given (ground truth): fully sure
    code = np.where(video.present, 1 + np.round(np.clip(score, 0.0, 1.0) * 254), 0)
    return {"offsets": _b64(video.offsets, "<i4"),
            "track": _b64([index[int(t)] for t in video.track_id], "<u2"),
            "xy": _b64(xy, "<i2"), "score": _b64(code, "u1")}


def _gt_section(gt_dir: Path, pred_path: Path, name: str) -> dict[str, Any]:
    """AP and MOTA of this video (official poseval numbers) and the frames of its MOT errors."""
    from posetrack.eval.posetrack import EvalOptions, evaluate, frame_events

    gt_path = gt_dir / f"{name}.json"
    if not gt_path.is_file():
        raise FileNotFoundError(f"no ground truth for video {name!r}: {gt_path} not found")
    with tempfile.TemporaryDirectory(prefix="posetrack-report-gt-") as tmp:
        os.symlink(gt_path.resolve(), Path(tmp) / gt_path.name)  # evaluate() scores folders: this video alone
        results = evaluate(tmp, pred_path.parent)
    # markers show real misses/FPs of empty frames, not poseval's one phantom per joint
    events = frame_events(gt_path, pred_path, EvalOptions().without("empty_frame_dummy"))
    marks = {key: [int(f) for f in events["frame"][events[key] > 0]]
             for key in ("misses", "false_positives", "switches")}
    table = {metric: {k: _f(v) for k, v in results[metric].items()} for metric in ("ap", "mota", "motp")}
    per_joint = {metric: {k: _f(v) for k, v in results["per_joint"][metric].items()} for metric in ("ap", "mota")}
    return {"file": str(gt_path), **table, "per_joint": per_joint, "frames_scored": len(events["frame"]),
            "marks": marks}


def report_data(out_dir: str | os.PathLike, name: str, gt_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Everything the page shows for video ``name`` of a ``posetrack track --out`` folder."""
    out_dir = Path(out_dir)
    pred_path = out_dir / "posetrack" / f"{name}.json"
    video = load_tracked_video(pred_path)
    try:
        stats = track_stats(video)
    except ValueError as exc:
        raise ValueError(f"{pred_path}: {exc}") from None
    facts = read_run_facts(out_dir, name)
    source = _video_source(out_dir, name, facts)
    geometry = _video_geometry(source) if source is not None else None
    width, height, fps = (facts or {}).get("width"), (facts or {}).get("height"), (facts or {}).get("fps")
    if geometry is not None:
        width, height, fps = width or geometry[0], height or geometry[1], fps or geometry[2]
    if not width or not height:  # no video and no facts: the canvas spans the people
        xy = video.keypoints[video.present][:, :2]
        width, height = (int(math.ceil(v)) + 1 for v in (xy.max(axis=0) if len(xy) else (640, 360)))
    tracks = [{"id": s.track_id, "color": "#%02x%02x%02x" % track_color(s.track_id), "frames": s.frames,
               "first": s.first, "last": s.last, "score": _f(s.mean_score), "joint_score": _f(s.mean_joint_score),
               "jitter": _f(s.jitter), "switches": s.suspected_switches, "switch_frames": s.switch_frames,
               "segments": s.segments} for s in stats]
    rel = os.path.relpath(source.resolve(), (out_dir / "report").resolve()) if source is not None else None
    return {
        "video": {"name": name, "src": None if rel is None else Path(rel).as_posix(), "width": int(width),
                  "height": int(height), "fps": float(fps or 25.0), "frames": video.num_frames},
        "joints": list(POSETRACK18_KEYPOINTS), "skeleton": [list(pair) for pair in SKELETON],
        "coord_scale": COORD_SCALE, "tracks": tracks, "arrays": _arrays(video, stats), "facts": facts,
        "gt": _gt_section(Path(gt_dir), pred_path, name) if gt_dir is not None else None,
    }


def _asset(name: str) -> str:
    return package_path("report", name).read_text(encoding="utf-8")


def render_html(data: dict[str, Any]) -> str:
    """The page: template with the style, script and data inlined."""
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    page = _asset("template.html")
    for marker, text in (("@@TITLE@@", html.escape(data["video"]["name"])), ("@@STYLE@@", _asset("report.css")),
                         ("@@SCRIPT@@", _asset("report.js")), ("@@DATA@@", payload)):
        page = page.replace(marker, text)  # the data goes in last, so nothing in it is ever replaced
    return page


def write_report(out_dir: str | os.PathLike, name: str, gt_dir: str | os.PathLike | None = None) -> Path:
    """Write ``OUT_DIR/report/<name>.html`` atomically; returns its path."""
    data = report_data(out_dir, name, gt_dir)
    path = Path(out_dir) / "report" / f"{name}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, render_html(data))
    return path


def tracked_videos(out_dir: str | os.PathLike) -> list[str]:
    """Names of the videos of a ``posetrack track --out`` folder (its ``posetrack/*.json``)."""
    folder = Path(out_dir) / "posetrack"
    if not folder.is_dir():
        raise FileNotFoundError(f"not a posetrack track output folder (no posetrack/ inside): {out_dir}")
    names = sorted(p.stem for p in folder.glob("*.json"))
    if not names:
        raise FileNotFoundError(f"no tracked videos in {folder}")
    return names
