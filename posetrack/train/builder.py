"""Experiment -> ready ``Trainer``: the one place that reads the ``train`` section.

Everything below ``build_trainer`` takes explicit arguments (records, codec,
model, optimizer, hooks), so each piece can be used and tested alone.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from posetrack.config import to_dict
from posetrack.data.dataset import TopDownDataset
from posetrack.data.datasets import load_coco, load_mpii, load_posetrack
from posetrack.data.datasets.mpii import MPII_FLIP_PAIRS, MPII_UPPER_BODY
from posetrack.data.records import PoseRecord
from posetrack.data.transforms import train_pipeline
from posetrack.experiment import Experiment
from posetrack.io.atomic import write_text_atomic
from posetrack.models import build_model, load_checkpoint
from posetrack.models.checkpoint import CheckpointError
from posetrack.models.weights import Weights
from posetrack.pose.codec import HeatmapCodec
from posetrack.train.config import DatasetConfig, TrainConfig
from posetrack.train.distributed import DistInfo
from posetrack.eval.coco import STATS_NAMES, gt_regions
from posetrack.train.evaluation import (
    POSEVAL_METRICS, keypoint_ap_evaluation, posetrack_map_evaluation, records_to_coco,
)
from posetrack.train.hooks import (
    CHECKPOINT_FILE, CheckpointHook, EvalHook, IterationTimer, LRSchedulerHook, MetricsWriter, PreciseBN,
    ProgressBar,
)
from posetrack.train.loss import JointsMSELoss
from posetrack.train.trainer import Trainer

logger = logging.getLogger(__name__)

# Official upper_body_ids for the 17-slot sets (COCO, PoseTrack 18): head and arms.
UPPER_BODY_17 = tuple(range(11))


def load_records(split: DatasetConfig, *, aspect_ratio: float, num_joints: int) -> list[PoseRecord]:
    """Read one split's annotations (see ``DatasetConfig``)."""
    if not split.ann or not split.images:
        raise ValueError(f"dataset {split.format!r}: set both 'ann' and 'images' (got ann={split.ann!r}, "
                         f"images={split.images!r})")
    if split.format == "coco":
        return load_coco(split.ann, split.images, aspect_ratio=aspect_ratio, num_joints=num_joints)
    if split.format == "posetrack":
        return load_posetrack(split.ann, split.images, aspect_ratio=aspect_ratio)
    return load_mpii(split.ann, split.images)


def joint_layout(fmt: str, flip_pairs: Sequence[Sequence[int]]) -> tuple[tuple, tuple]:
    """(flip pairs, upper-body joint ids) for a dataset format."""
    if fmt == "mpii":
        return MPII_FLIP_PAIRS, MPII_UPPER_BODY
    return tuple(map(tuple, flip_pairs)), UPPER_BODY_17


def init_weights(model: nn.Module, path_or_name: str) -> None:
    """Start from pretrained weights (official ``need_init_state_dict`` semantics).

    Every model tensor except the final layer (another joint set) must come from the
    file; extra tensors in it (e.g. an ImageNet classifier head) are ignored.
    """
    report = load_checkpoint(model, path_or_name, strict=False)
    bad = [k for k in (*report.missing_keys, *report.mismatched_shapes) if not k.startswith("final_layer.")]
    if bad:
        raise CheckpointError(f"{report.path}: does not fit the model beyond its final layer: "
                              f"{', '.join(bad[:10])}{' ...' if len(bad) > 10 else ''}")
    logger.info("initialised from %s (%d tensors, %s layout)", report.path, report.loaded_keys, report.layout)


def _uses_poseval(split: DatasetConfig) -> bool:
    """PoseTrack given as a folder of per-video GT files is scored with poseval's mAP."""
    return split.format == "posetrack" and Path(split.ann).is_dir()


def check_evaluation(cfg: TrainConfig) -> None:
    """Raise the evaluation's config errors before any data is read, on every rank
    (EvalHook evaluates on rank 0 only: failing there would leave the others at its barrier)."""
    split = cfg.val_set
    if split is None:
        return
    if split.format == "mpii":
        raise ValueError("train.val_set: MPII evaluation (PCKh) is not implemented; leave val_set unset")
    names = POSEVAL_METRICS if _uses_poseval(split) else STATS_NAMES
    if cfg.eval_metric not in names:
        raise ValueError(f"train.eval_metric {cfg.eval_metric!r} is not a result of the {split.format} "
                         f"evaluation; choose one of {list(names)}")


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":  # official get_optimizer: Adam(lr) only, no weight decay
        return torch.optim.Adam(model.parameters(), lr=cfg.lr)
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def _worker_init(_: int) -> None:
    import cv2

    cv2.setNumThreads(0)  # one OpenCV thread per loader process (official train.py)


def build_loader(dataset: TopDownDataset, *, batch_size: int, workers: int, dist_info: DistInfo,
                 seed: int, pin_memory: bool) -> DataLoader:
    """Shuffled per epoch by a DistributedSampler (also with one process: the same
    order for the same (seed, epoch), which an exact resume needs)."""
    sampler = DistributedSampler(dataset, num_replicas=dist_info.world_size, rank=dist_info.rank,
                                 shuffle=True, seed=seed)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                      pin_memory=pin_memory, worker_init_fn=_worker_init if workers else None)


