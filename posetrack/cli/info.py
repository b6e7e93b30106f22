"""``posetrack info MODEL --input 256x192``: parameters and GFLOPs as in the HRNet paper."""

from __future__ import annotations

import argparse
import json

from posetrack.argtypes import input_size
from posetrack.cli import CLIError

HELP = "print a model's parameter count and GFLOPs (paper convention: conv multiply-adds / 2^30)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model name: hrnet_w32, hrnet_w48 or hrnet_w<C>")
    parser.add_argument("--input", type=input_size, default=(256, 192), metavar="HxW",
                        help="network input height x width (default 256x192)")
    parser.add_argument("--joints", type=int, default=17, help="number of output heatmaps (default 17)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def run(args: argparse.Namespace) -> int:
    import torch

    from posetrack.models import build_model
    from posetrack.models.complexity import count_complexity

    h, w = args.input
    try:
        with torch.device("meta"):  # shapes only: no weights in memory, no arithmetic
            model = build_model(args.model, num_joints=args.joints)
        stats = count_complexity(model, (h, w))
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if args.json:
        print(json.dumps({
            "model": args.model, "input_hw": [h, w], "joints": args.joints, "params": stats.params,
            "conv_multiply_adds": stats.conv_macs, "paper_gflops": round(stats.paper_gflops, 2),
        }))
        return 0
    print(f"model    {args.model} ({args.joints} joints), input {h}x{w}")
    print(f"params   {stats.params:,} ({stats.params_m})")
    print(f"GFLOPs   {stats.paper_gflops:.1f} ({stats.conv_macs / 1e9:.3f}e9 conv multiply-adds / 2^30, as in the paper)")
    return 0
