"""The whole benchmark report: the network and the pipeline in one table (``posetrack bench``).

Network rows come from :func:`posetrack.bench.modes.bench_modes` (plain fp32 eager, each
requested mode, timm's hrnet_w32 beside them, per batch size; rate in crops/s); with a
pipeline, pipeline rows come from :func:`posetrack.bench.track.measure_pipeline`: the
end-to-end row (frames/s, ms per frame, peak GPU memory, peak RSS), then one row per
pipeline node (its mean ms per frame, and the frames/s it alone would sustain). Both parts
run on one device. The text helpers (``format_table``, ``describe_*``, ``fmt``) are the
ones every ``posetrack bench`` target prints with.

    from posetrack.bench.report import bench_report, format_table
    report = bench_report(device=torch.device("cpu"), batch_sizes=[1], iters=3, warmup=1)
    print("\\n".join(format_table(report["rows"])))
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Sequence

import torch

from posetrack.bench.modes import DEFAULT_MODES, ModeResult, bench_modes, modes_for
from posetrack.bench.timing import machine_info, rss_mb
from posetrack.bench.track import PipelineBench, measure_pipeline, prepared_pipeline
from posetrack.models.runtime import InferenceMode

__all__ = ["COLUMNS", "REPORT_BATCH_SIZES", "REPORT_MODES", "bench_report", "describe_machine",
           "describe_pipeline", "fmt", "format_table", "mode_label", "network_rows", "pipeline_rows"]

# The report's network defaults; bf16 on CPUs without native bf16 and compile on CPU take
# minutes, so the CPU default keeps the fast paths (ask for the others with --modes).
REPORT_MODES = {"cpu": "fp32+cl,ort", "cuda": DEFAULT_MODES["cuda"]}
REPORT_BATCH_SIZES = {"cpu": [1, 8], "cuda": [1, 32, 128]}
NETWORK_MODEL, NETWORK_INPUT = "hrnet_w32", (256, 192)

COLUMNS = ("part", "config", "batch", "ms", "rate", "unit", "vs fp32", "vs timm", "GPU MiB", "RSS MiB")


def bench_report(*, device: torch.device, model: str | None = None, input_hw: tuple[int, int] | None = None,
                 batch_sizes: Sequence[int] | None = None, modes: Sequence[InferenceMode] | None = None,
                 iters: int = 10, warmup: int = 3, with_timm: bool = True,
                 pipeline: PipelineBench | None = None) -> dict:
    """Time the network (``model`` at ``input_hw`` (height, width), default hrnet_w32 256x192) per mode
    and batch size and, given ``pipeline``, the whole pipeline, all on ``device``.

    ``modes`` / ``batch_sizes`` None: ``REPORT_MODES`` / ``REPORT_BATCH_SIZES`` of the device type.
    ``model`` and ``input_hw``, when given, also set the pipeline's pose network (its settings win).
    The pipeline is built (its input checked) before minutes of network timing.
    Returns ``{"device", "torch", "threads", "cpu_count", "loadavg", "network", "pipeline", "peak_rss_mb", "rows"}``
    (``pipeline`` None without one).
    """
    from posetrack.models import build_model
    from posetrack.track.pipeline import merge_settings

    name, hw = model or NETWORK_MODEL, input_hw or NETWORK_INPUT
    batch_sizes = list(batch_sizes or REPORT_BATCH_SIZES.get(device.type, REPORT_BATCH_SIZES["cpu"]))
    if pipeline is not None:
        pose = {**({"arch": model} if model else {}),
                **({"input_size": [input_hw[1], input_hw[0]]} if input_hw else {})}
        pipeline = dataclasses.replace(pipeline, settings=merge_settings(
            {"*": {"device": str(device)}}, {"pose": pose} if pose else None, pipeline.settings))
    measured = None
    with prepared_pipeline(pipeline) if pipeline is not None else contextlib.nullcontext() as graph:
        results = bench_modes(build_model(name), name, input_hw=hw, batch_sizes=batch_sizes,
                              modes=modes_for(device, modes, REPORT_MODES), device=device, iters=iters,
                              warmup=warmup, with_timm=with_timm)
        if graph is not None:
            measured = measure_pipeline(pipeline, graph)
    rows = network_rows(results) + (pipeline_rows(measured) if measured else [])
    info = machine_info(device)  # after the runs: the load average they ran under
    # ru_maxrss is updated lazily by the kernel: a per-frame /proc sample can be above it
    peak_rss = max(rss_mb(peak=True), measured["peak_rss_mb"] if measured else 0.0)
    network = {"model": name, "input_hw": list(hw), "batch_sizes": batch_sizes, "iters": iters, "warmup": warmup,
               "results": [r.as_dict() for r in results]}
    return {**info, "network": network, "pipeline": measured, "peak_rss_mb": peak_rss, "rows": rows}


def network_rows(results: list[ModeResult]) -> list[dict]:
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


def fmt(value: float | None, spec: str, suffix: str = "") -> str:
    """``value`` formatted, or "-" when there is none (no timm, no GPU)."""
    return "-" if value is None else f"{value:{spec}}{suffix}"


def mode_label(result: ModeResult) -> str:
    """A ModeResult's mode, marked when torch.compile fell back to eager (not what was asked)."""
    return result.mode + (" (eager)" if result.compiled is False else "")


def describe_machine(info: dict) -> str:
    """One header phrase from ``machine_info``: device, torch, threads, cores, load average."""
    return (f"device {info['device']}, torch {info['torch']}, {info['threads']} threads on {info['cpu_count']} cores "
            f"(load average {info['loadavg'][0]:.1f})")


def describe_pipeline(result: dict) -> str:
    """``<frames> frames, <people>/frame, device, pose network as it ran[, random weights]``."""
    pose = result["pose"]
    net = "" if pose is None else (f", pose {pose['arch']} {pose['input_size'][1]}x{pose['input_size'][0]} "
                                   f"{pose['mode']}{' +flip' if pose['flip_test'] else ''}")
    return (f"{result['frames']} frames, {result['people_per_frame']:.1f} people/frame, device {result['device']}"
            f"{net}{', random weights' if result['random_weights'] else ''}")


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
