"""``posetrack bench track VIDEO``: end-to-end tracking FPS, per-stage ms and peak memory.

By default the same run is also timed with the old defaults (pose network in fp32 eager on
every box inside the recurrent thread, detector backbone fp32; ``posetrack.bench.track.OLD_DEFAULTS``)
and printed beside it; ``--no-baseline`` times only the pipeline as given.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from posetrack.cli import CLIError

HELP = "end-to-end tracking FPS, per-stage ms/frame and peak memory on one video (no outputs written)"


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags that choose the pipeline under test (shared with the `bench` report; the video,
    ``--model``, ``--device`` and ``--json`` are each command's own)."""
    from posetrack.track.stages.flow import FLOW_NETWORKS

    parser.add_argument("--pipeline", default=None, help="pipeline YAML (default pipelines/flowtrack.yaml)")
    parser.add_argument("--weights", default=None, help="pose weights name or path")
    parser.add_argument("--detector", choices=("auto", "frcnn", "hog"), default=None,
                        help="person detector (default: the pipeline's, auto)")
    parser.add_argument("--detector-weights", default=None, help="Faster R-CNN state_dict path")
    parser.add_argument("--detections", default=None, help="precomputed COCO-results boxes instead of the detector")
    parser.add_argument("--flow", choices=(*FLOW_NETWORKS, "dis"), default=None)
    parser.add_argument("--flow-checkpoint", default=None)
    parser.add_argument("--frames", type=int, default=None, help="stop after this many frames")
    parser.add_argument("--warmup-frames", type=int, default=0, metavar="N",
                        help="run the first N frames untimed first, in the same loaded pipeline (kernel "
                             "selection, torch.compile, allocator pools); default 0")
    parser.add_argument("--random-weights", action="store_true",
                        help="time with random-init pose (--model, default hrnet_w32; input 256x192) and "
                             "detector weights where no weights are given")
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="STAGE.PARAM=VALUE")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path, help="video file or frame folder")
    add_pipeline_arguments(parser)
    parser.add_argument("--model", default=None, metavar="ARCH", help="pose architecture (e.g. hrnet_w32)")
    parser.add_argument("--device", default=None,
                        help="torch device for every stage (default: each stage's `device:` in the pipeline)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-baseline", action="store_true",
                        help="time only the pipeline as given, not also with the old defaults (fp32, pose in the "
                             "recurrent thread) beside it")


def pipeline_spec(args: argparse.Namespace):
    """The ``posetrack.bench.track.PipelineBench`` the flags describe (``--set`` applied last)."""
    from posetrack.bench.track import PipelineBench
    from posetrack.cli.track import parse_settings

    if args.frames is not None and args.frames < 1:
        raise CLIError("--frames must be positive")
    if args.warmup_frames < 0:
        raise CLIError("--warmup-frames must be >= 0")
    return PipelineBench(args.video, pipeline=args.pipeline, settings=parse_settings(args), detections=args.detections,
                         random_weights=args.random_weights, frames=args.frames, warmup_frames=args.warmup_frames)


def run(args: argparse.Namespace) -> int:
    from posetrack.bench.report import describe_pipeline, fmt
    from posetrack.bench.track import bench_against_old_defaults, bench_pipeline

    spec = pipeline_spec(args)
    result = bench_pipeline(spec) if args.no_baseline else bench_against_old_defaults(spec)
    if args.json:
        print(json.dumps(result))
        return 0
    if not args.no_baseline:
        _print_side_by_side(args.video, result, result["baseline"])
        return 0
    print(f"{args.video}: {result['fps']:.2f} FPS ({result['seconds']:.2f} s; {describe_pipeline(result)})")
    for stage, ms in result["stage_ms"].items():
        print(f"  {stage:<12} {ms:8.1f} ms/frame")
    print(f"peak GPU memory {fmt(result['peak_gpu_mb'], '.0f', ' MiB')}, peak RSS {result['peak_rss_mb']:.0f} MiB")
    return 0


def _print_side_by_side(video, new: dict, old: dict) -> None:
    """The new defaults' FPS and stage ms beside the old defaults' (``bench_against_old_defaults``)."""
    from posetrack.bench.report import describe_pipeline, fmt

    speedup = fmt(new["speedup"], ".2f", "x")
    print(f"{video}: {new['fps']:.2f} FPS with the defaults, {old['fps']:.2f} FPS with the old defaults ({speedup})")
    for name, r in (("new", new), ("old", old)):
        load = ", ".join(f"{v:.1f}" for v in r["loadavg"])
        print(f"  {name}: {r['seconds']:.2f} s; {describe_pipeline(r)}; load average {load}")
    print(f"  {'stage':<12} {'new ms':>9} {'old ms':>9}")
    for stage in dict.fromkeys([*new["stage_ms"], *old["stage_ms"]]):
        cells = [fmt(r["stage_ms"].get(stage), ".1f") for r in (new, old)]
        print(f"  {stage:<12} {cells[0]:>9} {cells[1]:>9}")
    print(f"peak GPU memory {fmt(new['peak_gpu_mb'], '.0f', ' MiB')} / {fmt(old['peak_gpu_mb'], '.0f', ' MiB')}, "
          f"peak RSS {new['peak_rss_mb']:.0f} / {old['peak_rss_mb']:.0f} MiB (new / old)")
