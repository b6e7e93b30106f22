"""``posetrack bench track VIDEO``: end-to-end tracking FPS, per-stage ms and peak memory."""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
from pathlib import Path
from typing import Iterator

from posetrack.cli import CLIError

HELP = "end-to-end tracking FPS, per-stage ms/frame and peak memory on one video (no outputs written)"


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags that choose the pipeline under test (shared with the `bench` report; the video,
    ``--model``, ``--device`` and ``--json`` are each command's own)."""
    parser.add_argument("--pipeline", default=None, help="pipeline YAML (default pipelines/flowtrack.yaml)")
    parser.add_argument("--weights", default=None, help="pose weights name or path")
    parser.add_argument("--detector", choices=("auto", "frcnn", "hog"), default=None,
                        help="person detector (default: the pipeline's, auto)")
    parser.add_argument("--detector-weights", default=None, help="Faster R-CNN state_dict path")
    parser.add_argument("--detections", default=None, help="precomputed COCO-results boxes instead of the detector")
    parser.add_argument("--flow", choices=("flownet2", "dis"), default=None)
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


@contextlib.contextmanager
def prepared_pipeline(args: argparse.Namespace, settings: dict[str, dict] | None = None) -> Iterator:
    """The ``Graph`` the flags describe (``args.video`` checked, random weights written to a
    temporary folder that lives as long as the block). Stage settings, later ones winning:
    the random weights (pose input 256x192), ``settings`` (the command's), the flags (``--set``
    last). Bad input is a CLIError before any model loads."""
    from posetrack.cli.track import build_pipeline, parse_settings
    from posetrack.track.bench import save_random_weights

    if not args.video.exists():
        raise CLIError(f"input not found: {args.video}")
    if args.frames is not None and args.frames < 1:
        raise CLIError("--frames must be positive")
    if args.warmup_frames < 0:
        raise CLIError("--warmup-frames must be >= 0")
    flags = parse_settings(args)
    with tempfile.TemporaryDirectory() as tmp:
        merged: dict[str, dict] = {}
        if args.random_weights:
            # No detector file when it would not be used: --detections replaces it, HOG has none.
            detector = args.detections is None and args.detector != "hog"
            merged = save_random_weights(Path(tmp), args.model or "hrnet_w32", detector=detector)
        for layer in (settings or {}, flags):
            for stage, values in layer.items():
                merged.setdefault(stage, {}).update(values)
        yield build_pipeline(args, merged)


def measure_pipeline(args: argparse.Namespace, graph) -> dict:
    """``bench_track`` over ``args.video`` plus what was measured: video, stage devices, random
    weights and the pose network as it ran (``pose``: arch, input_size [w, h], mode, flip_test,
    weights; None without a pose stage)."""
    from posetrack.track.bench import bench_track
    from posetrack.track.stages.pose import PoseStage

    result = bench_track(args.video, graph, args.frames, warmup_frames=args.warmup_frames)
    devices = sorted({str(n.stage.params.device) for n in graph.nodes if hasattr(n.stage.params, "device")})
    stage = next((n.stage for n in graph.nodes if isinstance(n.stage, PoseStage)), None)
    pose = None if stage is None or stage.choice is None else {
        "arch": stage.choice.arch, "input_size": list(stage.choice.input_size), "mode": stage.mode.label,
        "flip_test": stage.params.flip_test, "weights": stage.choice.weights}
    result.update(video=str(args.video), device=",".join(devices) or "cpu", random_weights=args.random_weights,
                  warmup_frames=args.warmup_frames, pose=pose)
    return result


def describe_pipeline(result: dict) -> str:
    """``<frames> frames, <people>/frame, device, pose network as it ran[, random weights]``."""
    pose = result["pose"]
    net = "" if pose is None else (f", pose {pose['arch']} {pose['input_size'][1]}x{pose['input_size'][0]} "
                                   f"{pose['mode']}{' +flip' if pose['flip_test'] else ''}")
    return (f"{result['frames']} frames, {result['people_per_frame']:.1f} people/frame, device {result['device']}"
            f"{net}{', random weights' if result['random_weights'] else ''}")


def run(args: argparse.Namespace) -> int:
    from posetrack.cli.bench_modes import fmt

    with prepared_pipeline(args) as graph:
        result = measure_pipeline(args, graph)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{args.video}: {result['fps']:.2f} FPS ({result['seconds']:.2f} s; {describe_pipeline(result)})")
    for stage, ms in result["stage_ms"].items():
        print(f"  {stage:<12} {ms:8.1f} ms/frame")
    print(f"peak GPU memory {fmt(result['peak_gpu_mb'], '.0f', ' MiB')}, peak RSS {result['peak_rss_mb']:.0f} MiB")
    return 0
