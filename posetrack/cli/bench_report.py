"""``posetrack bench`` (= ``posetrack bench report``): the network and the whole pipeline, one table.

Measured by ``posetrack.bench.report.bench_report``: network rows as ``bench modes``, with
``--video`` pipeline rows as ``bench track``, both on one device: ``--device``, else CUDA when
available. ``--json`` prints the same rows with everything measured, as one object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from posetrack.bench.report import REPORT_BATCH_SIZES, REPORT_MODES
from posetrack.cli.bench_model import add_network_arguments, bench_device
from posetrack.cli.bench_modes import add_mode_arguments, set_threads
from posetrack.cli.bench_track import add_pipeline_arguments, pipeline_spec

HELP = ("the whole report in one table: network crops/s per mode and batch (beside fp32 eager and timm), "
        "pipeline FPS and per-stage ms with --video, peak GPU memory, RSS")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_network_arguments(parser, REPORT_BATCH_SIZES)
    add_mode_arguments(parser, REPORT_MODES)
    parser.add_argument("--video", type=Path, default=None,
                        help="also time the tracking pipeline on this video or frame folder")
    add_pipeline_arguments(parser)
    # None = not given: the network then uses hrnet_w32 256x192 and the pipeline its weights' own
    # arch and input size; given, --model and --input set the pipeline's pose network too.
    parser.set_defaults(model=None, input=None)


def run(args: argparse.Namespace) -> int:
    from posetrack.bench.report import bench_report, describe_machine, describe_pipeline, format_table

    device = bench_device(args)
    set_threads(args)
    report = bench_report(device=device, model=args.model, input_hw=args.input, batch_sizes=args.batch_sizes,
                          modes=args.modes, iters=args.iters, warmup=args.warmup, with_timm=not args.no_timm,
                          pipeline=pipeline_spec(args) if args.video is not None else None)
    if args.json:
        print(json.dumps(report))
        return 0
    network, pipeline = report["network"], report["pipeline"]
    h, w = network["input_hw"]
    print(f"{describe_machine(report)}; network {network['model']} {h}x{w}, {args.iters} iters after "
          f"{args.warmup} warm-up")
    if pipeline:
        print(f"pipeline {pipeline['video']}: {describe_pipeline(pipeline)}")
    print("\n".join(format_table(report["rows"])))
    print(f"ms: per batch (network) or per frame (pipeline); a stage's rate is the frames/s it alone would "
          f"sustain. Peak RSS of the run {report['peak_rss_mb']:.0f} MiB")
    return 0
