"""Pretrained HRNet weights: one record per file, fetched into the torch hub cache.

The original HRNet repository publishes its checkpoints on Google Drive / OneDrive,
which cannot be fetched by a script; those files load with ``--weights PATH``
(``load_checkpoint`` reads the official layout). The registry below points at
OpenMMLab's mirror of HRNet models trained with the official recipe (mmpose 0.x
model zoo, files in mmpose layout). As in ``torch.hub``, the 8 hex characters in a
file name are the start of its SHA-256, which is checked after every download.

Where a file comes from, in order: an explicit ``path``; ``$POSETRACK_WEIGHTS_DIR/<file>``;
the cache ``torch.hub.get_dir()/checkpoints/<file>``; otherwise it is downloaded there.
A *bundled* record (``hrnet_w16_demo_128x96``, the offline fallback) has no URL: its file
ships inside the package (``posetrack/models/assets/``) and is never downloaded.

A record also carries what inference needs (as torchvision's weights carry their transforms):
the architecture, input size, joint set (order and flip pairs) and input normalisation.
``resolve_weights`` gives the record of a registered name, or of a checkpoint file (what the
caller says, else guessed from an official-style file name).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from posetrack.errors import InputError, InputNotFoundError, PosetrackError
from posetrack.io.atomic import atomic_path
from posetrack.resources import package_path

if TYPE_CHECKING:
    from torch import nn

logger = logging.getLogger(__name__)

__all__ = ["Weights", "WeightsError", "WeightsUnavailableError", "get_weights", "list_weights", "resolve_weights",
           "WEIGHTS_DIR_ENV", "DEMO_WEIGHTS", "IMAGENET_MEAN", "IMAGENET_STD"]

WEIGHTS_DIR_ENV = "POSETRACK_WEIGHTS_DIR"
_CHUNK = 1 << 20
_MMPOSE_URL = "https://download.openmmlab.com/mmpose/top_down/hrnet/"
_MMPOSE_SOURCE = "mmpose 0.x model zoo (OpenMMLab), configs/body/2d_kpt_sview_rgb_img/topdown_heatmap"
_PACKAGE_DIR = package_path()  # posetrack/ as installed (importlib.resources): bundled files are relative to it
DEMO_WEIGHTS = "hrnet_w16_demo_128x96"
# torchvision ImageNet statistics, RGB, as the official transforms.Normalize: every record's default.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class WeightsError(PosetrackError, RuntimeError):
    """A pretrained file could not be obtained or failed its hash check."""


class WeightsUnavailableError(WeightsError):
    """The download could not reach its URL (offline, DNS, HTTP error): callers may fall back."""


@dataclass(frozen=True)
class Weights:
    """One pretrained checkpoint and what it needs at inference time.

    ``sha256`` is the full hex digest or its published prefix (at least 8 chars); a
    bundled record may leave it empty (the wheel's RECORD already hashes its files).
    ``input_size`` is (width, height) of the network input crop in pixels.
    ``metrics`` are the publisher's numbers (not measured here).
    ``bundled``: path of a file shipped inside the package, relative to ``posetrack/``;
    set instead of ``url`` for weights that are never downloaded. ``file``: a checkpoint
    outside the registry (``resolve_weights`` of a path), set instead of both. A record with
    none of the three describes a network held in memory (one being trained): it has nothing to fetch.
    ``keypoints``: the joint set of the heatmaps (``posetrack.pose.keypoints.KEYPOINT_SETS``:
    joint order and flip pairs); ``mean`` / ``std``: the RGB normalisation of 0..1 input crops.
    """

    name: str
    url: str
    sha256: str
    arch: str  # name for posetrack.models.build_model
    num_joints: int
    input_size: tuple[int, int]
    dataset: str
    metrics: Mapping[str, float] = field(default_factory=dict)
    source: str = ""
    license: str = ""
    bundled: str = ""
    file: str = ""
    keypoints: str = "coco"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        from posetrack.pose.keypoints import KEYPOINT_SETS

        if sum(map(bool, (self.url, self.bundled, self.file))) > 1:
            raise ValueError(f"weights {self.name!r}: set at most one of url, bundled and file")
        if self.keypoints not in KEYPOINT_SETS:
            raise ValueError(f"weights {self.name!r}: keypoints must be one of {sorted(KEYPOINT_SETS)}, "
                             f"got {self.keypoints!r}")
        hex_ok = len(self.sha256) >= 8 and all(c in "0123456789abcdef" for c in self.sha256)
        if (self.sha256 or self.url) and not hex_ok:
            raise ValueError(f"weights {self.name!r}: sha256 must be >= 8 lowercase hex chars, got {self.sha256!r}")

    @property
    def filename(self) -> str:
        return (self.url or self.bundled or self.file).rstrip("/").rsplit("/", 1)[-1]

    @property
    def flip_pairs(self) -> tuple[tuple[int, int], ...]:
        """Left/right heatmap channel pairs of ``keypoints`` (for the flip test)."""
        from posetrack.pose.keypoints import KEYPOINT_SETS

        return KEYPOINT_SETS[self.keypoints][1]

    def load_model(self, path: str | os.PathLike | None = None) -> "nn.Module":
        """The network of this record (``arch``, ``num_joints``) with its weights loaded (``fetch(path)``)."""
        from posetrack.models import build_model, load_checkpoint

        model = build_model(self.arch, num_joints=self.num_joints)
        load_checkpoint(model, self.fetch(path))
        return model

    def bundled_path(self) -> Path:
        """Where a bundled record's file lies in the installed package (``posetrack/<bundled>``)."""
        return _PACKAGE_DIR / self.bundled

    def cache_path(self, cache_dir: str | os.PathLike | None = None) -> Path:
        if cache_dir is None:
            import torch.hub

            cache_dir = Path(torch.hub.get_dir()) / "checkpoints"
        return Path(cache_dir) / self.filename

    def fetch(self, path: str | os.PathLike | None = None, *, cache_dir: str | os.PathLike | None = None,
              progress: bool = True, timeout: float = 30.0) -> Path:
        """Return a local file with these weights, downloading it into the cache if needed.

        ``path`` (or ``$POSETRACK_WEIGHTS_DIR/<filename>``) overrides the cache and is
        hash-checked. A cache hit is trusted: files only land there after the check.
        """
        if path is not None or self.file:
            return self._checked(Path(path or self.file))
        if not (self.url or self.bundled):
            raise WeightsError(f"weights {self.name!r} describe a network in memory: there is no file to fetch")
        env_dir = os.environ.get(WEIGHTS_DIR_ENV)
        if env_dir and (Path(env_dir) / self.filename).is_file():
            return self._checked(Path(env_dir) / self.filename)
        if self.bundled:
            if not self.bundled_path().is_file():
                raise WeightsError(
                    f"the bundled weights {self.name!r} are missing from the installed package "
                    f"({self.bundled_path()}); reinstall posetrack, or pass --weights NAME|PATH"
                )
            return self._checked(self.bundled_path())
        target = self.cache_path(cache_dir)
        if target.is_file():
            logger.debug("weights %s: cache hit %s", self.name, target)
            return target
        self._download(target, progress=progress, timeout=timeout)
        return target

    def _checked(self, path: Path) -> Path:
        if not path.is_file():
            raise FileNotFoundError(f"weights file for {self.name!r} not found: {path}")
        if not self.sha256:
            return path
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
        self._verify(digest.hexdigest(), path)
        return path

    def _verify(self, digest: str, source: object) -> None:
        if not digest.startswith(self.sha256):
            raise WeightsError(
                f"{source}: SHA-256 {digest} does not match {self.name!r} (expected prefix {self.sha256}); "
                "the file is corrupt, incomplete or a different checkpoint"
            )

    def _download(self, target: Path, *, progress: bool, timeout: float) -> None:
        from tqdm import tqdm

        target.parent.mkdir(parents=True, exist_ok=True)
        logger.info("downloading %s to %s", self.url, target)
        try:
            response = urllib.request.urlopen(self.url, timeout=timeout)  # noqa: S310 (https/file URLs from records)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise WeightsUnavailableError(
                f"could not download {self.url} ({reason}). Offline? Fetch that file elsewhere and put it at "
                f"{target}, or put it in ${WEIGHTS_DIR_ENV}/, or pass its path (--weights PATH)"
            ) from exc
        digest = hashlib.sha256()
        with response, atomic_path(target) as tmp, open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=self.filename,
                      disable=not progress) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            out.flush()
            # Raising here makes atomic_path delete the temporary file: nothing lands in the cache.
            self._verify(digest.hexdigest(), self.url)


