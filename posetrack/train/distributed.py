"""torchrun / torch.distributed set-up: one process per GPU, configured from the environment."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str | None = None) -> tuple[DistInfo, torch.device]:
    """Join the process group torchrun describes (WORLD_SIZE > 1), pick this process's device.

    ``device``: None = ``cuda:<LOCAL_RANK>`` when CUDA is available, else CPU; an
    explicit ``"cuda"`` also gets the local rank appended. Backend: nccl on CUDA, gloo on CPU.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    info = DistInfo(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", info.local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        logger.info("process %d of %d on %s", info.rank, world, dev)
    return info, dev


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
