"""The experiment recipe: typed sections filled from ``configs/**/*.yaml``.

Sections: ``model`` (which network), ``data`` (input/heatmap geometry, keypoint set),
``test`` (official test-time settings), ``inference`` (how the network runs: precision,
channels_last, compile, CUDA graphs, onnxruntime; owned by ``posetrack.models.runtime``).
The training section is added by the training code. Field names mirror the official HRNet YAML keys in lower case
(``TEST.FLIP_TEST`` -> ``test.flip_test``); sizes are (width, height) like the official
``IMAGE_SIZE: [192, 256]``. Load with ``posetrack.config.load_config(Experiment, path, overrides)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from posetrack.models.runtime import InferenceMode
from posetrack.pose.keypoints import KEYPOINT_SETS
from posetrack.train.config import TrainConfig

# HRNet heatmaps are at 1/4 of the input resolution.
HEATMAP_STRIDE = 4


@dataclass(frozen=True)
class ModelConfig:
    arch: Literal["hrnet"] = "hrnet"
    width: int = 32  # C of the paper: branch widths C, 2C, 4C, 8C (32 or 48; narrow ones for tests)
    num_joints: int = 17

    @property
    def name(self) -> str:
        """The ``posetrack.models.build_model`` name, e.g. ``hrnet_w32``."""
        return f"{self.arch}_w{self.width}"


@dataclass(frozen=True)
class DataConfig:
    input_size: tuple[int, int] = (192, 256)  # model input (width, height), px
    heatmap_size: tuple[int, int] = (48, 64)  # model output (width, height), px
    sigma: float = 2.0  # target Gaussian std, heatmap px (official: 2 at 48x64, 3 at 72x96)
    keypoints: Literal["coco", "posetrack18"] = "coco"  # joint order and flip pairs

    def __post_init__(self) -> None:
        expected = tuple(s // HEATMAP_STRIDE for s in self.input_size)
        if tuple(self.heatmap_size) != expected or any(s % HEATMAP_STRIDE for s in self.input_size):
            raise ValueError(
                f"data.heatmap_size {list(self.heatmap_size)} must be data.input_size "
                f"{list(self.input_size)} / {HEATMAP_STRIDE} (the network's output stride)"
            )

    @property
    def flip_pairs(self) -> tuple[tuple[int, int], ...]:
        return KEYPOINT_SETS[self.keypoints][1]


@dataclass(frozen=True)
class TestConfig:
    flip_test: bool = True  # average with the mirrored crop's heatmaps
    shift_heatmap: bool = True  # shift mirrored heatmaps 1 px right
    post_process: bool = True  # quarter-pixel offset in decoding
    image_thre: float = 0.0  # drop detector boxes scoring below this
    in_vis_thre: float = 0.2  # joints above this score count in the person rescoring
    oks_thre: float = 0.9  # OKS-NMS threshold per image
    soft_nms: bool = False  # soft OKS-NMS instead of hard
    batch_size: int = 32  # crops per forward pass

    def estimator_options(self) -> dict:
        """These settings as ``TopDownEstimator`` keyword arguments (official names -> the estimator's)."""
        return {"flip_test": self.flip_test, "shift_heatmap": self.shift_heatmap, "refine": self.post_process,
                "in_vis_thre": self.in_vis_thre, "batch_size": self.batch_size}


@dataclass(frozen=True)
class Experiment:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    test: TestConfig = field(default_factory=TestConfig)
    inference: InferenceMode = field(default_factory=InferenceMode)  # precision, compile, ... (models/runtime.py)
    train: TrainConfig = field(default_factory=TrainConfig)
