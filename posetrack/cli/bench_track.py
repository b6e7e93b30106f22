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
    parser.add_argument("--detector-weights", default=None, help="Faster R-CNN state_dict path")
    parser.add_argument("--detections", default=None, help="precomputed COCO-results boxes instead of the detector")
    parser.add_argument("--flow", choices=("flownet2", "dis"), default=None)
    parser.add_argument("--flow-checkpoint", default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--frames", type=int, default=None, help="stop after this many frames")
    parser.add_argument("--random-weights", action="store_true",
                        help="time with random-init pose (--model, default hrnet_w32) and detector weights")
    parser.add_argument("--set", action="append", default=[], metavar="STAGE.PARAM=VALUE")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from posetrack.cli.track import parse_settings
    from posetrack.config import ConfigError
    from posetrack.track.bench import bench_track, save_random_weights
    from posetrack.track.pipeline import build_graph, load_pipeline, replace_stage

    if not args.video.exists():
        raise CLIError(f"input not found: {args.video}")
    settings = parse_settings(args)
    with tempfile.TemporaryDirectory() as tmp:
        if args.random_weights:
            for stage, values in save_random_weights(Path(tmp), args.model or "hrnet_w32").items():
                if not (stage == "detect" and args.detections is not None):  # no detector then
                    settings.setdefault(stage, {}).update(values)
        try:
            cfg = load_pipeline(args.pipeline)
            if args.detections is not None:
                cfg = replace_stage(cfg, "detect", "detections_file", {"path": args.detections})
            graph = build_graph(cfg, settings)
        except ConfigError as exc:
            raise CLIError(str(exc)) from None
        result = bench_track(args.video, graph, args.frames)
    result.update(video=str(args.video), device=args.device, random_weights=args.random_weights)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{args.video}: {result['frames']} frames in {result['seconds']:.2f} s = {result['fps']:.2f} FPS "
          f"({result['people_per_frame']:.1f} people/frame, device {args.device}"
          f"{', random weights' if args.random_weights else ''})")
    for stage, ms in result["stage_ms"].items():
        print(f"  {stage:<12} {ms:8.1f} ms/frame")
    return 0
