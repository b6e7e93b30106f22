"""``posetrack export MODEL --weights W --input 256x192 --out model.onnx``."""

from __future__ import annotations

import argparse

from posetrack.cli import CLIError
from posetrack.argtypes import input_size

HELP = "export a pose network to ONNX (dynamic batch), checked against PyTorch with onnxruntime"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model name: hrnet_w32, hrnet_w48 or hrnet_w<C>")
    weights = parser.add_mutually_exclusive_group(required=True)
    weights.add_argument("--weights", help="checkpoint file (official or mmpose layout) or registered weights name")
    weights.add_argument("--random-init", action="store_true",
                         help="export untrained weights (for speed tests only: predicts nothing useful)")
    parser.add_argument("--input", type=input_size, default=(256, 192), metavar="HxW",
                        help="network input height x width (default 256x192)")
    parser.add_argument("--joints", type=int, default=17, help="number of output heatmaps (default 17)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument("--out", required=True, help="output .onnx file (written atomically)")


def run(args: argparse.Namespace) -> int:
    from posetrack.models import build_model, load_checkpoint
    from posetrack.models.export import export_onnx

    try:
        model = build_model(args.model, num_joints=args.joints)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    source = "RANDOM INIT (untrained)"
    if args.weights:
        source = str(load_checkpoint(model, args.weights).path)
    report = export_onnx(model, args.out, args.input, opset=args.opset)
    h, w = report.input_hw
    print(f"wrote {report.path} ({args.model}, weights: {source}, input Nx3x{h}x{w}, opset {report.opset})")
    print(f"onnxruntime vs PyTorch, batch 1 and 3: max abs diff {report.max_abs_diff:.3g} "
          f"(heatmap max {report.output_scale:.3g})")
    return 0
