"""``posetrack bench modes``: pose network crops/s per inference mode and batch size, in one table.

Beside each row: the speed-up over plain fp32 eager (same network, same batch) and the
ratio to timm's hrnet_w32 (features_only) in fp32 eager; peak GPU memory on CUDA and the
process RSS. ``--json`` prints one object for machines.
"""

from __future__ import annotations

import argparse
import json

from posetrack.cli import CLIError
from posetrack.cli.bench_model import add_network_arguments, bench_device

HELP = "pose network crops/s per inference mode (precision, channels_last, compile, CUDA graphs, onnxruntime)"

# torch.compile on CPU builds C++ for minutes, so CPU defaults leave it out (ask with --modes).
DEFAULT_MODES = {
    "cpu": "fp32+cl,bf16,bf16+cl,ort",
    "cuda": "fp32+cl,bf16+cl,fp16+cl,fp16+cl+graphs,fp16+cl+compile",
}


def _modes(text: str) -> list:
    from posetrack.models.runtime import InferenceMode

    try:
        return [InferenceMode.from_label(label) for label in text.split(",")]
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


def measure_modes(args: argparse.Namespace, device, *, model: str, input_hw: tuple[int, int],
                  batch_sizes: list[int], default_modes: dict[str, str]) -> list:
    """``bench_modes`` for the parsed flags: ``--modes``, else ``default_modes[device type]``.
    An unknown model or a mode the device cannot run is a CLIError, raised before any timing."""
    from posetrack.models import build_model
    from posetrack.models.bench_modes import bench_modes

    modes = args.modes if args.modes is not None else _modes(default_modes.get(device.type, "fp32+cl"))
    try:
        return bench_modes(build_model(model), model, input_hw=input_hw, batch_sizes=batch_sizes, modes=modes,
                           device=device, iters=args.iters, warmup=args.warmup, with_timm=not args.no_timm)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def describe_machine(info: dict) -> str:
    """One header phrase from ``machine_info``: device, torch, threads, cores, load average."""
    return (f"device {info['device']}, torch {info['torch']}, {info['threads']} threads on {info['cpu_count']} cores "
            f"(load average {info['loadavg'][0]:.1f})")


def mode_label(result) -> str:
    """A ModeResult's mode, marked when torch.compile fell back to eager (not what was asked)."""
    return result.mode + (" (eager)" if result.compiled is False else "")


def fmt(value: float | None, spec: str, suffix: str = "") -> str:
    """``value`` formatted, or "-" when there is none (no timm, no GPU)."""
    return "-" if value is None else f"{value:{spec}}{suffix}"


def run(args: argparse.Namespace) -> int:
    from posetrack.models.bench import machine_info, rss_mb

    device = bench_device(args)
    set_threads(args)
    results = measure_modes(args, device, model=args.model, input_hw=args.input, batch_sizes=args.batch_sizes,
                            default_modes=DEFAULT_MODES)
    header = {**machine_info(device), "input_hw": list(args.input), "iters": args.iters, "warmup": args.warmup}
    if args.json:
        print(json.dumps({**header, "peak_rss_mb": rss_mb(peak=True), "results": [r.as_dict() for r in results]}))
        return 0
    h, w = args.input
    print(f"{describe_machine(header)}, input {h}x{w}, {args.iters} iters after {args.warmup} warm-up")
    print(f"{'impl':<22} {'mode':<16} {'batch':>5} {'ms/batch':>10} {'crops/s':>9} {'vs fp32':>8} {'vs timm':>8} "
          f"{'GPU MiB':>8} {'RSS MiB':>8}")
    for r in results:
        print(f"{r.impl:<22} {mode_label(r):<16} {r.batch:>5} {r.ms_per_batch:>10.1f} {r.crops_per_s:>9.1f} "
              f"{r.vs_fp32:>7.2f}x {fmt(r.vs_timm, '.2f', 'x'):>8} {fmt(r.peak_gpu_mb, '.0f'):>8} {r.rss_mb:>8.0f}")
    print(f"peak RSS {rss_mb(peak=True):.0f} MiB")
    return 0
