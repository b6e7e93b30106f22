"""How the FlowTrack pipeline's speed scales with people per frame and with resolution.

Runs the whole default pipeline (``pipelines/flowtrack.yaml``: decode -> boxes -> flow ->
propagate -> pose -> associate, through ``posetrack.bench.track.bench_track``) over a grid of
configurations and prints one markdown table (or ``--json``):

* people per frame: the detector is swapped for the ``detections_file`` stage, fed a generated
  file with N person-shaped boxes per frame (height ``--box-height`` x the frame, aspect 0.4,
  score 0.9) laid out on a grid so that no two overlap; the pose stage then gets exactly N boxes
  per frame, 2N crops with the flip test (checked: ``people_per_frame`` is in the table, and a
  warning says when it differs from N);
* resolution: a temporary copy of a real video (default ``../shared/data/videos/video.avi``,
  1280x720) rescaled frame by frame (streamed: read, resize, encode one frame at a time).

Pose weights are random-init (``save_random_weights``; speed does not depend on trained values).
Feed-forward stages (decode, detect, flow) run on their own threads and the recurrent ones
(propagate + pose + associate) share one, so end-to-end FPS is bounded by the slowest thread:
the table names it ("bottleneck"). With fewer cores than threads (a small CPU box) the threads
also compete for cores, and FPS falls towards 1000 / (sum of all stage ms).

    python tools/bench_scaling.py --people 1,2,4,8 --resolutions 480p,720p,1080p \
        --at-resolution 720p --at-people 4 --frames 8 --threads 1
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from posetrack.argtypes import input_size, positive_ints
from posetrack.pose.boxes import xyxy_to_xywh

SHARED_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
DEFAULT_VIDEO = SHARED_VIDEOS / "video.avi"
STAGES = ("decode", "detect", "flow", "propagate", "pose", "associate")  # flowtrack.yaml node names
BOX_ASPECT = 0.4  # width / height of a standing person's box
BOX_SCORE = 0.9
BOX_GAP = 1.2  # cell / box size: free space between neighbours, so box NMS never merges two people


def _resolution(text: str) -> tuple[int | None, int]:
    """``720p`` -> (None, 720) (width from the source's aspect ratio); ``640x360`` -> (640, 360)."""
    text = text.strip().lower()
    try:
        if text.endswith("p"):
            width, height = None, int(text[:-1])
        else:
            w, _, h = text.partition("x")
            width, height = int(w), int(h)
    except ValueError:
        width = height = 0
    if height <= 0 or (width is not None and width <= 0):
        raise argparse.ArgumentTypeError(f"resolution must look like 720p or 1280x720, got {text!r}")
    return width, height


def _resolutions(text: str) -> list[tuple[int | None, int]]:
    return [_resolution(s) for s in text.split(",")]


def frame_size(resolution: tuple[int | None, int], source_wh: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of a resolution, width from the source aspect when not given; even sizes (yuv420p)."""
    width, height = resolution
    if width is None:
        width = 2 * round(height * source_wh[0] / source_wh[1] / 2)
    return width + width % 2, height + height % 2


def make_scaled_video(source: Path, dest: Path, size: tuple[int, int], frames: int) -> int:
    """Write the first ``frames`` frames of ``source`` resized to ``size`` (w, h) into ``dest``.

    Streams (one frame in memory at a time); returns the number of frames written, fewer when
    the source is shorter.
    """
    import cv2

    from posetrack.io.video import VideoWriter, probe, read_video

    fps, _ = probe(source)
    written = 0
    with VideoWriter(dest, fps) as writer:
        for frame in read_video(source):
            if written == frames:
                break
            h, w = frame.image.shape[:2]
            shrink = size[0] * size[1] < w * h
            writer.write(cv2.resize(frame.image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR))
            written += 1
    return written


def person_boxes(n: int, width: int, height: int, box_height: float = 0.45) -> np.ndarray:
    """(n, 4) x1, y1, x2, y2 boxes (image px) of standing people, one per cell of a grid.

    Boxes are ``box_height`` x the frame high and ``BOX_ASPECT`` as wide, centred in their cells;
    every cell is at least ``BOX_GAP`` x the box in each direction, so no two boxes overlap. When
    n boxes do not fit at that size, the boxes shrink until they do.
    """
    if n <= 0:
        return np.zeros((0, 4), np.float32)
    bh = box_height * height
    while True:
        bw = BOX_ASPECT * bh
        cols_fit, rows_fit = int(width // (BOX_GAP * bw)), int(height // (BOX_GAP * bh))
        if cols_fit * rows_fit >= n:
            break
        bh *= 0.9
    rows = math.ceil(n / cols_fit)
    cols = math.ceil(n / rows)
    cell_w, cell_h = width / cols, height / rows
    idx = np.arange(n)
    cx, cy = (idx % cols + 0.5) * cell_w, (idx // cols + 0.5) * cell_h
    return np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1).astype(np.float32)


def detections_json(boxes: np.ndarray, frames: int) -> list[dict]:
    """COCO results with ``boxes`` on every frame; image_id = 0-based frame index (detections_file rule)."""
    per_frame = xyxy_to_xywh(np.asarray(boxes, np.float64)).tolist()
    return [{"image_id": f, "category_id": 1, "bbox": bbox, "score": BOX_SCORE}
            for f in range(frames) for bbox in per_frame]


def thread_ms(graph, stage_ms: dict[str, float]) -> dict[str, float]:
    """ms/frame of each graph thread (``Graph.thread_groups``: consecutive recurrent nodes share one)."""
    return {"+".join(g): sum(stage_ms.get(n, 0.0) for n in g) for g in graph.thread_groups}


def pipeline_spec(args: argparse.Namespace, weights: str, video: Path, detections: Path, frames: int):
    """What ``posetrack bench track`` would time with these flags: the random ``weights``, the
    generated ``detections``; ``--set`` wins over the other flags."""
    from posetrack.bench.track import PipelineBench
    from posetrack.track.pipeline import merge_settings, parse_overrides

    pose = {"weights": weights, "arch": args.arch, "flip_test": not args.no_flip,
            "input_size": [args.input[1], args.input[0]]}
    flow = {"method": args.flow, **({"checkpoint": args.flow_checkpoint} if args.flow_checkpoint else {})}
    device = {"*": {"device": args.device}} if args.device is not None else {}
    return PipelineBench(video, pipeline=args.pipeline, detections=detections, frames=frames,
                         warmup_frames=args.warmup,
                         settings=merge_settings(device, {"pose": pose, "flow": flow}, parse_overrides(args.set)))


def bench_config(args: argparse.Namespace, weights: str, video: Path, size: tuple[int, int], people: int,
                 frames: int, work: Path) -> dict:
    """One grid point: warm-up frames, then the timed run, through one opened graph; a result row."""
    from posetrack.bench.track import bench_track, prepared_pipeline
    from posetrack.io.atomic import write_json_atomic

    dets = work / f"dets_{size[0]}x{size[1]}_{people}.json"
    boxes = person_boxes(people, *size, box_height=args.box_height)
    write_json_atomic(dets, detections_json(boxes, frames))
    spec = pipeline_spec(args, weights, video, dets, frames)
    with prepared_pipeline(spec) as graph:
        # warm-up frames build kernels / allocator pools for this crop count in the graph that is timed
        result = bench_track(video, graph, frames, warmup_frames=args.warmup)
    stage_ms = result.get("stage_ms", {})
    threads = thread_ms(graph, stage_ms)
    bottleneck = max(threads, key=threads.get)
    row = {k: v for k, v in result.items() if k != "stage_ms"}  # keeps keys bench_track may add (memory peaks)
    ppf = result.get("people_per_frame", 0.0)
    row.update(width=size[0], height=size[1], people=people, box_height_px=float(boxes[0, 3] - boxes[0, 1]),
               stage_ms=stage_ms, thread_ms=threads, bottleneck=bottleneck,
               pose_ms_per_person=stage_ms.get("pose", 0.0) / ppf if ppf else None,
               serial_ms=sum(stage_ms.values()))
    return row


def grid(args: argparse.Namespace) -> list[tuple[tuple[int | None, int], int]]:
    """(resolution, people) points: the people sweep at ``--at-resolution`` and the resolution
    sweep at ``--at-people`` (shared point once), or their full product with ``--full-grid``."""
    if args.full_grid:
        points = {(r, n) for r in args.resolutions for n in args.people}
    else:
        points = {(args.at_resolution, n) for n in args.people} | {(r, args.at_people) for r in args.resolutions}
    return sorted(points, key=lambda p: (p[0][1], p[0][0] or 0, p[1]))


def environment(args: argparse.Namespace, argv: list[str]) -> dict:
    import torch

    device = args.device or "cpu"
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(device))
    else:
        name = _cpu_name()
    return {"command": shlex.join(["python", "tools/bench_scaling.py", *argv]), "device": device,
            "device_name": name, "cpu_count": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "arch": args.arch, "input_hw": list(args.input),
            "flip_test": not args.no_flip, "flow": args.flow, "video": str(args.video), "frames": args.frames,
            "warmup": args.warmup,
            "loadavg_before": [round(x, 2) for x in os.getloadavg()]}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def _num(value) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.0f}"


def format_table(env: dict, rows: list[dict]) -> str:
    """Markdown: a header naming command, device and load, then one row per configuration."""
    extra = sorted({k for r in rows for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
                   - {"frames", "seconds", "fps", "people_per_frame", "width", "height", "people", "box_height_px",
                      "pose_ms_per_person", "serial_ms"})
    lines = [
        f"Command: `{env['command']}`",
        f"Device: {env['device']} ({env['device_name']}, {env['cpu_count']} CPU cores), torch {env['torch']}, "
        f"{env['torch_threads']} torch thread(s); load average {env['loadavg_before']} before, "
        f"{env.get('loadavg_after')} after",
        f"Pose {env['arch']} {env['input_hw'][0]}x{env['input_hw'][1]} random init, flip test "
        f"{'on' if env['flip_test'] else 'off'}; flow {env['flow']}; {env['frames']} timed frames per row after "
        f"{env['warmup']} warm-up; video {env['video']} rescaled",
        "",
        "| resolution | people/frame | FPS | " + " | ".join(f"{s} ms" for s in STAGES)
        + " | pose ms/person | bottleneck thread (ms/frame) | sum of stages ms"
        + "".join(f" | {k}" for k in extra) + " |",
        "|---|---:|---:|" + "---:|" * len(STAGES) + "---:|---|---:|" + "---:|" * len(extra),
    ]
    for r in rows:
        cells = [f"{r['width']}x{r['height']}", f"{r.get('people_per_frame', 0.0):.1f}", f"{r.get('fps', 0.0):.3f}"]
        cells += [_num(r["stage_ms"].get(s)) for s in STAGES]
        cells += [_num(r["pose_ms_per_person"]), f"{r['bottleneck']} ({_num(r['thread_ms'][r['bottleneck']])})",
                  _num(r["serial_ms"])]
        cells += [_num(r.get(k)) for k in extra]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO,
                        help="real video whose frames are rescaled (default %(default)s)")
    parser.add_argument("--people", type=positive_ints, default="1,2,4,8", metavar="N1,N2,...",
                        help="people per frame of the people sweep (default %(default)s)")
    parser.add_argument("--resolutions", type=_resolutions, default="480p,720p,1080p", metavar="R1,R2,...",
                        help="frame sizes of the resolution sweep: 720p, 2160p, 640x360 ... (default %(default)s)")
    parser.add_argument("--at-resolution", type=_resolution, default="720p", metavar="R",
                        help="resolution of the people sweep (default %(default)s)")
    parser.add_argument("--at-people", type=int, default=4, metavar="N",
                        help="people per frame of the resolution sweep (default %(default)s)")
    parser.add_argument("--full-grid", action="store_true", help="every resolution x every people count")
    parser.add_argument("--frames", type=int, default=8, help="timed frames per configuration (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="untimed frames per configuration first, own graph (default %(default)s)")
    parser.add_argument("--box-height", type=float, default=0.45,
                        help="person box height / frame height (default %(default)s)")
    parser.add_argument("--arch", default="hrnet_w32", help="pose architecture, random init (default %(default)s)")
    parser.add_argument("--input", type=input_size, default="256x192", metavar="HxW",
                        help="pose network input height x width (default %(default)s)")
    parser.add_argument("--no-flip", action="store_true", help="turn the flip test off (on: official setting)")
    parser.add_argument("--flow", choices=("dis", "flownet2"), default=None,
                        help="flow method (default: flownet2 with --flow-checkpoint, else dis)")
    parser.add_argument("--flow-checkpoint", default=None, help="FlowNet2 checkpoint (ptlflow .ckpt)")
    parser.add_argument("--device", default=None, help="torch device for every stage, e.g. cuda (default cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch and OpenCV CPU threads (default: theirs)")
    parser.add_argument("--pipeline", default=None, help="pipeline YAML (default pipelines/flowtrack.yaml)")
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="STAGE.PARAM=VALUE",
                        help="extra stage parameter overrides, as in posetrack track")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.frames < 1 or not 0 <= args.warmup <= args.frames or args.at_people < 1 \
            or not 0 < args.box_height <= 0.9:
        parser.error("--frames and --at-people must be positive, --warmup in [0, --frames], --box-height in (0, 0.9]")
    if args.flow == "flownet2" and args.flow_checkpoint is None:
        parser.error("--flow flownet2 needs --flow-checkpoint (no download here)")
    args.flow = args.flow or ("flownet2" if args.flow_checkpoint else "dis")
    if not args.video.is_file():
        parser.error(f"video not found: {args.video}")

    import cv2
    import torch

    from posetrack.bench.track import save_random_weights
    from posetrack.config import ConfigError
    from posetrack.io.video import VideoError, read_video
    from posetrack.track.graph import GraphError

    if args.threads is not None:
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    if (args.device or "").startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: CUDA is not available here")
    env = environment(args, argv)
    try:
        source_h, source_w = next(iter(read_video(args.video))).image.shape[:2]
    except VideoError as exc:
        parser.error(str(exc))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_scaling_") as tmp:
        work = Path(tmp)
        weights = save_random_weights(work, args.arch)["pose"]["weights"]
        videos: dict[tuple[int, int], Path] = {}
        for resolution, people in grid(args):
            size = frame_size(resolution, (source_w, source_h))
            if size not in videos:
                videos[size] = work / f"{size[0]}x{size[1]}.mp4"
                n = make_scaled_video(args.video, videos[size], size, args.frames)
                if n < args.frames:
                    parser.error(f"{args.video} has only {n} frames, fewer than --frames {args.frames}")
            start = time.perf_counter()
            try:
                row = bench_config(args, weights, videos[size], size, people, args.frames, work)
            except (ConfigError, GraphError) as exc:  # bad --set / --input / checkpoint: say which, no traceback
                parser.error(str(exc))
            if row.get("people_per_frame") != people:
                print(f"warning: {people} boxes per frame gave {row.get('people_per_frame')} people per frame "
                      "(propagated boxes kept by NMS?)", file=sys.stderr)
            print(f"{size[0]}x{size[1]}, {people} people: {row.get('fps', 0.0):.3f} FPS "
                  f"({time.perf_counter() - start:.0f} s with warm-up)", file=sys.stderr, flush=True)
            rows.append(row)
    env["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        print(json.dumps({**env, "rows": rows}))
    else:
        print(format_table(env, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
