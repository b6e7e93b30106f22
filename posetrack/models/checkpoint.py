"""Load HRNet weights from the official repository's or mmpose's checkpoint files.

Accepted layouts (all read with ``torch.load(weights_only=True)``):

- official ``pose_hrnet_w32_256x192.pth``: a bare state dict with the keys of
  ``PoseHighResolutionNet`` (``conv1.weight`` ... ``final_layer.bias``);
- a state dict wrapped in ``{"state_dict": ...}`` or ``{"model": ...}``, with or
  without the ``module.`` prefix that ``DataParallel``/DDP adds;
- mmpose 0.x (``backbone.*`` + ``keypoint_head.final_layer.*``) and mmpose 1.x
  (``backbone.*`` + ``head.final_layer.*``) checkpoints.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from posetrack.errors import PosetrackError

logger = logging.getLogger(__name__)

__all__ = ["CheckpointError", "LoadReport", "load_checkpoint", "read_checkpoint_object", "read_state_dict"]

# Wrapper keys under which training scripts nest the model's state dict.
_WRAPPER_KEYS = ("state_dict", "model")
# mmpose prefixes -> official names. 0.x TopDown and 1.x TopdownPoseEstimator.
_MMPOSE_PREFIXES = {
    "backbone.": "",
    "keypoint_head.final_layer.": "final_layer.",
    "head.final_layer.": "final_layer.",
}
# mmengine's data preprocessor keeps mean/std buffers; they are inputs settings, not weights.
_MMPOSE_IGNORED = ("data_preprocessor.",)
_MAX_LISTED = 10


class CheckpointError(PosetrackError, ValueError):
    """A file is not a usable checkpoint for the given model (message names file and keys)."""


@dataclass(frozen=True)
class LoadReport:
    """What ``load_checkpoint`` did: source file, detected layout and key bookkeeping.

    ``missing_keys`` / ``unexpected_keys`` / ``mismatched_shapes`` are empty after a
    strict load; with ``strict=False`` they list what was left at its initial value
    (missing, mismatched) or ignored (unexpected).
    """

    path: Path
    layout: str  # "official" | "official-wrapped" | "mmpose-0.x" | "mmpose-1.x"
    loaded_keys: int
    missing_keys: tuple[str, ...] = ()
    unexpected_keys: tuple[str, ...] = ()
    mismatched_shapes: tuple[str, ...] = field(default=())  # "key: checkpoint (a, b) vs model (c, d)"

    @property
    def complete(self) -> bool:
        return not (self.missing_keys or self.unexpected_keys or self.mismatched_shapes)


def _numpy_safe_globals() -> list:
    """numpy objects that mmpose 1.x stores in ``meta.dataset_meta`` (sigmas, weights).

    They are plain arrays; allowing their reconstructors keeps ``weights_only=True``.
    Both module spellings are listed because numpy 2 renamed ``numpy.core``.
    """
    import numpy as np

    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
    safe: list = [np.ndarray, np.dtype]
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        safe += [(_reconstruct, f"{mod}._reconstruct"), (scalar, f"{mod}.scalar")]
    safe += [type(np.dtype(t)) for t in (np.float32, np.float64, np.int32, np.int64, np.bool_, np.uint8)]
    return safe


def read_checkpoint_object(path: str | os.PathLike) -> object:
    """``torch.load(path, weights_only=True)`` on CPU; an unreadable file raises ``CheckpointError`` naming it."""
    path = Path(path)
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint not found: {path}") from None
    except (PermissionError, IsADirectoryError):
        raise
    except pickle.UnpicklingError as exc:
        # weights_only refuses arbitrary objects; also raised for non-pickle bytes.
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({_first_line(exc)})") from exc
    except Exception as exc:  # noqa: BLE001 - torch.load on arbitrary bytes raises almost any type (a text file: KeyError)
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (corrupt, truncated or not a "
                              f"checkpoint: {type(exc).__name__}: {_first_line(exc)})") from exc


def _first_line(exc: BaseException, limit: int = 160) -> str:
    """The first line of an exception message, cut (torch's can run to paragraphs)."""
    lines = str(exc).strip().splitlines()
    return lines[0][:limit] if lines else type(exc).__name__


def _is_state_dict(obj: object) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    )


