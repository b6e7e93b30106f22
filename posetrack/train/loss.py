"""Heatmap regression losses of the official code (``lib/core/loss.py``)."""

from __future__ import annotations

import torch
from torch import nn


class JointsMSELoss(nn.Module):
    """0.5 * mean squared error between weighted heatmaps, averaged over joints.

    Args:
        use_target_weight: multiply prediction and target by the per-joint weight
            (invisible / off-crop joints then contribute zero error but still count
            in the mean, as the official loss).
        ohkm_topk: if set, online hard keypoint mining: per sample, average only the
            ``topk`` largest per-joint losses (official ``JointsOHKMMSELoss``, topk=8).

    Shapes: output, target (N, K, H, W); target_weight (N, K, 1). Returns a scalar.
    """

    def __init__(self, use_target_weight: bool = True, ohkm_topk: int | None = None) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight
        self.ohkm_topk = ohkm_topk

    def forward(self, output: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor) -> torch.Tensor:
        n, k = output.shape[:2]
        pred = output.reshape(n, k, -1).float()
        gt = target.reshape(n, k, -1).float()
        if self.use_target_weight:
            w = target_weight.reshape(n, k, 1).float()
            pred, gt = pred * w, gt * w
        per_joint = 0.5 * (pred - gt).pow(2).mean(dim=2)  # (N, K)
        if self.ohkm_topk is None:
            return per_joint.mean()
        topk = min(self.ohkm_topk, k)
        return per_joint.topk(topk, dim=1, sorted=False).values.sum(dim=1).div(topk).mean()
