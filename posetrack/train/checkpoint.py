"""Training checkpoints: everything needed to continue a run exactly, written atomically.

A checkpoint is a ``torch.save`` dict readable with ``weights_only=True``::

    state_dict   model weights, official key names (also loadable by
                 posetrack.models.load_checkpoint, e.g. for ``--init``/``--weights``)
    optimizer, scaler      their state dicts
    epoch        number of finished epochs (the epoch to start from)
    rng          python / numpy / torch (+ CUDA) generator states
    hooks        {hook name: hook.state_dict()} (LR schedule, best metric, log rows, ...)

The file appears only complete (temporary sibling + fsync + rename through
``posetrack.io.atomic``): a run killed while saving leaves the previous checkpoint.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from posetrack.io.atomic import atomic_path
from posetrack.models.checkpoint import CheckpointError, read_checkpoint_object

REQUIRED_KEYS = ("state_dict", "optimizer", "scaler", "epoch", "rng", "hooks")


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside DistributedDataParallel (official key names, no ``module.``)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def capture_rng_state() -> dict[str, Any]:
    """Generator states as plain types and tensors (so ``weights_only`` loading works)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (the old file survives any failure)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def save_weights(path: str | Path, model: nn.Module) -> None:
    """The bare model state dict (the official ``model_best.pth`` / ``final_state.pth`` layout)."""
    save_checkpoint(path, unwrap(model).state_dict())


def load_checkpoint_file(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint for ``--resume``; clear errors name the file.

    Raises FileNotFoundError if absent, CheckpointError (a ValueError) if the file is
    corrupt/truncated or is not a training checkpoint (e.g. a bare weights file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint to resume from not found: {path}")
    state = read_checkpoint_object(path)
    missing = [k for k in REQUIRED_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise CheckpointError(
            f"{path}: not a training checkpoint (missing {', '.join(missing)}); "
            "to start from model weights use --init instead of --resume"
        )
    return state
