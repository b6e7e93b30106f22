"""Top-down pose estimation of the people in one image, given their boxes.

Steps, as the official evaluation (``lib/core/function.py`` validate):
box -> crop region (aspect padding, x1.25) -> affine crop -> RGB ImageNet normalisation
-> batched forward (+ mirrored crops, mapped back, averaged) -> argmax + quarter offset
-> image px -> person score = box score x mean confident joint score.

The three phases are separate methods so a caller can pool crops of several frames
into one batch: :meth:`TopDownEstimator.prepare` (per frame), :meth:`heatmaps` (any
batch), :meth:`decode` (any batch). They cut crops on the host with cv2.

Calling the estimator on one frame can instead keep the whole frame on the device
(``crops_on="device"``, the default on CUDA): the frame goes up once through a pinned
buffer, all crops come from one ``grid_sample`` call, normalisation, forward passes, flip
averaging and the peak search run there, and only (N, K, 4) peak numbers come back.

:meth:`TopDownEstimator.from_weights` builds one from a weights record, which carries the
input size, joint set (flip pairs) and normalisation the network was trained with.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import numpy as np
import torch
from torch import nn

from posetrack.device import PinnedUploader, StageStream
from posetrack.models.runtime import InferenceMode, ModelRunner
from posetrack.models.weights import IMAGENET_MEAN, IMAGENET_STD, Weights, resolve_weights
from posetrack.pose.codec import decode_heatmaps
from posetrack.pose.crop import box_to_center_size, crop, crop_inverse_transforms, warp_crops
from posetrack.pose.flip import flip_heatmaps
from posetrack.pose.keypoints import COCO_FLIP_PAIRS
from posetrack.pose.oks import rescore_poses

CropsOn = Literal["auto", "host", "device"]


@dataclass(frozen=True)
class CropBatch:
    """Model-input crops and the image regions they cover.

    crops (N, h, w, 3) uint8 RGB; centers (N, 2) and sizes (N, 2) = (width, height), image px.
    """

    crops: np.ndarray
    centers: np.ndarray
    sizes: np.ndarray

    def __len__(self) -> int:
        return len(self.crops)

    @staticmethod
    def concat(batches: Sequence["CropBatch"]) -> "CropBatch":
        """Stack the crops of several frames (keeps order; split results by the lengths)."""
        if not batches:
            raise ValueError("CropBatch.concat needs at least one batch")
        return CropBatch(*(np.concatenate([getattr(b, f.name) for b in batches])
                           for f in dataclasses.fields(CropBatch)))


@dataclass(frozen=True)
class PoseResult:
    """Poses of N people in one image (or a pooled batch), numpy arrays.

    keypoints (N, K, 3): x, y in image px and the heatmap peak score;
    box_scores (N,): detector scores; scores (N,): rescored person scores
    (box score x mean of joint scores above ``in_vis_thre``); centers, sizes (N, 2):
    crop regions in image px; areas (N,): sizes width x height, px^2 (the area the
    official OKS-NMS uses).
    """

    keypoints: np.ndarray
    box_scores: np.ndarray
    scores: np.ndarray
    centers: np.ndarray
    sizes: np.ndarray
    areas: np.ndarray

    def __len__(self) -> int:
        return len(self.keypoints)

    def __getitem__(self, index: slice | np.ndarray | Sequence[int]) -> "PoseResult":
        """Select people: ``result[2:5]``, ``result[keep]``."""
        if isinstance(index, (int, np.integer)):
            raise TypeError("index PoseResult with a slice or an index array, not a single int")
        if not isinstance(index, slice):
            index = np.asarray(index, dtype=np.int64)
        return PoseResult(*(getattr(self, f.name)[index] for f in dataclasses.fields(self)))


class TopDownEstimator:
    """HRNet (or any heatmap model) applied to person boxes of an RGB image.

    Args:
        model: maps (B, 3, h, w) normalised crops to (B, K, h/4, w/4) heatmaps.
            It is moved to ``device`` and put in eval mode.
        input_size: (width, height) of the model input, px.
        flip_test: also run mirrored crops and average (official TEST.FLIP_TEST).
        flip_pairs: left/right channel pairs of the model's keypoint set.
        shift_heatmap: shift mirrored heatmaps 1 px right (official TEST.SHIFT_HEATMAP).
        refine: quarter-pixel offset in decoding (official TEST.POST_PROCESS).
        in_vis_thre: joint score threshold of the rescoring (official 0.2).
        device: torch device for the forward pass.
        batch_size: crops per forward pass (with flip test the pass holds 2x crops).
        mode: how the model runs (precision, channels_last, compile, CUDA graphs,
            onnxruntime); default plain fp32 eager. See ``posetrack.models.runtime``.
        crops_on: where calling the estimator on a frame cuts the crops: "host" (cv2, one
            crop at a time, as :meth:`prepare`), "device" (``grid_sample`` on ``device``,
            frame uploaded once, peaks found there) or "auto": device on CUDA, host
            otherwise (cv2 is faster on a CPU). The paths differ only by cv2's 1/32-px sample
            quantisation and uint8 rounding: on real COCO people 236 of 238 joints come out
            identical, two a quarter offset apart, scores within 0.0032.
        mean, std: RGB normalisation of the 0..1 crops (default ImageNet's, as the official code).

    ``weights`` is the record the estimator was made from (``from_weights``), else None.
    """

    def __init__(
        self,
        model: nn.Module,
        input_size: Sequence[int] = (192, 256),
        flip_test: bool = True,
        flip_pairs: Sequence[Sequence[int]] = COCO_FLIP_PAIRS,
        shift_heatmap: bool = True,
        refine: bool = True,
        in_vis_thre: float = 0.2,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
        mode: InferenceMode | None = None,
        crops_on: CropsOn = "auto",
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if crops_on not in ("auto", "host", "device"):
            raise ValueError(f"crops_on must be 'auto', 'host' or 'device', got {crops_on!r}")
        self.device = torch.device(device)
        self.crops_on_device = crops_on == "device" or (crops_on == "auto" and self.device.type == "cuda")
        self._uploader = PinnedUploader(self.device)
        self._stream = StageStream(self.device)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.runner = ModelRunner(model, mode, self.device, input_hw=self.input_size[::-1])
        self.model = self.runner.model
        self.flip_test = flip_test
        self.flip_pairs = tuple(tuple(p) for p in flip_pairs)
        self.shift_heatmap = shift_heatmap
        self.refine = refine
        self.in_vis_thre = in_vis_thre
        self.batch_size = batch_size
        self._mean = torch.tensor(tuple(mean), device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(tuple(std), device=self.device).view(1, 3, 1, 1)
        self.weights: Weights | None = None

    @classmethod
    def from_weights(cls, weights: str | os.PathLike | Weights, *, arch: str | None = None,
                     input_size: Sequence[int] | None = None, keypoints: str | None = None,
                     num_joints: int | None = None, model: nn.Module | None = None,
                     **options: Any) -> "TopDownEstimator":
        """An estimator for pretrained weights: a registered name, a checkpoint file or a ``Weights``
        record, whose input size, flip pairs (joint set) and normalisation it takes.

        ``arch``, ``input_size`` (width, height), ``keypoints``, ``num_joints``: what the caller
        expects of a name or path; a registered record that differs is a ValueError naming both,
        a file takes them (``posetrack.models.weights.resolve_weights``). ``model``: the record's network already
        loaded (e.g. to probe an inference mode first), else it is built and loaded here.
        ``options``: the other constructor arguments (``flip_test``, ``device``, ``batch_size``,
        ``mode``, ``crops_on``, ...).

        >>> from posetrack.models.weights import DEMO_WEIGHTS
        >>> estimator = TopDownEstimator.from_weights(DEMO_WEIGHTS, flip_test=False)
        >>> estimator.input_size, estimator.weights.keypoints
        ((96, 128), 'coco')
        """
        record = weights if isinstance(weights, Weights) else resolve_weights(
            weights, arch=arch, input_size=None if input_size is None else tuple(input_size), keypoints=keypoints,
            num_joints=num_joints)
        estimator = cls(record.load_model() if model is None else model, input_size=record.input_size,
                        flip_pairs=record.flip_pairs, mean=record.mean, std=record.std, **options)
        estimator.weights = record
        return estimator

    def prepare(self, image_rgb: np.ndarray, boxes_xywh: np.ndarray) -> CropBatch:
        """Crop regions and affine crops for the person boxes of one image.

        image_rgb (H, W, 3) uint8; boxes_xywh (N, 4) image px -> CropBatch of N crops.
        """
        return self.prepare_regions(image_rgb, *self._regions(boxes_xywh))

    def _regions(self, boxes_xywh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 4) boxes -> crop regions (centers, sizes) fitted to the input aspect ratio, x1.25."""
        w, h = self.input_size
        return box_to_center_size(_check_boxes(boxes_xywh), aspect_ratio=w / h)

    def prepare_regions(self, image_rgb: np.ndarray, centers: np.ndarray, sizes: np.ndarray) -> CropBatch:
        """Affine crops of given regions (centers, sizes (N, 2) image px, already fitted)."""
        image_rgb = _check_image(image_rgb)
        centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
        sizes = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
        w, h = self.input_size
        crops = np.zeros((len(centers), h, w, 3), dtype=np.uint8)
        for i in range(len(centers)):
            crops[i] = crop(image_rgb, centers[i], sizes[i], 0.0, self.input_size)
        return CropBatch(crops, centers, sizes)

    @torch.no_grad()
    def heatmaps(self, crops: np.ndarray) -> np.ndarray:
        """Crops (N, h, w, 3) uint8 RGB -> heatmaps (N, K, H, W) float32 (flip test applied)."""
        return self._forward(self._crops_to_device(crops)).cpu().numpy()

    @torch.no_grad()
    def pose_crops(self, batch: CropBatch, box_scores: np.ndarray) -> PoseResult:
        """Poses of prepared crops (one image's, or pooled from several): forward and peak search
        on the device, so only the peaks come back, not the heatmaps."""
        with self._stream:
            return self.decode(self._forward(self._crops_to_device(batch.crops)), batch.centers, batch.sizes,
                               box_scores)

    def _crops_to_device(self, crops: np.ndarray) -> torch.Tensor:
        """(N, h, w, 3) uint8 host crops -> (N, 3, h, w) uint8 on the device (4x less to copy than float)."""
        return self._uploader(crops).permute(0, 3, 1, 2)

    def _forward(self, crops: torch.Tensor) -> torch.Tensor:
        """Crops (N, 3, h, w) RGB 0..255 (any dtype) on the device -> heatmaps (N, K, H, W) there.

        Normalised and run ``batch_size`` at a time; with flip test each pass holds the crops
        and their mirrors, and the mirrored maps are flipped back and averaged in.
        """
        outputs = []
        # An empty batch still runs once, so the result has the model's (K, H, W).
        for start in range(0, max(len(crops), 1), self.batch_size):
            x = crops[start:start + self.batch_size].float().div(255.0)
            x = (x - self._mean) / self._std
            if not self.flip_test:
                outputs.append(self.runner(x))
                continue
            both = self.runner(torch.cat([x, torch.flip(x, dims=[3])]))
            plain, mirrored = both[: len(x)], both[len(x):]
            back = flip_heatmaps(mirrored, self.flip_pairs, shift=self.shift_heatmap)
            outputs.append((plain + back) * 0.5)
        return torch.cat(outputs)

    def decode(
        self,
        heatmaps: np.ndarray | torch.Tensor,
        centers: np.ndarray,
        sizes: np.ndarray,
        box_scores: np.ndarray,
    ) -> PoseResult:
        """Heatmaps (N, K, H, W) + regions (N, 2) + box scores (N,) -> PoseResult.

        ``heatmaps`` may be a tensor on the device: peaks are found there and only they
        come back (see ``posetrack.pose.codec.find_peaks``).
        """
        box_scores = np.asarray(box_scores, dtype=np.float64).reshape(-1)
        if len(box_scores) != len(heatmaps):
            raise ValueError(f"{len(heatmaps)} heatmaps but {len(box_scores)} box scores")
        coords, maxvals = decode_heatmaps(heatmaps, centers, sizes, refine=self.refine)
        keypoints = np.concatenate([coords, maxvals.astype(np.float32)], axis=2)
        sizes = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
        return PoseResult(
            keypoints=keypoints,
            box_scores=box_scores,
            scores=rescore_poses(keypoints, box_scores, self.in_vis_thre),
            centers=np.asarray(centers, dtype=np.float64).reshape(-1, 2),
            sizes=sizes,
            areas=sizes[:, 0] * sizes[:, 1],
        )

    def __call__(
        self, image_rgb: np.ndarray, boxes_xywh: np.ndarray, box_scores: np.ndarray
    ) -> PoseResult:
        """Poses for the boxes of one image; N = 0 boxes gives an empty PoseResult.

        Crops are cut on the host or on the device as ``crops_on`` chose (see the class).
        """
        if not self.crops_on_device:
            return self.pose_crops(self.prepare(image_rgb, boxes_xywh), box_scores)
        image_rgb = _check_image(image_rgb)
        centers, sizes = self._regions(boxes_xywh)
        inverse = crop_inverse_transforms(centers, sizes, 0.0, self.input_size)
        with self._stream, torch.no_grad():
            crops = warp_crops(self._uploader(image_rgb), inverse, self.input_size)
            return self.decode(self._forward(crops), centers, sizes, box_scores)


def _check_image(image_rgb: np.ndarray) -> np.ndarray:
    image_rgb = np.asarray(image_rgb)
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise ValueError(
            f"image must be (H, W, 3) uint8 RGB, got shape {image_rgb.shape} {image_rgb.dtype}"
        )
    return image_rgb


def _check_boxes(boxes_xywh: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes_xywh, dtype=np.float64)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be (N, 4) x, y, w, h, got shape {boxes.shape}")
    return boxes
