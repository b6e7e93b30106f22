"""The ``train`` section of an experiment (``posetrack.experiment.Experiment.train``).

Defaults are the official COCO recipe (``experiments/coco/hrnet/*_adam_lr1e-3.yaml``):
Adam, lr 1e-3 x0.1 at epochs 170 and 200, 210 epochs, 32 images per GPU, flip,
half-body 0.3, scale 0.35, rotation 45.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class DatasetConfig:
    """Where a split lives. ``format``: coco (person_keypoints json + image folder),
    posetrack (2017 annolist or 2018 json, file or folder of per-video files; ``images``
    is the dataset root the file names are relative to), mpii (official json)."""

    format: Literal["coco", "posetrack", "mpii"] = "coco"
    ann: str = ""
    images: str = ""


@dataclass(frozen=True)
class AugmentConfig:
    scale_factor: float = 0.35  # region scale ~ clip(N(1, sf), 1-sf, 1+sf)
    rotation_factor: float = 45.0  # degrees ~ clip(N(0, rf), -2rf, 2rf) ...
    rotation_prob: float = 0.6  # ... applied with this probability
    flip: bool = True  # mirror with probability 0.5
    half_body_prob: float = 0.3
    half_body_min_visible: int = 8  # half-body only with more visible joints than this


@dataclass(frozen=True)
class TrainConfig:
    train_set: DatasetConfig = field(default_factory=DatasetConfig)
    val_set: DatasetConfig | None = None  # evaluated every eval_period epochs (GT boxes)
    epochs: int = 210
    batch_size: int = 32  # per process (official BATCH_SIZE_PER_GPU)
    workers: int = 4  # DataLoader processes per training process
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = 1e-3
    lr_steps: tuple[int, ...] = (170, 200)
    lr_factor: float = 0.1
    momentum: float = 0.9  # sgd only
    weight_decay: float = 0.0  # official: passed to SGD only (Adam gets none)
    grad_clip: float | None = None  # max global gradient norm
    amp: bool = True  # float16 autocast + GradScaler, CUDA only
    use_target_weight: bool = True
    ohkm_topk: int | None = None  # e.g. 8: online hard keypoint mining
    seed: int = 0
    eval_period: int = 10  # epochs
    eval_metric: str = "AP"  # keeps model_best.pth
    precise_bn_batches: int = 0  # >0: recompute BN statistics on this many batches before each eval (not official)
    checkpoint_period: int = 1  # epochs
    init: str | None = None  # pretrained name or weights file to start from (fine-tuning)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        if list(self.lr_steps) != sorted(self.lr_steps):
            raise ValueError(f"train.lr_steps must be increasing, got {list(self.lr_steps)}")
        for name in ("epochs", "batch_size", "eval_period", "checkpoint_period"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.workers < 0:
            raise ValueError(f"train.workers must be >= 0, got {self.workers}")
