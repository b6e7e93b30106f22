"""``TopDownDataset``: records + a transform pipeline, with reproducible randomness."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from posetrack.data.records import PoseRecord
from posetrack.data.transforms import Compose, record_to_sample

OUTPUT_KEYS = ("input", "target", "target_weight")


class TopDownDataset(Dataset):
    """Item ``i`` -> {"input" (3, h, w), "target" (K, h/4, w/4), "target_weight" (K, 1),
    "index" ()} as tensors.

    The augmentation of item ``i`` in epoch ``e`` draws from
    ``numpy.random.default_rng((seed, e, i))``: identical whichever worker (or how
    many) produces it, and identical after a resume. Call ``set_epoch`` before each
    epoch (DataLoader workers are re-created per epoch, so they see the new value).
    """

    def __init__(self, records: Sequence[PoseRecord], pipeline: Compose, seed: int = 0) -> None:
        missing = [k for k in OUTPUT_KEYS if k not in pipeline.keys]
        if missing:
            raise ValueError(f"pipeline does not produce {missing}: {pipeline!r}")
        self.records = list(records)
        self.pipeline = pipeline
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, int(index)))
        sample = self.pipeline(record_to_sample(self.records[index]), rng)
        out = {k: torch.from_numpy(np.ascontiguousarray(sample[k])) for k in OUTPUT_KEYS}
        out["index"] = torch.tensor(int(index))
        return out
