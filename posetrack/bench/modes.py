"""Crops/s of the pose network per inference mode and batch size, beside fp32 eager and timm's hrnet_w32.

Every mode runs through :class:`posetrack.models.runtime.ModelRunner`, the path the
estimator uses, on a fixed random (B, 3, H, W) batch already on the device, timed by
:func:`posetrack.bench.model.time_mode` as ``posetrack bench model`` (warm-up, then the
mean of timed calls); the timm network is :func:`posetrack.bench.model.timm_reference`.
The plain fp32 eager mode is always measured first: each row's ``vs_fp32`` is its
speed-up over it (same implementation, same batch) and ``vs_timm`` its ratio to timm's
``hrnet_w32`` (features_only) in fp32 eager at the same batch. timm runs in the
requested modes that need no export or compilation (ONNX export of its feature list
and dead-code elimination under torch.compile would not time the same network).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import torch
from torch import nn

from posetrack.bench.model import TIMM_REFERENCE, time_mode, timm_reference
from posetrack.bench.timing import flush_denormals
from posetrack.models.runtime import InferenceMode

__all__ = ["BASELINE", "DEFAULT_MODES", "ModeResult", "bench_modes", "modes_for", "parse_modes"]

BASELINE = InferenceMode()  # plain fp32 eager
# `bench modes` defaults per device type. torch.compile on CPU builds C++ for minutes, so
# CPU defaults leave it out (ask with --modes).
DEFAULT_MODES = {
    "cpu": "fp32+cl,bf16,bf16+cl,ort",
    "cuda": "fp32+cl,bf16+cl,fp16+cl,fp16+cl+graphs,fp16+cl+compile",
}


def parse_modes(labels: str | Sequence[str]) -> list[InferenceMode]:
    """``"fp32+cl,ort"`` (or a list of labels) -> InferenceModes; ValueError names a bad label."""
    return [InferenceMode.from_label(label) for label in (labels.split(",") if isinstance(labels, str) else labels)]


def modes_for(device: torch.device, modes: Sequence[InferenceMode] | None = None,
              defaults: Mapping[str, str] = DEFAULT_MODES) -> list[InferenceMode]:
    """``modes`` when given, else ``defaults[device type]`` (``fp32+cl`` for other device types)."""
    return list(modes) if modes is not None else parse_modes(defaults.get(device.type, "fp32+cl"))


@dataclass(frozen=True)
class ModeResult:
    impl: str  # "posetrack:<model>" or "timm:hrnet_w32"
    mode: str  # InferenceMode.label, e.g. "fp32", "bf16+cl", "ort"
    batch: int
    ms_per_batch: float
    crops_per_s: float
    vs_fp32: float  # crops/s over the same impl's fp32 eager at this batch
    vs_timm: float | None  # crops/s over timm hrnet_w32 fp32 eager at this batch (None without timm)
    compiled: bool | None  # compile modes: False when torch.compile fell back to eager; else None
    peak_gpu_mb: float | None  # torch.cuda.max_memory_allocated over this configuration (CUDA only)
    rss_mb: float  # resident memory of the process after this configuration

    def as_dict(self) -> dict:
        return asdict(self)


def bench_modes(model: nn.Module, name: str, *, input_hw: tuple[int, int], batch_sizes: Sequence[int],
                modes: Sequence[InferenceMode], device: torch.device, iters: int = 10, warmup: int = 3,
                with_timm: bool = True) -> list[ModeResult]:
    """Time ``model`` (a fresh copy per mode) in fp32 eager and each of ``modes``, per batch size.

    Raises ValueError before timing anything when a mode cannot run on ``device``.
    """
    modes = [BASELINE] + [m for m in dict.fromkeys(modes) if m != BASELINE]
    for mode in modes:
        mode.check_device(device)
    impls = {f"posetrack:{name}": (model, modes)}
    if with_timm:
        impls[f"timm:{TIMM_REFERENCE}"] = (timm_reference(),
                                           [m for m in modes if m.backend == "torch" and not m.compile])
    with flush_denormals(device):
        timings = {(impl, mode, t.batch): t
                   for impl, (net, impl_modes) in impls.items() for mode in impl_modes
                   for t in time_mode(net, mode, input_hw=input_hw, batch_sizes=batch_sizes, device=device,
                                      iters=iters, warmup=warmup)}
    timm_fp32 = f"timm:{TIMM_REFERENCE}"
    results = []
    for (impl, mode, batch), t in timings.items():
        base = timings[(impl, BASELINE, batch)].seconds
        ref = timings.get((timm_fp32, BASELINE, batch))
        results.append(ModeResult(impl, mode.label, batch, t.seconds * 1e3, batch / t.seconds, base / t.seconds,
                                  None if ref is None else ref.seconds / t.seconds,
                                  t.compiled if mode.compile else None, t.peak_gpu_mb, t.rss_mb))
    return results
