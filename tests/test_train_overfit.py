"""Evidence the training code learns: overfit a narrow HRNet on the real COCO sample.

Same code path as a real run (the shipped COCO config, build_trainer, the dataset
reader, the transform pipeline, the codec targets, JointsMSELoss, Adam, and the
official test-time evaluation with pycocotools on GT boxes), narrowed for 2 CPU
cores: width 8, 64x96 input, augmentation off, all 12 people in every batch.
Measured (2026-11-25, shared 2-core box, load ~7): loss (mean of first/last 5 steps) 0.01446 -> 0.00355,
train AP 0.000 -> 0.184 in 60 steps, 88 s wall / 52 s CPU
(0.074 at step 40, 0.179 at step 50). PreciseBN (one batch) before the evaluation: without it the BN
running averages trail the fast-moving weights and AP stays near 0 this early.
"""

from __future__ import annotations

import csv

import torch

from posetrack.config import load_config
from posetrack.experiment import Experiment
from posetrack.train.builder import build_trainer
from posetrack.train.hooks import EvalHook

STEPS = 60


def test_overfit_coco_sample_loss_falls_and_ap_rises(tmp_path, coco_sample):
    d = coco_sample
    exp = load_config(Experiment, "configs/coco/hrnet_w32_256x192.yaml", [
        "model.width=8", "data.input_size=[64,96]", "data.heatmap_size=[16,24]",
        f"train.train_set={{format: coco, ann: {d}/test_coco.json, images: {d}}}",
        f"train.val_set={{format: coco, ann: {d}/test_coco.json, images: {d}}}",
        f"train.epochs={STEPS}", "train.batch_size=12", "train.workers=0", "train.lr=0.002",
        f"train.eval_period={STEPS}", "train.precise_bn_batches=1", "test.flip_test=false",
        "train.augment={scale_factor: 0.0, rotation_factor: 0.0, flip: false, half_body_prob: 0.0}",
    ])
    trainer = build_trainer(exp, out_dir=tmp_path, device=torch.device("cpu"), progress=False, tensorboard=False)
    (evaluator,) = [h for h in trainer.hooks if isinstance(h, EvalHook)]
    ap_start = evaluator.evaluate(trainer.model)["AP"]
    trainer.train()
    with open(tmp_path / "train_log.csv", newline="") as fh:
        losses = [float(r["loss"]) for r in csv.DictReader(fh)]
    assert len(losses) == STEPS
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    ap_end = evaluator.history[-1]["AP"]
    print(f"loss {first:.5f} -> {last:.5f}; train AP {ap_start:.3f} -> {ap_end:.3f}")
    assert last < 0.4 * first
    assert ap_start < 0.02 and ap_end > 0.1
    assert (tmp_path / "model_best.pth").is_file()