def _mmpose(name: str, file: str, arch: str, input_size: tuple[int, int], dataset: str,
            metrics: Mapping[str, float]) -> Weights:
    return Weights(
        name=name, url=_MMPOSE_URL + file, sha256=file.rsplit("-", 1)[1].split("_", 1)[0], arch=arch,
        num_joints=17, input_size=input_size, dataset=dataset, metrics=metrics,
        source=_MMPOSE_SOURCE, license="Apache-2.0 (mmpose)",
        keypoints="posetrack18" if dataset == "posetrack18" else "coco",  # mmpose's PoseTrack18 joint order
    )


_W_256 = (192, 256)
_W_384 = (288, 384)
# COCO: AP on val2017 with person-detector boxes (detector AP 56.4), as published by mmpose.
# PoseTrack18: total mAP on val with GT boxes / with Cascade R-CNN boxes; fine-tuned from COCO.
_REGISTRY: dict[str, Weights] = {w.name: w for w in (
    _mmpose("hrnet_w32_coco_256x192", "hrnet_w32_coco_256x192-c78dce93_20200708.pth", "hrnet_w32", _W_256,
            "coco", {"coco/AP": 74.6, "coco/AR": 79.9}),
    _mmpose("hrnet_w32_coco_384x288", "hrnet_w32_coco_384x288-d9f0d786_20200708.pth", "hrnet_w32", _W_384,
            "coco", {"coco/AP": 76.0, "coco/AR": 81.0}),
    _mmpose("hrnet_w48_coco_256x192", "hrnet_w48_coco_256x192-b9e0b3ab_20200708.pth", "hrnet_w48", _W_256,
            "coco", {"coco/AP": 75.6, "coco/AR": 80.6}),
    _mmpose("hrnet_w48_coco_384x288", "hrnet_w48_coco_384x288-314c8528_20200708.pth", "hrnet_w48", _W_384,
            "coco", {"coco/AP": 76.7, "coco/AR": 81.6}),
    _mmpose("hrnet_w32_posetrack18_256x192", "hrnet_w32_posetrack18_256x192-1ee951c4_20201028.pth", "hrnet_w32",
            _W_256, "posetrack18", {"posetrack18/mAP_gt_boxes": 83.0, "posetrack18/mAP_det_boxes": 76.9}),
    _mmpose("hrnet_w32_posetrack18_384x288", "hrnet_w32_posetrack18_384x288-806f00a3_20211130.pth", "hrnet_w32",
            _W_384, "posetrack18", {"posetrack18/mAP_gt_boxes": 83.6, "posetrack18/mAP_det_boxes": 77.3}),
    _mmpose("hrnet_w48_posetrack18_256x192", "hrnet_w48_posetrack18_256x192-b5d9b3f1_20211130.pth", "hrnet_w48",
            _W_256, "posetrack18", {"posetrack18/mAP_gt_boxes": 84.4, "posetrack18/mAP_det_boxes": 77.4}),
    _mmpose("hrnet_w48_posetrack18_384x288", "hrnet_w48_posetrack18_384x288-5fd6d3ff_20211130.pth", "hrnet_w48",
            _W_384, "posetrack18", {"posetrack18/mAP_gt_boxes": 84.5, "posetrack18/mAP_det_boxes": 77.8}),
    # The offline fallback of `posetrack track`: trained here, small, no download. COCO-17 joint
    # order; labels came from a teacher model, not from COCO annotators (see MODEL_CARD.md).
    Weights(name=DEMO_WEIGHTS, url="", sha256="c195cab154e9f1aa221b416b69895e4a8568621a1ea600730af4eb8bce6d06d8",
            arch="hrnet_w16", num_joints=17, input_size=(96, 128), dataset="blazepose-pseudo-coco17",
            # OKS-AP against the BlazePose teacher on the 543 held-out vtest.avi people (GT boxes, flip).
            metrics={"teacher_val_AP": 51.7, "teacher_val_AP50": 93.2},
            source="distilled here from MediaPipe BlazePose pseudo-labels on the sample videos; "
                   "posetrack/models/assets/MODEL_CARD.md",
            license="see MODEL_CARD.md", bundled="models/assets/hrnet_w16_demo_128x96.pth"),
)}


