"""``posetrack bench`` (= ``posetrack bench report``): the network and the whole pipeline, one table.

Network rows come from ``bench modes`` (plain fp32 eager, each requested mode, timm's
hrnet_w32 beside them, per batch size; rate in crops/s); with ``--video``, pipeline rows come
from ``bench track``: the end-to-end row (frames/s, ms per frame, peak GPU memory, peak RSS),
then one row per pipeline node (its mean ms per frame, and the frames/s it alone would
sustain). Both parts run on one device: ``--device``, else CUDA when available. ``--json``
prints the same rows with everything measured, as one object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path

from posetrack.cli.bench_model import add_network_arguments, bench_device
from posetrack.cli.bench_modes import (
    DEFAULT_MODES, add_mode_arguments, describe_machine, fmt, measure_modes, mode_label, set_threads,
)
from posetrack.cli.bench_track import add_pipeline_arguments, describe_pipeline, measure_pipeline, prepared_pipeline

HELP = ("the whole report in one table: network crops/s per mode and batch (beside fp32 eager and timm), "
        "pipeline FPS and per-stage ms with --video, peak GPU memory, RSS")

# The report's network defaults; bf16 on CPUs without native bf16 and compile on CPU take
# minutes, so the CPU default keeps the fast paths (ask for the others with --modes).
REPORT_MODES = {"cpu": "fp32+cl,ort", "cuda": DEFAULT_MODES["cuda"]}
REPORT_BATCH_SIZES = {"cpu": [1, 8], "cuda": [1, 32, 128]}
NETWORK_MODEL, NETWORK_INPUT = "hrnet_w32", (256, 192)

COLUMNS = ("part", "config", "batch", "ms", "rate", "unit", "vs fp32", "vs timm", "GPU MiB", "RSS MiB")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_network_arguments(parser, REPORT_BATCH_SIZES)
    add_mode_arguments(parser, REPORT_MODES)
    parser.add_argument("--video", type=Path, default=None,
                        help="also time the tracking pipeline on this video or frame folder")
    add_pipeline_arguments(parser)
    # None = not given: the network then uses the defaults below and the pipeline its weights' own
    # arch and input size; given, --model and --input set the pipeline's pose network too.
    parser.set_defaults(model=None, input=None)


def network_rows(results: list) -> list[dict]:
    """One table row per ModeResult: ms per batch, crops/s."""
    return [{"part": "network", "config": f"{r.impl} {mode_label(r)}", "batch": r.batch, "ms": r.ms_per_batch,
             "rate": r.crops_per_s, "unit": "crops/s", "vs_fp32": r.vs_fp32, "vs_timm": r.vs_timm,
             "gpu_mb": r.peak_gpu_mb, "rss_mb": r.rss_mb} for r in results]


def pipeline_rows(result: dict) -> list[dict]:
    """The end-to-end row (ms per frame, frames/s, peak memory), then one row per node."""
    blank = {"part": "pipeline", "batch": None, "unit": "frames/s", "vs_fp32": None, "vs_timm": None,
             "gpu_mb": None, "rss_mb": None}
    fps = result["fps"]
    rows = [{**blank, "config": "end-to-end", "ms": 1e3 / fps if fps else None, "rate": fps,
             "gpu_mb": result["peak_gpu_mb"], "rss_mb": result["peak_rss_mb"]}]
    rows += [{**blank, "config": stage, "ms": ms, "rate": 1e3 / ms if ms else None}
             for stage, ms in result["stage_ms"].items()]
    return rows


def _cells(row: dict) -> list[str]:
    rate = row["rate"]
    return [row["part"], row["config"], fmt(row["batch"], "d"), fmt(row["ms"], ".1f"),
            fmt(rate, ".1f" if rate is not None and rate >= 10 else ".2f"), row["unit"],
            fmt(row["vs_fp32"], ".2f", "x"), fmt(row["vs_timm"], ".2f", "x"), fmt(row["gpu_mb"], ".0f"),
            fmt(row["rss_mb"], ".0f")]


def format_table(rows: list[dict]) -> list[str]:
    """Aligned text lines: COLUMNS, then one line per row (text left, numbers right)."""
    cells = [list(COLUMNS)] + [_cells(r) for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    left = {"part", "config", "unit"}
    return ["  ".join(c.ljust(w) if name in left else c.rjust(w) for c, w, name in zip(line, widths, COLUMNS)).rstrip()
            for line in cells]


def run(args: argparse.Namespace) -> int:
    from posetrack.models.bench import machine_info, rss_mb

    device = bench_device(args)
    set_threads(args)
    model, input_hw = args.model or NETWORK_MODEL, args.input or NETWORK_INPUT
    batch_sizes = args.batch_sizes or REPORT_BATCH_SIZES.get(device.type, REPORT_BATCH_SIZES["cpu"])
    pipeline = None
    pipeline_args = argparse.Namespace(**{**vars(args), "device": str(device)})  # one device for both parts
    pose = {"pose": {"input_size": [input_hw[1], input_hw[0]]}} if args.input else None
    # The pipeline is built (its input checked) before minutes of network timing.
    with prepared_pipeline(pipeline_args, pose) if args.video is not None else contextlib.nullcontext() as graph:
        results = measure_modes(args, device, model=model, input_hw=input_hw, batch_sizes=batch_sizes,
                                default_modes=REPORT_MODES)
        if graph is not None:
            pipeline = measure_pipeline(pipeline_args, graph)
    rows = network_rows(results) + (pipeline_rows(pipeline) if pipeline else [])
    info = machine_info(device)  # after the runs: the load average they ran under
    # ru_maxrss is updated lazily by the kernel: a per-frame /proc sample can be above it
    peak_rss = max(rss_mb(peak=True), pipeline["peak_rss_mb"] if pipeline else 0.0)
    network = {"model": model, "input_hw": list(input_hw), "batch_sizes": batch_sizes, "iters": args.iters,
               "warmup": args.warmup, "results": [r.as_dict() for r in results]}
    if args.json:
        print(json.dumps({**info, "network": network, "pipeline": pipeline, "peak_rss_mb": peak_rss,
                          "rows": rows}))
        return 0
    h, w = input_hw
    print(f"{describe_machine(info)}; network {model} {h}x{w}, {args.iters} iters after {args.warmup} warm-up")
    if pipeline:
        print(f"pipeline {pipeline['video']}: {describe_pipeline(pipeline)}")
    print("\n".join(format_table(rows)))
    print(f"ms: per batch (network) or per frame (pipeline); a stage's rate is the frames/s it alone would "
          f"sustain. Peak RSS of the run {peak_rss:.0f} MiB")
    return 0
