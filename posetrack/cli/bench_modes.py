"""``posetrack bench modes``: pose network crops/s per inference mode and batch size, in one table.

Beside each row: the speed-up over plain fp32 eager (same network, same batch) and the
ratio to timm's hrnet_w32 (features_only) in fp32 eager; peak GPU memory on CUDA and the
process RSS. ``--json`` prints one object for machines.
"""

from __future__ import annotations

import argparse
import json
import os

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_network_arguments(parser)
    parser.add_argument("--modes", type=_modes, default=None, metavar="M1,M2,...",
                        help="modes [fp32|fp16|bf16][+cl][+compile][+graphs] or ort; fp32 eager is always "
                             f"measured too (default cpu: {DEFAULT_MODES['cpu']}; cuda: {DEFAULT_MODES['cuda']})")
    parser.add_argument("--threads", type=int, default=None, help="torch/onnxruntime CPU threads (default: torch's)")


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def run(args: argparse.Namespace) -> int:
    import torch

    from posetrack.models import build_model
    from posetrack.models.bench import rss_mb
    from posetrack.models.bench_modes import bench_modes

    device = bench_device(args)
    if args.threads is not None:
        if args.threads < 1:
            raise CLIError("--threads must be positive")
        torch.set_num_threads(args.threads)
    modes = args.modes if args.modes is not None else _modes(DEFAULT_MODES.get(device.type, "fp32+cl"))
    try:
        model = build_model(args.model)
        results = bench_modes(model, args.model, input_hw=args.input, batch_sizes=args.batch_sizes, modes=modes,
                              device=device, iters=args.iters, warmup=args.warmup, with_timm=not args.no_timm)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    load = [round(x, 2) for x in os.getloadavg()]
    header = {"device": device_name, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "cpu_count": os.cpu_count(), "loadavg": load, "input_hw": list(args.input), "iters": args.iters,
              "warmup": args.warmup}
    if args.json:
        print(json.dumps({**header, "peak_rss_mb": rss_mb(peak=True), "results": [r.as_dict() for r in results]}))
        return 0
    h, w = args.input
    print(f"device {device_name}, torch {torch.__version__}, {header['threads']} threads on {os.cpu_count()} cores "
          f"(load average {load[0]:.1f}), input {h}x{w}, {args.iters} iters after {args.warmup} warm-up")
    print(f"{'impl':<22} {'mode':<16} {'batch':>5} {'ms/batch':>10} {'crops/s':>9} {'vs fp32':>8} {'vs timm':>8} "
          f"{'GPU MiB':>8} {'RSS MiB':>8}")
    for r in results:
        mode = r.mode + (" (eager)" if r.compiled is False else "")  # torch.compile fell back
        print(f"{r.impl:<22} {mode:<16} {r.batch:>5} {r.ms_per_batch:>10.1f} {r.crops_per_s:>9.1f} "
              f"{r.vs_fp32:>7.2f}x {_fmt(r.vs_timm, '.2f', 'x'):>8} {_fmt(r.peak_gpu_mb, '.0f'):>8} {r.rss_mb:>8.0f}")
    print(f"peak RSS {rss_mb(peak=True):.0f} MiB")
    return 0
