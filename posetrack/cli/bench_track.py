"""``posetrack bench track VIDEO``: end-to-end tracking FPS and per-stage ms."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from posetrack.cli import CLIError

HELP = "end-to-end tracking FPS and per-stage ms/frame on one video (no outputs written)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path, help="video file or frame folder")
    parser.add_argument("--pipeline", default=None, help="pipeline YAML (default pipelines/flowtrack.yaml)")
    parser.add_argument("--weights", default=None, help="pose weights name or path")
    parser.add_argument("--model", default=None, metavar="ARCH", help="pose architecture (e.g. hrnet_w32)")
    parser.add_argument("--detector", choices=("auto", "frcnn", "hog"), default=None,
                        help="person detector (default: the pipeline's, auto)")
    parser.add_argument("--detector-weights", default=None, help="Faster R-CNN state_dict path")
    parser.add_argument("--detections", default=None, help="precomputed COCO-results boxes instead of the detector")
    parser.add_argument("--flow", choices=("flownet2", "dis"), default=None)
    parser.add_argument("--flow-checkpoint", default=None)
    parser.add_argument("--device", default=None,
                        help="torch device for every stage (default: each stage's `device:` in the pipeline)")
    parser.add_argument("--frames", type=int, default=None, help="stop after this many frames")
    parser.add_argument("--random-weights", action="store_true",
                        help="time with random-init pose (--model, default hrnet_w32) and detector weights")
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="STAGE.PARAM=VALUE")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from posetrack.cli.track import build_pipeline, parse_settings
    from posetrack.track.bench import bench_track, save_random_weights

    if not args.video.exists():
        raise CLIError(f"input not found: {args.video}")
    settings = parse_settings(args)
    with tempfile.TemporaryDirectory() as tmp:
        if args.random_weights:
            for stage, values in save_random_weights(Path(tmp), args.model or "hrnet_w32").items():
                if not (stage == "detect" and args.detections is not None):  # no detector then
                    settings.setdefault(stage, {}).update(values)
        graph = build_pipeline(args, settings)
        result = bench_track(args.video, graph, args.frames)
    devices = sorted({n.stage.device for n in graph.nodes if hasattr(n.stage, "device")})
    result.update(video=str(args.video), device=",".join(devices) or "cpu", random_weights=args.random_weights)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{args.video}: {result['frames']} frames in {result['seconds']:.2f} s = {result['fps']:.2f} FPS "
          f"({result['people_per_frame']:.1f} people/frame, device {result['device']}"
          f"{', random weights' if args.random_weights else ''})")
    for stage, ms in result["stage_ms"].items():
        print(f"  {stage:<12} {ms:8.1f} ms/frame")
    return 0