def read_state_dict(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], str]:
    """Read a checkpoint file into official key names.

    Returns ``(state_dict, layout)`` where layout is one of ``LoadReport.layout``.
    Raises ``CheckpointError`` naming the file when it holds no model state dict.
    """
    path = Path(path)
    obj = read_checkpoint_object(path)
    layout = "official"
    if not _is_state_dict(obj) and isinstance(obj, Mapping):
        for key in _WRAPPER_KEYS:
            if _is_state_dict(obj.get(key)):
                obj, layout = obj[key], "official-wrapped"
                break
    if not _is_state_dict(obj):
        what = f"a mapping with keys {sorted(map(str, obj))[:_MAX_LISTED]}" if isinstance(obj, Mapping) \
            else f"a {type(obj).__name__}"
        raise CheckpointError(
            f"{path}: no model state dict found (got {what}; expected tensors by name, "
            f"optionally under {' or '.join(repr(k) for k in _WRAPPER_KEYS)})"
        )
    state = dict(obj)
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    if any(k.startswith("backbone.") for k in state):
        layout = "mmpose-1.x" if any(k.startswith("head.") for k in state) else "mmpose-0.x"
        state = {_mmpose_to_official(k): v for k, v in state.items() if not k.startswith(_MMPOSE_IGNORED)}
    return state, layout


def _mmpose_to_official(key: str) -> str:
    for prefix, replacement in _MMPOSE_PREFIXES.items():
        if key.startswith(prefix):
            return replacement + key[len(prefix):]
    return key  # left as is; reported as unexpected if the model lacks it


def _listing(title: str, items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    more = f" ... and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return f"{title} ({len(items)}): {shown}{more}"


def _resolve(path_or_name: str | os.PathLike) -> Path:
    path = Path(path_or_name)
    if path.exists():
        return path
    from posetrack.models import weights  # late: weights imports this module's error type

    if isinstance(path_or_name, str) and path_or_name in weights.list_weights():
        return weights.get_weights(path_or_name).fetch()
    raise FileNotFoundError(
        f"checkpoint not found: {path} (not a file, nor a registered weights name: "
        f"{', '.join(weights.list_weights())})"
    )


def load_checkpoint(model: nn.Module, path_or_name: str | os.PathLike, strict: bool = True) -> LoadReport:
    """Load weights into ``model`` in place and report what was loaded.

    ``path_or_name``: a checkpoint file, or a registered pretrained name
    (``posetrack.models.weights.list_weights()``), fetched into the torch hub cache.
    ``strict=True`` (default) raises ``CheckpointError`` listing missing keys,
    unexpected keys and shape mismatches by name, and leaves ``model`` unchanged.
    ``strict=False`` loads the matching tensors and reports the rest.
    """
    path = _resolve(path_or_name)
    state, layout = read_state_dict(path)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items() if k in own and v.shape != own[k].shape
    ]
    if strict and (missing or unexpected or mismatched):
        parts = [
            _listing(title, items) for title, items in (
                ("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched),
            ) if items
        ]
        raise CheckpointError(f"{path} ({layout} layout) does not fit {type(model).__name__}: " + "; ".join(parts))
    usable = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
    model.load_state_dict(usable, strict=False)
    report = LoadReport(path, layout, len(usable), tuple(missing), tuple(unexpected), tuple(mismatched))
    if not report.complete:
        logger.warning("partial load from %s: %d missing, %d unexpected, %d mismatched keys",
                       path, len(missing), len(unexpected), len(mismatched))
    logger.info("loaded %d tensors from %s (%s layout)", len(usable), path, layout)
    return report
