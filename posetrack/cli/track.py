"""``posetrack track``: videos / frame folders in, tracked skeletons out (FlowTrack pipeline)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from posetrack.cli import CLIError

HELP = "track people in videos or frame folders: PoseTrack/COCO JSON (+ overlay video)"



def add_arguments(parser: argparse.ArgumentParser) -> None:
    from posetrack.track.stages.flow import FLOW_NETWORKS

    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="video files, folders of videos (and of frame folders), or a folder of frames")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--pipeline", default=None,
                        help="pipeline graph YAML (default: pipelines/flowtrack.yaml)")
    parser.add_argument("--weights", default=None,
                        help="pose weights: registered name (e.g. hrnet_w32_coco_256x192) or a .pth path "
                             "(default: hrnet_w32_coco_256x192; offline without it: the bundled demo weights "
                             "hrnet_w16_demo_128x96, with a notice)")
    parser.add_argument("--model", default=None, metavar="ARCH",
                        help="pose architecture for a weights path, e.g. hrnet_w32, hrnet_w48, hrnet_w16")
    parser.add_argument("--detector", choices=("auto", "frcnn", "hog"), default=None,
                        help="person detector: Faster R-CNN (frcnn) or OpenCV HOG (no weights, weaker); default "
                             "auto: frcnn if its weights are given, cached or downloadable, else hog with a notice")
    parser.add_argument("--detector-weights", default=None, help="Faster R-CNN R50-FPN state_dict path")
    parser.add_argument("--flow", choices=(*FLOW_NETWORKS, "dis"), default=None,
                        help="optical flow method: a ptlflow network (rapidflow_it1 is the fastest) or OpenCV DIS "
                             "(default: FlowNet2 if its checkpoint is available, else DIS)")
    parser.add_argument("--flow-checkpoint", default=None, help="the flow network's checkpoint (ptlflow .ckpt)")
    parser.add_argument("--detections", default=None, metavar="DETS.json",
                        help="precomputed COCO-results person boxes instead of the detector (image_id = "
                             "PoseTrack image id, '<video>/<file>', frame file name or 0-based frame index; "
                             "with several inputs only the first two; see posetrack/track/stages/detections_file.py)")
    parser.add_argument("--poses", default=None, metavar="POSES.json",
                        help="track these COCO keypoint results instead of estimating poses (no detector, no pose "
                             "network; image_id as for --detections); --set poses_file.keypoints=posetrack18 for "
                             "PoseTrack-2018 joint order")
    parser.add_argument("--kpt-thr", type=float, default=None, metavar="T",
                        help="in the PoseTrack files, write joints scoring below T as absent (default: the "
                             "pipeline's outputs.kpt_thr, 0.5 in flowtrack.yaml; 0 writes every joint)")
    parser.add_argument("--person-thr", type=float, default=None, metavar="P",
                        help="leave people scoring below P out of the PoseTrack files (default: outputs.person_thr)")
    parser.add_argument("--smooth", action="store_true",
                        help="One-Euro smoothing of every track's joints (smooth.enabled; README: Smoothing)")
    parser.add_argument("--render", action="store_true", help="also write an overlay video per input")
    parser.add_argument("--report", action="store_true",
                        help="also write report/<video>.html per input (see `posetrack report`)")
    parser.add_argument("--device", default=None,
                        help="torch device (cuda, cuda:1, cpu) for every stage; default: each stage's "
                             "`device:` in the pipeline file (cpu when unset)")
    parser.add_argument("--resume", action="store_true", help="skip inputs whose outputs already exist")
    parser.add_argument("--format", choices=("2018", "2017"), default="2018", help="PoseTrack file format")
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="STAGE.PARAM=VALUE",
                        help="override a stage parameter, e.g. pose.flip_test=false (repeatable)")


def expand_inputs(inputs: list[str]) -> list[Path]:
    """Video files and frame folders to track, in the given order (folders: sorted contents)."""
    from posetrack.io.video import VIDEO_SUFFIXES, is_frame_folder
    from posetrack.tracker import source_name

    found: list[Path] = []
    for raw in inputs:
        path = Path(raw)
        if not path.exists():
            raise CLIError(f"input not found: {path}")
        if path.is_file() or is_frame_folder(path):
            found.append(path)
            continue
        children = sorted(path.iterdir())
        items = [c for c in children if (c.is_file() and c.suffix.lower() in VIDEO_SUFFIXES) or is_frame_folder(c)]
        if not items:
            raise CLIError(f"no videos or frame folders in {path}")
        found.extend(items)
    names = [source_name(p) for p in found]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise CLIError(f"several inputs share the output name(s) {dup}: track them into different --out folders")
    return found


def parse_settings(args: argparse.Namespace) -> dict[str, dict]:
    """CLI flags -> per-stage parameter overrides for ``build_graph`` (``--set`` last: it wins)."""
    from posetrack.track.pipeline import merge_settings, parse_overrides

    if args.detections is not None and (args.detector or args.detector_weights):
        raise CLIError("--detections replaces the detector: drop --detector / --detector-weights")
    # the tracking-only flags (absent from `bench track`'s parser)
    poses, kpt_thr, person_thr, smooth = (getattr(args, k, None) for k in ("poses", "kpt_thr", "person_thr", "smooth"))
    if poses is not None and (args.detections or args.detector or args.detector_weights or args.weights):
        raise CLIError("--poses replaces the detector and the pose network: drop --detections / --detector / "
                       "--detector-weights / --weights")
    settings: dict[str, dict] = {"*": {"device": args.device}} if args.device is not None else {}

    def put(stage: str, key: str, value) -> None:
        settings.setdefault(stage, {})[key] = value

    for flag, stage, key in ((args.weights, "pose", "weights"), (args.model, "pose", "arch"),
                             (args.detector, "detect", "backend"),
                             (args.detector_weights, "detect", "weights"), (args.flow, "flow", "method"),
                             (args.flow_checkpoint, "flow", "checkpoint"), (kpt_thr, "outputs", "kpt_thr"),
                             (person_thr, "outputs", "person_thr"), (smooth or None, "smooth", "enabled")):
        if flag is not None:
            put(stage, key, flag)
    return merge_settings(settings, parse_overrides(args.set))  # ConfigError: a one-line error


def make_tracker(args: argparse.Namespace, settings: dict[str, dict], n_inputs: int = 1):
    """The ``VideoTracker`` of ``--pipeline`` / ``--detections`` and ``settings`` (``parse_settings``).

    ``n_inputs`` > 1 makes the detections file refuse image ids that do not name their video.
    Config errors become ``CLIError``.
    """
    from posetrack.config import ConfigError
    from posetrack.track.pipeline import merge_settings
    from posetrack.tracker import VideoTracker

    if args.detections is not None and n_inputs > 1:
        settings = merge_settings({"detections_file": {"video_keys_only": True}}, settings)
    poses = getattr(args, "poses", None)  # `bench track` has no --poses
    if poses is not None and n_inputs > 1:
        settings = merge_settings({"poses_file": {"video_keys_only": True}}, settings)
    try:
        return VideoTracker(args.pipeline, detections=args.detections, settings=settings, poses=poses)
    except (ConfigError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from None


def distributed_shard(items: list[Path], device: str | None) -> tuple[list[Path], int, int, str | None]:
    """This rank's share of ``items`` under torchrun (WORLD_SIZE > 1), its rank, world size and device.

    Joins the process group with ``init_distributed`` (``cuda`` -> ``cuda:<LOCAL_RANK>``, made the
    current device, so a pipeline's ``device: cuda`` also lands on this rank's GPU); None stays None.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return items, 0, 1, device
    from posetrack.train.distributed import init_distributed

    info, dev = init_distributed(device)
    return items[info.rank::info.world_size], info.rank, info.world_size, None if device is None else str(dev)


