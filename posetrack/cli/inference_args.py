"""Command-line flags for the ``inference`` config section, shared by commands that run the pose network.

Flags override the config file's ``inference`` section; an absent flag keeps it. With no flag and a
config without an ``inference`` section (or one that only repeats the defaults), the mode is
``auto`` (:func:`posetrack.models.auto.auto_mode`); ``--mode LABEL`` names one mode outright.
"""

from __future__ import annotations

import argparse
import dataclasses

from posetrack.cli import CLIError
from posetrack.models.runtime import InferenceMode


def add_inference_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("inference mode (override the config's inference section)")
    group.add_argument("--mode", metavar="LABEL",
                       help="auto (default unless the config's inference section or the flags below say otherwise: "
                            "the fastest mode of this machine whose keypoints equal fp32's, probed once and cached), "
                            "or a mode label: fp32, bf16+cl, fp16+cl+graphs, ort, ... (see posetrack bench modes)")
    group.add_argument("--precision", choices=["fp32", "fp16", "bf16"],
                       help="autocast precision: fp16 on CUDA only, bf16 on CPU and CUDA")
    group.add_argument("--channels-last", action="store_true", default=None, help="NHWC memory format")
    group.add_argument("--compile", action="store_true", default=None,
                       help="torch.compile the network (falls back to eager, with a warning, if it fails)")
    group.add_argument("--cuda-graphs", action="store_true", default=None,
                       help="replay CUDA graphs captured per batch bucket (CUDA only)")
    group.add_argument("--backend", choices=["torch", "onnxruntime"],
                       help="onnxruntime: run the ONNX export on CPU (fp32)")


def inference_mode(base: InferenceMode, args: argparse.Namespace) -> InferenceMode | None:
    """``base`` (from the config) with the flags given on the command line applied; None for auto."""
    given = {name: getattr(args, name) for name in ("precision", "channels_last", "compile", "cuda_graphs", "backend")
             if getattr(args, name) is not None}
    if args.mode is not None and given:
        raise CLIError(f"--mode {args.mode} names the whole mode; drop --{', --'.join(n.replace('_', '-') for n in given)}")
    try:
        if args.mode is not None:
            return None if args.mode == "auto" else InferenceMode.from_label(args.mode)
        if not given and base == InferenceMode():
            return None
        return dataclasses.replace(base, **given)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