def build_trainer(exp: Experiment, *, out_dir: str | Path, device: torch.device, dist_info: DistInfo = DistInfo(),
                  resume: str | Path | None = None, init: str | None = None, progress: bool = True,
                  tensorboard: bool = True) -> Trainer:
    """Datasets, model, optimizer, schedule and hooks of ``exp``; resumes when asked.

    ``init`` overrides ``exp.train.init``. A fresh run refuses an ``out_dir`` that
    already holds a training checkpoint (resume it or choose another folder).
    """
    cfg = exp.train
    out_dir = Path(out_dir)
    if resume is None and (out_dir / CHECKPOINT_FILE).exists():
        raise ValueError(f"{out_dir / CHECKPOINT_FILE} exists: pass --resume to continue that run, "
                         "or choose another --out")
    check_evaluation(cfg)
    in_w, in_h = exp.data.input_size
    codec = HeatmapCodec(exp.data.input_size, exp.data.heatmap_size, exp.data.sigma)
    flip_pairs, upper_body = joint_layout(cfg.train_set.format, exp.data.flip_pairs)
    records = load_records(cfg.train_set, aspect_ratio=in_w / in_h, num_joints=exp.model.num_joints)
    if not records:
        raise ValueError(f"{cfg.train_set.ann}: no usable training people")
    aug = cfg.augment
    pipeline = train_pipeline(codec=codec, flip_pairs=flip_pairs, upper_body=upper_body,
                              scale_factor=aug.scale_factor, rotation_factor=aug.rotation_factor,
                              rotation_prob=aug.rotation_prob, flip=aug.flip, half_body_prob=aug.half_body_prob,
                              half_body_min_visible=aug.half_body_min_visible)
    dataset = TopDownDataset(records, pipeline, seed=cfg.seed)
    loader = build_loader(dataset, batch_size=cfg.batch_size, workers=cfg.workers, dist_info=dist_info,
                          seed=cfg.seed, pin_memory=device.type == "cuda")

    torch.manual_seed(cfg.seed)  # the same initial weights in every process
    model = build_model(exp.model.name, num_joints=exp.model.num_joints)
    init = init or cfg.init
    if init and resume is None:
        init_weights(model, init)
    model.to(device)
    if dist_info.world_size > 1:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = build_optimizer(model, cfg)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(cfg.lr_steps), cfg.lr_factor)

    hooks = [IterationTimer(), ProgressBar(enabled=progress)]
    if cfg.val_set is not None:
        if cfg.precise_bn_batches:
            hooks.append(PreciseBN(cfg.precise_bn_batches, period=cfg.eval_period))
        hooks.append(EvalHook(_build_evaluation(exp, cfg.val_set, device, out_dir), period=cfg.eval_period,
                              metric=cfg.eval_metric, out_dir=out_dir))
    hooks += [MetricsWriter(out_dir, tensorboard=tensorboard), LRSchedulerHook(scheduler),
              CheckpointHook(out_dir, period=cfg.checkpoint_period)]
    out_dir.mkdir(parents=True, exist_ok=True)  # only now: bad data or weights leave no run folder behind
    trainer = Trainer(model, JointsMSELoss(cfg.use_target_weight, cfg.ohkm_topk), optimizer, loader,
                      device=device, max_epochs=cfg.epochs, amp=cfg.amp, grad_clip=cfg.grad_clip,
                      hooks=hooks, rank=dist_info.rank)
    if resume is not None:
        trainer.resume(resume)
    if dist_info.is_main:
        write_text_atomic(out_dir / "config.yaml", yaml.safe_dump(to_dict(exp), sort_keys=False))
    logger.info("%d training people, %d steps per epoch, %s", len(records), len(loader), pipeline)
    return trainer


def _build_evaluation(exp: Experiment, split: DatasetConfig, device: torch.device, out_dir: Path):
    in_w, in_h = exp.data.input_size
    records = load_records(split, aspect_ratio=in_w / in_h, num_joints=exp.model.num_joints)
    if split.format == "coco":
        from posetrack.eval.coco import load_coco as load_coco_gt

        coco_gt = load_coco_gt(split.ann)
    elif _uses_poseval(split):
        logger.info("PoseTrack validation: poseval mAP on the GT boxes (%s)", split.ann)
        return posetrack_map_evaluation(
            split.ann, split.images, gt_regions(records), work_dir=out_dir / "val_predictions",
            weights=network_record(exp), device=device, estimator_options=exp.test.estimator_options(),
        )
    else:
        logger.info("PoseTrack validation from one combined file: COCO-style OKS AP on the GT boxes "
                    "(poseval mAP needs a folder of per-video files)")
        coco_gt = records_to_coco(records)
    return keypoint_ap_evaluation(
        coco_gt, gt_regions(records), weights=network_record(exp), device=device,
        estimator_options=exp.test.estimator_options(), oks_thre=exp.test.oks_thre, soft_nms=exp.test.soft_nms,
    )


def network_record(exp: Experiment) -> Weights:
    """The weights record of the network ``exp`` trains (held in memory: no file): what the
    validation's estimator needs, as a pretrained record would give it."""
    return Weights(name=f"{exp.model.name} being trained", url="", sha256="", arch=exp.model.name,
                   num_joints=exp.model.num_joints, input_size=tuple(exp.data.input_size), dataset="",
                   keypoints=exp.data.keypoints)