def list_weights() -> list[str]:
    return sorted(_REGISTRY)


def get_weights(name: str) -> Weights:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown weights {name!r}; known: {', '.join(list_weights())}") from None


def resolve_weights(name_or_path: str | os.PathLike, *, arch: str | None = None,
                    input_size: tuple[int, int] | None = None, keypoints: str | None = None,
                    num_joints: int | None = None) -> Weights:
    """The record of a registered weights name, or of a checkpoint file.

    A registered record is what its file holds: each value given (``arch``, ``input_size``
    (width, height), ``keypoints``, ``num_joints``) must equal the record's, else ``InputError``
    (a ValueError) naming both. For a file the values given are taken; an unset arch and input size come
    from an official-style file name (``pose_hrnet_w48_384x288.pth``: hrnet_w48, height 384 x
    width 288), else hrnet_w32 at 192x256, with a warning (a wrong input size still loads but
    gives poor poses); joints default to 17 COCO ones. Neither a name nor a file:
    ``InputNotFoundError``.
    """
    name = os.fspath(name_or_path)
    if name in _REGISTRY:
        record = _REGISTRY[name]
        given = {"arch": arch, "input_size": None if input_size is None else tuple(input_size),
                 "keypoints": keypoints, "num_joints": num_joints}
        wrong = {k: v for k, v in given.items() if v is not None and v != getattr(record, k)}
        if wrong:
            show = {**wrong, **({"input_size": "x".join(map(str, input_size))} if "input_size" in wrong else {})}
            raise InputError(f"weights {name} are {record.arch} {record.input_size[0]}x{record.input_size[1]} "
                             f"(width x height), {record.num_joints} {record.keypoints} joints; asked for "
                             + ", ".join(f"{k} {v}" for k, v in show.items()))
        return record
    if not Path(name).is_file():
        raise InputNotFoundError(
            f"pose weights not found: {name} (not a file, nor a registered name: {', '.join(list_weights())})"
        )
    arch, input_size = _file_model(name, arch, input_size)
    return Weights(name=name, url="", sha256="", arch=arch, num_joints=num_joints or 17, input_size=tuple(input_size),
                   dataset="", file=name, keypoints=keypoints or "coco")


