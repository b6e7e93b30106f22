"""Offline person detector: OpenCV's HOG + linear SVM people detector (Dalal & Triggs 2005).

It needs no weights file (the SVM ships inside OpenCV 4.x), so it is the fallback when the
torchvision Faster R-CNN weights cannot be had. ``HOGPersonDetector()(image)`` returns the
people of one frame as ``(boxes_xywh (N, 4) float32, scores (N,) float32)`` in image px.

Limits (state them to users; flow propagation and tracking have to bridge the misses):
- upright, mostly unoccluded pedestrians only; sitting, lying, crouching, strongly
  occluded or cut-off people are usually missed, and poles/trees give false positives;
- a person must be at least ~96 px tall *at the detection scale* (the 64x128 window holds
  a ~96 px person), so frames lower than ``min_height`` px are upscaled first, which
  costs time quadratically (never past a 3072 px long side; frames smaller than the
  window are padded to it); people much larger than the frame's window pyramid are fine;
- one frame per call on the CPU, no batching; about 0.2 s for 768x576 at scale 1.0 and
  0.75 s at 1.5x upscaling on one core here.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

logger = logging.getLogger(__name__)

# The detector's 64x128 window holds a person with a 16 px margin on every side
# (INRIA training crops), i.e. the person is the window's central 32x96 px. Boxes
# are returned as that inner region, so that they frame a person like a COCO box.
_PERSON_IN_WINDOW = np.array([16 / 64, 16 / 128, 32 / 64, 96 / 128], np.float32)  # x, y, w, h fractions
_WINDOW_WH = (64, 128)  # OpenCV's HOG crashes the process (signal 11) on a smaller image: pad up to it
# Upscaling never makes the long side longer than this (twice a 16:9 frame's 1536 at 864 px, so no
# usual frame is affected): a 4000x40 strip would otherwise become 86400x864 (2.5 GB, 15 s).
_MAX_UPSCALED_SIDE = 3072


class HOGPersonDetector:
    """Person boxes from OpenCV's default HOG people detector.

    Args:
        score_threshold: minimum SVM margin of a kept window (0 keeps every hit; ~1 trades
            recall for far fewer false positives).
        scale: image pyramid step between detection scales (smaller finds more sizes, slower).
        win_stride: window step in px at each scale (smaller: more hits, slower).
        nms_threshold: IoU above which a lower-scored window is suppressed.
        min_height: frames lower than this many px are upscaled to it before detection,
            so that people down to ~96 * H / min_height px tall are found.
    """

    def __init__(
        self,
        score_threshold: float = 1.0,
        scale: float = 1.05,
        win_stride: int = 8,
        nms_threshold: float = 0.4,
        min_height: int = 864,
    ):
        if scale <= 1.0:
            raise ValueError(f"scale must be > 1 (pyramid step), got {scale}")
        if win_stride < 1 or min_height < 1:
            raise ValueError(f"win_stride and min_height must be positive, got {win_stride}, {min_height}")
        self.score_threshold = score_threshold
        self.scale = scale
        self.win_stride = win_stride
        self.nms_threshold = nms_threshold
        self.min_height = min_height
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def __repr__(self) -> str:
        return (
            f"HOGPersonDetector(score_threshold={self.score_threshold}, scale={self.scale}, "
            f"win_stride={self.win_stride}, nms_threshold={self.nms_threshold}, min_height={self.min_height})"
        )

    def __call__(self, image_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Detect people in one (H, W, 3) uint8 RGB frame.

        Returns ``boxes`` (N, 4) float32 x, y, w, h in image px of ``image_rgb`` and
        ``scores`` (N,) float32 SVM margins, sorted by descending score.
        """
        image = np.asarray(image_rgb)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
        empty = np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        h, w = image.shape[:2]
        factor = max(1.0, min(self.min_height / h, _MAX_UPSCALED_SIDE / max(h, w)))
        if factor > 1.0:
            image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
        pad_w, pad_h = max(0, _WINDOW_WH[0] - image.shape[1]), max(0, _WINDOW_WH[1] - image.shape[0])
        if pad_w or pad_h:  # bottom and right: box coordinates stay those of the frame
            image = cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        # HOG gradients take the max over channels, so RGB and BGR give the same result.
        windows, weights = self._hog.detectMultiScale(
            image,
            hitThreshold=0.0,
            winStride=(self.win_stride, self.win_stride),
            padding=(8, 8),
            scale=self.scale,
            groupThreshold=0,  # raw windows: our score-aware NMS below replaces OpenCV's grouping
        )
        if len(windows) == 0:
            return empty
        windows = np.asarray(windows, np.float32).reshape(-1, 4) / factor
        scores = np.asarray(weights, np.float32).reshape(-1)
        keep = cv2.dnn.NMSBoxes(windows.tolist(), scores.tolist(), self.score_threshold, self.nms_threshold)
        keep = np.asarray(keep, np.int64).reshape(-1)
        if len(keep) == 0:
            return empty
        keep = keep[np.argsort(-scores[keep], kind="stable")]
        windows, scores = windows[keep], scores[keep]
        wh = windows[:, 2:4]
        boxes = np.concatenate(
            [windows[:, :2] + wh * _PERSON_IN_WINDOW[:2], wh * _PERSON_IN_WINDOW[2:]], axis=1
        ).astype(np.float32)
        logger.debug("HOG: %d windows -> %d people", len(weights), len(boxes))
        return boxes, scores
