"""Crops/s of the pose network per inference mode and batch size, beside fp32 eager and timm's hrnet_w32.

Every mode runs through :class:`posetrack.models.runtime.ModelRunner`, the path the
estimator uses, on a fixed random (B, 3, H, W) batch already on the device; timing is
:func:`posetrack.models.bench.time_forward` (warm-up, then the mean of timed calls).
The plain fp32 eager mode is always measured first: each row's ``vs_fp32`` is its
speed-up over it (same implementation, same batch) and ``vs_timm`` its ratio to timm's
``hrnet_w32`` (features_only) in fp32 eager at the same batch. timm runs in the
requested modes that need no export or compilation (ONNX export of its feature list
and dead-code elimination under torch.compile would not time the same network).
"""

from __future__ import annotations

import copy
import logging
import os
import resource
from dataclasses import asdict, dataclass
from typing import Sequence

import torch
from torch import nn

from posetrack.models.bench import TIMM_REFERENCE, time_forward
from posetrack.models.runtime import InferenceMode, ModelRunner

logger = logging.getLogger(__name__)

__all__ = ["ModeResult", "bench_modes", "rss_mb", "peak_rss_mb"]

BASELINE = InferenceMode()  # plain fp32 eager


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


class _FirstFeatures(nn.Module):
    """timm's features_only HRNet returns a list; the runner needs a tensor (all branches still run)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[0]


def rss_mb() -> float:
    """Current resident set size of this process, MiB (Linux /proc; else the peak)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
        import timm

        timm_net = _FirstFeatures(timm.create_model(TIMM_REFERENCE, pretrained=False, features_only=True))
        impls[f"timm:{TIMM_REFERENCE}"] = (timm_net, [m for m in modes if m.backend == "torch" and not m.compile])
    # Same reason as posetrack.models.bench: untrained weights make denormals, slow on x86 only.
    flushing = device.type == "cpu" and torch.set_flush_denormal(True)
    try:
        timings = {(impl, mode, batch): timing
                   for impl, (net, impl_modes) in impls.items() for mode in impl_modes
                   for batch, timing in _time_mode(net, mode, input_hw, batch_sizes, device, iters, warmup)}
    finally:
        if flushing:
            torch.set_flush_denormal(False)  # the process default
    timm_fp32 = f"timm:{TIMM_REFERENCE}"
    results = []
    for (impl, mode, batch), (seconds, compiled, peak, rss) in timings.items():
        crops_per_s = batch / seconds
        base = timings[(impl, BASELINE, batch)][0]
        ref = timings.get((timm_fp32, BASELINE, batch))
        results.append(ModeResult(impl, mode.label, batch, seconds * 1e3, crops_per_s, base / seconds,
                                  None if ref is None else ref[0] / seconds, compiled, peak, rss))
    return results


def _time_mode(net: nn.Module, mode: InferenceMode, input_hw: tuple[int, int], batch_sizes: Sequence[int],
               device: torch.device, iters: int, warmup: int) -> list[tuple[int, tuple]]:
    """[(batch, (seconds per call, compiled, peak GPU MiB, RSS MiB))] for one mode."""
    runner = ModelRunner(copy.deepcopy(net), mode, device, input_hw=input_hw)  # modes change the module
    rows = []
    with torch.inference_mode():
        for batch in batch_sizes:
            x = torch.randn(batch, 3, *input_hw, device=device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            seconds = time_forward(lambda: runner(x), device, iters, warmup)
            peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
            compiled = runner.compiled if mode.compile else None
            logger.info("%s batch %d: %.1f crops/s", mode.label, batch, batch / seconds)
            rows.append((batch, (seconds, compiled, peak, rss_mb())))
    del runner
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows
