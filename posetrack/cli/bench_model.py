"""``posetrack bench model``: crops/s of the pose network beside timm's hrnet_w32."""

from __future__ import annotations

import argparse
import json

from posetrack.argtypes import input_size, positive_ints
from posetrack.cli import CLIError

HELP = ("pose network crops/s per batch size: fp32, and fp16+channels_last on CUDA, timm hrnet_w32 beside it "
        "(`bench modes` sweeps every inference mode)")


def add_network_arguments(parser: argparse.ArgumentParser,
                          batch_sizes_per_device: dict[str, list[int]] | None = None) -> None:
    """Flags shared by the network benchmarks (`bench model`, `bench modes`, the `bench` report).

    ``batch_sizes_per_device`` (device type -> sizes): ``--batch-sizes`` then defaults to None,
    for the command to pick by device; without it the default is 1,32,128.
    """
    parser.add_argument("--model", default="hrnet_w32", help="model name (default hrnet_w32)")
    parser.add_argument("--input", type=input_size, default=(256, 192), metavar="HxW",
                        help="crop height x width (default 256x192)")
    per_device = "; ".join(f"{d}: {','.join(map(str, sizes))}" for d, sizes in (batch_sizes_per_device or {}).items())
    parser.add_argument("--batch-sizes", type=positive_ints, default=None if per_device else [1, 32, 128],
                        metavar="B1,B2,...", help=f"batch sizes (default {per_device or '1,32,128'})")
    parser.add_argument("--iters", type=int, default=10, help="timed forwards per configuration (default 10)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed forwards first (default 3)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--no-timm", action="store_true", help="skip timm's hrnet_w32 reference")
    parser.add_argument("--json", action="store_true", help="print results as one JSON object")


def bench_device(args: argparse.Namespace):
    """Check the shared flags and return the torch device they name."""
    import torch

    if args.iters <= 0 or args.warmup < 0:
        raise CLIError("--iters must be positive and --warmup non-negative")
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CLIError(f"--device {args.device}: CUDA is not available here")
    return device


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_network_arguments(parser)
    parser.add_argument("--compile", action="store_true", help="torch.compile both networks (every mode)")


def run(args: argparse.Namespace) -> int:
    from posetrack.bench.model import bench_model, default_modes
    from posetrack.bench.timing import machine_info
    from posetrack.models import build_model

    device = bench_device(args)
    try:
        model = build_model(args.model)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    modes = default_modes(device, compile_model=args.compile)
    results = bench_model(model, args.model, input_hw=args.input, batch_sizes=args.batch_sizes, device=device,
                          modes=modes, iters=args.iters, warmup=args.warmup, with_timm=not args.no_timm)
    ours = {(r.mode, r.batch): r for r in results if r.impl.startswith("posetrack:")}
    theirs = {(r.mode, r.batch): r for r in results if r.impl.startswith("timm:")}
    ratios = {key: ours[key].crops_per_s / theirs[key].crops_per_s for key in ours if key in theirs}
    info = machine_info(device)
    if args.json:
        print(json.dumps({
            **info, "input_hw": list(args.input), "iters": args.iters, "warmup": args.warmup,
            "results": [r.as_dict() for r in results],
            "ratio_vs_timm": [{"mode": m, "batch": b, "ratio": v} for (m, b), v in ratios.items()],
        }))
        return 0
    h, w = args.input
    print(f"device {info['device']}, torch {info['torch']}, {info['threads']} threads, input {h}x{w}, "
          f"{args.iters} iters after {args.warmup} warm-up")
    print(f"{'impl':<24} {'mode':<16} {'batch':>5} {'ms/batch':>10} {'crops/s':>10} {'vs timm':>8}")
    for r in results:
        ratio = ratios.get((r.mode, r.batch)) if r.impl.startswith("posetrack:") else None
        # A failed torch.compile falls back to eager: say so rather than mislabel the number.
        mode = r.mode + (" (eager)" if "+compile" in r.mode and not r.compiled else "")
        print(f"{r.impl:<24} {mode:<16} {r.batch:>5} {r.ms_per_batch:>10.1f} {r.crops_per_s:>10.1f} "
              f"{'' if ratio is None else f'{ratio:.2f}x':>8}")
    return 0
