"""Parameter and multiply-add counts, in the paper's convention.

The HRNet paper's "GFLOPs" column is multiply-adds over convolutions divided by
2^30 (the official model summary computes it that way). ``torch.utils.flop_counter``
counts 2 FLOPs per multiply-add, so its convolution count is halved.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["Complexity", "count_complexity"]


@dataclass(frozen=True)
class Complexity:
    params: int
    conv_macs: int  # multiply-adds of all convolutions for one input

    @property
    def params_m(self) -> str:
        return f"{self.params / 1e6:.1f}M"

    @property
    def paper_gflops(self) -> float:
        return self.conv_macs / 2**30


def count_complexity(model: nn.Module, input_hw: tuple[int, int]) -> Complexity:
    """Count parameters and convolution multiply-adds for one (1, 3, H, W) input.

    The input is created on the model's device; build the model under
    ``torch.device("meta")`` to count without memory or arithmetic. The model runs
    in eval mode (BN statistics untouched) and its mode is restored afterwards.
    """
    params = sum(p.numel() for p in model.parameters())
    device = next(model.parameters()).device
    was_training = model.training
    counter = FlopCounterMode(display=False)
    try:
        with counter, torch.no_grad():
            model.eval()(torch.zeros(1, 3, *input_hw, device=device))
    finally:
        model.train(was_training)
    flops = sum(n for op, n in counter.get_flop_counts()["Global"].items() if "convolution" in str(op))
    return Complexity(params=params, conv_macs=flops // 2)
