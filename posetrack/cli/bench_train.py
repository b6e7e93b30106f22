"""``posetrack bench train``: training images/s of the model, and of the data pipeline."""

from __future__ import annotations

import argparse
import json

from posetrack.cli import CLIError
from posetrack.cli.info import input_size

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
    import torch

    from posetrack.data.datasets import load_coco
    from posetrack.models import build_model
    from posetrack.pose.codec import HeatmapCodec
    from posetrack.pose.keypoints import COCO_FLIP_PAIRS
    from posetrack.train.bench import bench_data_loading, bench_train_step
    from posetrack.train.builder import UPPER_BODY_17

    if args.iters <= 0 or args.warmup < 0 or args.batch_size <= 0:
        raise CLIError("--iters and --batch-size must be positive, --warmup non-negative")
    if bool(args.ann) != bool(args.images):
        raise CLIError("--ann and --images go together")
    try:
        workers = [int(w) for w in args.workers.split(",")]
    except ValueError:
        raise CLIError(f"--workers: expected integers separated by commas, got {args.workers!r}") from None
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    h, w = args.input
    result: dict = {"model": args.model, "input": f"{h}x{w}", "device": str(device),
                    "torch_threads": torch.get_num_threads()}
    amp = not args.no_amp and device.type == "cuda"
    result["train_step"] = {"amp": amp, **bench_train_step(
        build_model(args.model), input_size=(w, h), batch_size=args.batch_size, iters=args.iters,
        warmup=args.warmup, device=device, amp=amp, channels_last=args.channels_last)}
    if args.ann:
        records = load_coco(args.ann, args.images, aspect_ratio=w / h)
        codec = HeatmapCodec((w, h), (w // 4, h // 4), 2.0 if h <= 256 else 3.0)
        result["data_loading"] = [
            bench_data_loading(records, codec=codec, flip_pairs=COCO_FLIP_PAIRS, upper_body=UPPER_BODY_17,
                               batch_size=args.batch_size, batches=args.iters, workers=n,
                               pin_memory=device.type == "cuda")
            for n in workers
        ]
    if args.json:
        print(json.dumps(result))
        return 0
    step = result["train_step"]
    print(f"{args.model} {h}x{w} on {device} ({result['torch_threads']} threads), batch {args.batch_size}, "
          f"amp {amp}: {step['images_per_s']:.1f} images/s ({step['step_ms']:.0f} ms/step)")
    for d in result.get("data_loading", []):
        print(f"data loading, {d['workers']} workers, pin_memory {d['pin_memory']}: {d['images_per_s']:.1f} images/s")
    return 0
