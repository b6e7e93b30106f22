"""``posetrack bench train``: training images/s of the model, and of the data pipeline."""

from __future__ import annotations

import argparse
import json

from posetrack.argtypes import input_size
from posetrack.cli import CLIError

HELP = "training throughput: model steps images/s and data loading images/s, measured apart"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="hrnet_w32", help="model name (default hrnet_w32)")
    parser.add_argument("--input", type=input_size, default=(256, 192), metavar="HxW",
                        help="crop height x width (default 256x192)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per step (default 32)")
    parser.add_argument("--iters", type=int, default=5, help="timed steps (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--no-amp", action="store_true", help="fp32 steps on CUDA too")
    parser.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    parser.add_argument("--ann", help="COCO keypoint file for the data-loading measurement")
    parser.add_argument("--images", help="image folder of --ann")
    parser.add_argument("--workers", default="0,2", help="loader worker counts to try, e.g. 0,2,8 (default 0,2)")
    parser.add_argument("--json", action="store_true", help="print results as one JSON object")


def run(args: argparse.Namespace) -> int:
    from posetrack.bench.train import bench_train

    if args.iters <= 0 or args.warmup < 0 or args.batch_size <= 0:
        raise CLIError("--iters and --batch-size must be positive, --warmup non-negative")
    if bool(args.ann) != bool(args.images):
        raise CLIError("--ann and --images go together")
    try:
        workers = [int(w) for w in args.workers.split(",")]
    except ValueError:
        raise CLIError(f"--workers: expected integers separated by commas, got {args.workers!r}") from None
    result = bench_train(args.model, input_hw=args.input, batch_size=args.batch_size, iters=args.iters,
                         warmup=args.warmup, device=args.device, amp=not args.no_amp,
                         channels_last=args.channels_last, ann=args.ann, images=args.images, workers=workers)
    if args.json:
        print(json.dumps(result))
        return 0
    step = result["train_step"]
    print(f"{args.model} {result['input']} on {result['device']} ({result['torch_threads']} threads), batch "
          f"{args.batch_size}, amp {step['amp']}: {step['images_per_s']:.1f} images/s ({step['step_ms']:.0f} ms/step)")
    for d in result.get("data_loading", []):
        print(f"data loading, {d['workers']} workers, pin_memory {d['pin_memory']}: {d['images_per_s']:.1f} images/s")
    return 0