def _file_model(path: str, arch: str | None, input_size: tuple[int, int] | None) -> tuple[str, tuple[int, int]]:
    """Arch and (width, height) for a weights file: as given, else from an official-style file name
    (``pose_hrnet_w48_384x288.pth``: hrnet_w48, height 384 x width 288), else hrnet_w32 at 192x256.

    A wrong input size still loads (no shape in the weights) but gives poor poses: say what was assumed.
    """
    from posetrack.models import list_models

    stem = Path(path).stem.lower()
    found_arch = re.search(r"hrnet_(w\d+)", stem)
    found_size = re.search(r"_(\d+)x(\d+)", stem)
    guessed = []
    if arch is None:
        name = f"hrnet_{found_arch.group(1)}" if found_arch else None
        arch = name if name in list_models() else "hrnet_w32"
        guessed.append(f"arch {arch}" + (" (from the file name)" if name == arch else " (default)"))
    if input_size is None:
        input_size = (int(found_size.group(2)), int(found_size.group(1))) if found_size else (192, 256)
        guessed.append(f"input {input_size[0]}x{input_size[1]} (width x height, "
                       + ("from the file name's HxW)" if found_size else "default)"))
    if guessed:
        logger.warning("pose weights %s: assuming %s; if wrong, pass --model ARCH (e.g. hrnet_w48) and/or "
                       "--set pose.input_size=[W,H] (e.g. [288,384]); in Python arch= / input_size=",
                       path, ", ".join(guessed))
    return arch, input_size
