"""JointsMSELoss / OHKM against the official formulas, with exact values."""

from __future__ import annotations

import torch

from posetrack.train.loss import JointsMSELoss


def _official_loss(output, target, weight):
    """lib/core/loss.py JointsMSELoss: per joint 0.5 * MSE(pred * w, gt * w), averaged over joints."""
    n, k = output.shape[:2]
    pred, gt = output.reshape(n, k, -1), target.reshape(n, k, -1)
    mse = torch.nn.MSELoss(reduction="mean")
    return sum(0.5 * mse(pred[:, j] * weight[:, j], gt[:, j] * weight[:, j]) for j in range(k)) / k


def test_exact_values():
    output = torch.ones(2, 3, 4, 5)
    target = torch.zeros(2, 3, 4, 5)
    weight = torch.tensor([[[1.0], [0.0], [1.0]], [[0.0], [0.0], [1.0]]])
    # per (sample, joint) loss 0.5 * w^2 -> mean over 6 entries of [.5, 0, .5, 0, 0, .5]
    assert JointsMSELoss()(output, target, weight).item() == 0.25
    assert JointsMSELoss(use_target_weight=False)(output, target, weight).item() == 0.5
    # OHKM top-2 per sample: (0.5 + 0.5) / 2 and (0.5 + 0) / 2, averaged over the batch
    assert JointsMSELoss(ohkm_topk=2)(output, target, weight).item() == 0.375


def test_matches_official_formula():
    g = torch.Generator().manual_seed(0)
    output, target = torch.rand(4, 17, 16, 12, generator=g), torch.rand(4, 17, 16, 12, generator=g)
    weight = (torch.rand(4, 17, 1, generator=g) > 0.3).float()
    torch.testing.assert_close(JointsMSELoss()(output, target, weight), _official_loss(output, target, weight))
    # OHKM with topk >= K is the plain loss
    torch.testing.assert_close(JointsMSELoss(ohkm_topk=17)(output, target, weight), _official_loss(output, target, weight))
