"""``posetrack bench modes``: pose network crops/s per inference mode and batch size, in one table.

The mode ``auto`` picks for this network here (``posetrack.models.auto``, probed or cached) is
named above the table and marked ``(auto)`` in it (``"auto"`` in the JSON).

Beside each row: the speed-up over plain fp32 eager (same network, same batch) and the
ratio to timm's hrnet_w32 (features_only) in fp32 eager; peak GPU memory on CUDA and the
process RSS. ``--json`` prints one object for machines. Measured by ``posetrack.bench.modes``.
"""

from __future__ import annotations

import argparse
import json

from posetrack.bench.modes import DEFAULT_MODES, parse_modes
from posetrack.cli import CLIError
from posetrack.cli.bench_model import add_network_arguments, bench_device

HELP = "pose network crops/s per inference mode (precision, channels_last, compile, CUDA graphs, onnxruntime)"


def _modes(text: str) -> list:
    try:
        return parse_modes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_mode_arguments(parser: argparse.ArgumentParser, default_modes: dict[str, str]) -> None:
    """``--modes`` and ``--threads`` (shared with the `bench` report); ``default_modes``: device type -> labels."""
    parser.add_argument("--modes", type=_modes, default=None, metavar="M1,M2,...",
                        help="modes [fp32|fp16|bf16][+cl][+compile][+graphs] or ort; fp32 eager is always "
                             f"measured too (default cpu: {default_modes['cpu']}; cuda: {default_modes['cuda']})")
    parser.add_argument("--threads", type=int, default=None, help="torch/onnxruntime CPU threads (default: torch's)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_network_arguments(parser)
    add_mode_arguments(parser, DEFAULT_MODES)


def set_threads(args: argparse.Namespace) -> None:
    import torch

    if args.threads is not None:
        if args.threads < 1:
            raise CLIError("--threads must be positive")
        torch.set_num_threads(args.threads)


def run(args: argparse.Namespace) -> int:
    from posetrack.bench.modes import bench_modes, modes_for
    from posetrack.bench.report import describe_machine, fmt, mode_label
    from posetrack.bench.timing import machine_info, rss_mb
    from posetrack.models import build_model
    from posetrack.models.auto import auto_mode

    device = bench_device(args)
    set_threads(args)
    model = build_model(args.model)
    auto = auto_mode(model, device, args.input).label  # what `mode: auto` runs this network as here
    results = bench_modes(model, args.model, input_hw=args.input, batch_sizes=args.batch_sizes,
                          modes=modes_for(device, args.modes), device=device, iters=args.iters, warmup=args.warmup,
                          with_timm=not args.no_timm)
    header = {**machine_info(device), "input_hw": list(args.input), "iters": args.iters, "warmup": args.warmup,
              "auto": auto}
    if args.json:
        print(json.dumps({**header, "peak_rss_mb": rss_mb(peak=True), "results": [r.as_dict() for r in results]}))
        return 0
    h, w = args.input
    print(f"{describe_machine(header)}, input {h}x{w}, {args.iters} iters after {args.warmup} warm-up")
    measured = any(r.mode == auto for r in results if r.impl.startswith("posetrack:"))
    print(f"mode auto picks {auto} here" + ("" if measured else " (not among --modes)"))
    print(f"{'impl':<22} {'mode':<16} {'batch':>5} {'ms/batch':>10} {'crops/s':>9} {'vs fp32':>8} {'vs timm':>8} "
          f"{'GPU MiB':>8} {'RSS MiB':>8}")
    for r in results:
        mark = " (auto)" if r.mode == auto and r.impl.startswith("posetrack:") else ""
        print(f"{r.impl:<22} {mode_label(r) + mark:<16} {r.batch:>5} {r.ms_per_batch:>10.1f} {r.crops_per_s:>9.1f} "
              f"{r.vs_fp32:>7.2f}x {fmt(r.vs_timm, '.2f', 'x'):>8} {fmt(r.peak_gpu_mb, '.0f'):>8} {r.rss_mb:>8.0f}")
    print(f"peak RSS {rss_mb(peak=True):.0f} MiB")
    return 0
