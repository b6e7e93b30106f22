"""Throughput of the pose network (crops/s), beside timm's ``hrnet_w32`` backbone.

Both networks run through :class:`posetrack.models.runtime.ModelRunner`, i.e. the
way the pipeline runs the pose network, once per inference mode (``fp32``,
``fp16+cl``, ``fp32+compile``, ``fp16+cl+graphs``, ``ort`` ...). Each configuration
runs ``warmup`` untimed forwards, then ``iters`` timed ones on a fixed random batch
already on the device (no data loading, no host copies; CPU denormals flushed, see
:mod:`posetrack.bench.timing`).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import asdict, dataclass
from typing import Sequence

import torch
from torch import nn

from posetrack.bench.timing import flush_denormals, rss_mb, time_forward
from posetrack.models.runtime import InferenceMode, ModelRunner

logger = logging.getLogger(__name__)

__all__ = ["BenchResult", "Timing", "bench_model", "default_modes", "time_mode", "timm_reference", "TIMM_REFERENCE"]

TIMM_REFERENCE = "hrnet_w32"  # timm.create_model(..., features_only=True)


@dataclass(frozen=True)
class BenchResult:
    impl: str  # "posetrack:<model>" or "timm:hrnet_w32"
    mode: str  # InferenceMode.label, e.g. "fp32", "fp16+cl"
    batch: int
    compiled: bool  # torch.compile actually in use (False after a fall-back to eager)
    ms_per_batch: float
    crops_per_s: float

    def as_dict(self) -> dict:
        return asdict(self)


class TimmFeatures(nn.Module):
    """timm's feature list as one tensor: the stride-4 map, plus the mean of every other
    level so that compile/ONNX cannot prune the levels the reference computes."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, *rest = self.net(x)
        return first + sum(f.mean() for f in rest)


def timm_reference() -> nn.Module:
    """timm's ``hrnet_w32`` (features_only, random init) as a one-tensor module for ModelRunner."""
    import timm

    return TimmFeatures(timm.create_model(TIMM_REFERENCE, pretrained=False, features_only=True))


def default_modes(device: torch.device, compile_model: bool = False) -> list[InferenceMode]:
    """fp32 everywhere; fp16 autocast + channels_last on CUDA; ``+compile`` if asked."""
    labels = ["fp32", "fp16+cl"] if device.type == "cuda" else ["fp32"]
    return [InferenceMode.from_label(label + ("+compile" if compile_model else "")) for label in labels]


@dataclass(frozen=True)
class Timing:
    batch: int
    seconds: float  # per forward
    compiled: bool  # torch.compile actually in use (False after a fall-back to eager)
    peak_gpu_mb: float | None  # torch.cuda.max_memory_allocated over this batch size (CUDA only)
    rss_mb: float  # resident memory of the process after this batch size


def time_mode(net: nn.Module, mode: InferenceMode, *, input_hw: tuple[int, int], batch_sizes: Sequence[int],
              device: torch.device, iters: int, warmup: int) -> list[Timing]:
    """Time a copy of ``net`` in ``mode`` on a random (B, 3, H, W) batch per batch size."""
    runner = ModelRunner(copy.deepcopy(net), mode, device, input_hw=input_hw)  # modes change the module
    rows = []
    with torch.inference_mode():
        for batch in batch_sizes:
            x = torch.randn(batch, 3, *input_hw, device=device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            seconds = time_forward(lambda: runner(x), device, iters, warmup)
            peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
            logger.info("%s batch %d: %.1f crops/s", mode.label, batch, batch / seconds)
            rows.append(Timing(batch, seconds, runner.compiled, peak, rss_mb()))
    del runner, x  # free accelerator memory before the next configuration
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows


def bench_model(model: nn.Module, name: str, *, input_hw: tuple[int, int], batch_sizes: list[int],
                device: torch.device, modes: list[InferenceMode], iters: int = 10, warmup: int = 3,
                with_timm: bool = True) -> list[BenchResult]:
    """Time ``model`` (and timm's hrnet_w32 features_only, if ``with_timm``) per mode and batch.

    Inputs are (B, 3, H, W) random tensors; throughput = B / seconds per forward.
    ``model`` itself is not modified: each mode runs on a copy.
    """
    models = {f"posetrack:{name}": model}
    if with_timm:
        models[f"timm:{TIMM_REFERENCE}"] = timm_reference()
    with flush_denormals(device):
        return [BenchResult(impl, mode.label, t.batch, t.compiled, t.seconds * 1e3, t.batch / t.seconds)
                for impl, base in models.items() for mode in modes
                for t in time_mode(base, mode, input_hw=input_hw, batch_sizes=batch_sizes, device=device,
                                   iters=iters, warmup=warmup)]
