"""What every benchmark shares: timing a call, process memory, and what the machine was.

Untrained weights (official init, std 0.001) drive activations into float denormals,
which are 10x slower on x86 CPUs than normal numbers and do not occur with trained
weights; the CPU network timings therefore flush denormals to zero (``flush_denormals``).
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from typing import Callable, Iterator

import torch

__all__ = ["flush_denormals", "machine_info", "rss_mb", "time_forward"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward(fn: Callable[[], object], device: torch.device, iters: int, warmup: int) -> float:
    """Mean seconds per call of ``fn`` over ``iters`` timed calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    _sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / iters


def rss_mb(peak: bool = False) -> float:
    """Resident set size of this process, MiB: now (Linux /proc), or the peak so far
    (``peak=True``, and where /proc is missing; ru_maxrss is KiB on Linux)."""
    if not peak:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except OSError:
            pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine_info(device: torch.device) -> dict:
    """What a benchmark ran on: ``{"device": GPU name or "cpu", "torch", "threads" (intra-op),
    "cpu_count", "loadavg": [1, 5, 15 min]}`` (the load average says how shared the CPU was)."""
    return {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "loadavg": [round(x, 2) for x in os.getloadavg()]}


@contextlib.contextmanager
def flush_denormals(device: torch.device) -> Iterator[None]:
    """Flush float denormals to zero on CPU while timing (see the module docstring)."""
    flushing = device.type == "cpu" and torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if flushing:
            torch.set_flush_denormal(False)  # the process default
