"""The uniform training sample record every dataset reader produces.

A record is one annotated person: where the image is, the crop region around
the person and the joints, all in original image pixels. Readers
(``posetrack.data.datasets``) turn annotation files into records; the transform
pipeline (``posetrack.data.transforms``) turns a record into network inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from posetrack.errors import PosetrackError


class DatasetError(PosetrackError, ValueError):
    """An annotation file or the image it references cannot be used; names the file."""


@dataclass(frozen=True)
class PoseRecord:
    """One person in one image.

    ``center`` (2,) and ``box_size`` (2,) = (width, height) describe the region the
    crop covers, in image pixels (already padded and fitted to the input aspect,
    the same convention as ``posetrack.pose.decode_heatmaps``). ``joints`` (K, 3):
    x, y in image pixels and visibility in {0, 1} (COCO's v=1 "labelled but
    occluded" counts as visible, as in the official code).
    """

    image: Path
    center: np.ndarray
    box_size: np.ndarray
    joints: np.ndarray
    image_id: int = -1  # the annotation file's image id (COCO evaluation key)
    video_id: str = ""
    frame_id: int = -1
    track_id: int = -1
    area: float = 0.0  # segment/box area in image px^2 (COCO OKS normaliser)
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def num_visible(self) -> int:
        return int((self.joints[:, 2] > 0).sum())


def require_finite(values: np.ndarray, annotation_file: Path, where: str, name: str) -> None:
    """Raise naming ``name`` (the field, as printed) unless every value is finite.

    NaN or inf in an annotation would only surface mid-training, as an error naming neither."""
    if not np.all(np.isfinite(values)):
        raise DatasetError(f"{annotation_file}: {where}: {name} must hold finite numbers (found NaN or inf)")


def check_images_exist(records: list[PoseRecord], annotation_file: Path) -> None:
    """Fail at dataset build, naming the first missing image and how many are missing.

    One ``stat`` per distinct image: cheap compared with decoding them.
    """
    missing = sorted(str(p) for p in {r.image for r in records} if not p.is_file())
    if missing:
        raise DatasetError(
            f"{annotation_file}: {len(missing)} image(s) referenced by the annotations do not exist, "
            f"first: {missing[0]}"
        )
