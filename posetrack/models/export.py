"""Export a pose network to ONNX (dynamic batch) and check it against PyTorch.

Uses the TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``): it
needs only ``onnx``, while the dynamo exporter also needs ``onnxscript``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from posetrack.io.atomic import atomic_path

logger = logging.getLogger(__name__)

__all__ = ["ExportReport", "export_onnx", "INPUT_NAME", "OUTPUT_NAME"]

INPUT_NAME = "images"  # (N, 3, H, W) float32, normalised RGB
OUTPUT_NAME = "heatmaps"  # (N, K, H/4, W/4) float32
CHECK_BATCH_SIZES = (1, 3)


@dataclass(frozen=True)
class ExportReport:
    path: Path
    input_hw: tuple[int, int]
    opset: int
    max_abs_diff: float  # onnxruntime vs PyTorch, over CHECK_BATCH_SIZES
    output_scale: float  # max |heatmap| of the PyTorch reference, to read the diff against


def export_onnx(model: nn.Module, out: str | os.PathLike, input_hw: tuple[int, int], *, opset: int = 17,
                rtol: float = 1e-3, atol: float = 1e-5, seed: int = 0) -> ExportReport:
    """Write ``model`` (on CPU, eval mode) to ``out`` as ONNX with a dynamic batch axis.

    Before the file appears at ``out`` (atomically), onnxruntime runs it on random
    inputs of batch 1 and 3; a max abs difference above ``atol + rtol * max|ref|``
    raises ``RuntimeError`` and leaves nothing at ``out``.
    """
    import onnxruntime as ort

    model = model.cpu().eval()
    h, w = input_hw
    gen = torch.Generator().manual_seed(seed)
    inputs = [torch.randn(b, 3, h, w, generator=gen) for b in CHECK_BATCH_SIZES]
    with torch.no_grad():
        refs = [model(x).numpy() for x in inputs]
    out = Path(out)
    with atomic_path(out) as tmp:
        torch.onnx.export(
            model, (inputs[0],), str(tmp), dynamo=False, opset_version=opset,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        diff = 0.0
        for x, ref in zip(inputs, refs):
            (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})
            if got.shape != ref.shape:
                raise RuntimeError(f"ONNX output shape {got.shape} != PyTorch {ref.shape} for batch {x.shape[0]}")
            diff = max(diff, float(np.abs(got - ref).max()))
        scale = max(float(np.abs(r).max()) for r in refs)
        if not diff <= atol + rtol * scale:  # also catches NaN
            raise RuntimeError(
                f"ONNX export of {out} disagrees with PyTorch: max abs diff {diff:.3g} "
                f"(output scale {scale:.3g}); file not written"
            )
    logger.info("wrote %s (opset %d), max abs diff vs PyTorch %.3g", out, opset, diff)
    return ExportReport(out, (h, w), opset, diff, scale)