def leave_process_group() -> None:
    """Wait for the other ranks, then leave (also after an error here, so they do not hang)."""
    import torch.distributed as dist

    from posetrack.train.distributed import cleanup_distributed

    try:
        dist.barrier()
    finally:
        cleanup_distributed()


def run(args: argparse.Namespace) -> int:
    from posetrack.tracker import check_writable

    videos = expand_inputs(args.inputs)
    check_writable(args.out)
    n_inputs = len(videos)  # before sharding: every rank applies the same detections rule
    videos, rank, world, args.device = distributed_shard(videos, args.device)
    try:
        return track_videos(args, videos, n_inputs, f"[rank {rank}/{world}] " if world > 1 else "")
    finally:
        if world > 1:
            leave_process_group()


class _Progress:
    """Progress bar of one input (frames, FPS); counts the frames even when tqdm hides the bar."""

    def __init__(self, video: Path):
        from tqdm import tqdm

        from posetrack.io.video import probe
        from posetrack.tracker import source_name

        self.frames, self.t0 = 0, time.perf_counter()
        self.bar = tqdm(total=probe(video)[1] or None, desc=source_name(video), unit="frame", disable=None,
                        file=sys.stderr)

    def __call__(self, frame) -> None:
        self.frames += 1
        self.bar.update(1)
        self.bar.set_postfix(fps=f"{self.frames / max(time.perf_counter() - self.t0, 1e-9):.1f}")


def track_videos(args: argparse.Namespace, videos: list[Path], n_inputs: int, prefix: str) -> int:
    """Track ``videos`` (this rank's share of ``n_inputs``); returns the exit code."""
    from posetrack.errors import PosetrackError
    from posetrack.track.outputs import OutputPaths
    from posetrack.tracker import source_name

    tracker = make_tracker(args, parse_settings(args), n_inputs)
    todo = [v for v in videos
            if not (args.resume and OutputPaths.for_video(args.out, source_name(v), args.render).done())]
    if len(todo) < len(videos):
        print(f"resume: skipping {len(videos) - len(todo)} finished input(s)", file=sys.stderr)
        if args.report:  # a finished input still gets the report it lacks, from the outputs on disk
            from posetrack.report import write_report

            for name in (source_name(v) for v in videos if v not in todo):
                if not (args.out / "report" / f"{name}.html").is_file():
                    print(f"{prefix}{name}: report -> {write_report(args.out, name)}")
    failures = 0
    total_frames, start = 0, time.perf_counter()
    with tracker:  # loads every model before any output file is created
        for video in todo:
            progress = _Progress(video)
            try:
                paths = tracker.save(video, args.out, args.format, args.render, on_frame=progress, report=args.report)
            except PosetrackError as exc:  # names the input; one bad input must not stop the others
                failures += 1
                print(f"posetrack track: error: {exc}", file=sys.stderr)
                continue
            finally:
                progress.bar.close()
            total_frames += progress.frames
            print(f"{prefix}{video}: {progress.frames} frames -> " + ", ".join(str(p) for p in paths.all()))
    elapsed = time.perf_counter() - start
    print(f"{prefix}{len(todo) - failures}/{len(todo)} input(s), {total_frames} frames in {elapsed:.1f} s "
          f"({total_frames / max(elapsed, 1e-9):.2f} FPS)")
    print(prefix + "per-stage ms/frame: " + ", ".join(f"{k} {v:.1f}" for k, v in tracker.graph.stage_ms().items()))
    return 2 if failures else 0
