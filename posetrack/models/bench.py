"""Throughput of the pose network (crops/s), beside timm's ``hrnet_w32`` backbone.

Each configuration runs ``warmup`` untimed forwards, then ``iters`` timed ones on a
fixed random batch already on the device (no data loading, no host copies), under
``torch.inference_mode``. Modes: ``fp32`` everywhere; ``fp16_cl`` (fp16 autocast +
channels_last) on CUDA only, where it pays off.

Untrained weights (official init, std 0.001) drive activations into float
denormals, which are 10x slower on x86 CPUs than normal numbers and do not occur
with trained weights; the CPU run therefore flushes denormals to zero.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from torch import nn

logger = logging.getLogger(__name__)

__all__ = ["BenchResult", "bench_model", "time_forward"]

TIMM_REFERENCE = "hrnet_w32"  # timm.create_model(..., features_only=True)


@dataclass(frozen=True)
class BenchResult:
    impl: str  # "posetrack:<model>" or "timm:hrnet_w32"
    mode: str  # "fp32" | "fp16_cl"
    batch: int
    compiled: bool
    ms_per_batch: float
    crops_per_s: float

    def as_dict(self) -> dict:
        return asdict(self)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward(fn: Callable[[], object], device: torch.device, iters: int, warmup: int) -> float:
    """Mean seconds per call of ``fn`` over ``iters`` timed calls."""
    for _ in range(warmup):
        fn()
    _sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / iters


def _prepare(model: nn.Module, mode: str, device: torch.device, compile_model: bool) -> nn.Module:
    model = model.eval().to(device)
    if mode == "fp16_cl":
        model = model.to(memory_format=torch.channels_last)
    return torch.compile(model) if compile_model else model


def _run(model: nn.Module, mode: str, x: torch.Tensor) -> Callable[[], object]:
    if mode == "fp16_cl":
        x = x.to(memory_format=torch.channels_last)

        def call() -> object:
            with torch.autocast(x.device.type, dtype=torch.float16):
                return model(x)

        return call
    return lambda: model(x)


def bench_model(model: nn.Module, name: str, *, input_hw: tuple[int, int], batch_sizes: list[int],
                device: torch.device, iters: int = 10, warmup: int = 3, compile_model: bool = False,
                with_timm: bool = True) -> list[BenchResult]:
    """Time ``model`` (and timm's hrnet_w32 features_only, if ``with_timm``) per mode and batch.

    Inputs are (B, 3, H, W) random tensors; throughput = B / seconds per forward.
    """
    models = {f"posetrack:{name}": model}
    if with_timm:
        import timm

        models[f"timm:{TIMM_REFERENCE}"] = timm.create_model(TIMM_REFERENCE, pretrained=False, features_only=True)
    modes = ["fp32", "fp16_cl"] if device.type == "cuda" else ["fp32"]
    flushing = device.type == "cpu" and torch.set_flush_denormal(True)
    try:
        results = _bench_all(models, modes, input_hw, batch_sizes, device, iters, warmup, compile_model)
    finally:
        if flushing:
            torch.set_flush_denormal(False)  # the process default
    return results


def _bench_all(models: dict[str, nn.Module], modes: list[str], input_hw: tuple[int, int], batch_sizes: list[int],
               device: torch.device, iters: int, warmup: int, compile_model: bool) -> list[BenchResult]:
    results = []
    with torch.inference_mode():
        for impl, base in models.items():
            for mode in modes:
                prepared = _prepare(base, mode, device, compile_model)
                for batch in batch_sizes:
                    x = torch.randn(batch, 3, *input_hw, device=device)
                    seconds = time_forward(_run(prepared, mode, x), device, iters, warmup)
                    result = BenchResult(impl, mode, batch, compile_model, seconds * 1e3, batch / seconds)
                    logger.info("%s %s batch %d: %.1f crops/s", impl, mode, batch, result.crops_per_s)
                    results.append(result)
                    del x
            base.to("cpu")  # free accelerator memory before the next implementation
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return results
