"""The training loop: a short ``run_step`` and hooks for everything else.

Call order (each hook sees ``self.trainer``)::

    before_train
    for epoch in [start_epoch, max_epochs):
        before_epoch
        for batch in loader:  before_step; run_step; after_step
        after_epoch
    after_train            (always, also after an exception)

Checkpointing, the LR schedule, evaluation, logging and timing are hooks
(``posetrack.train.hooks``); each hook's ``state_dict`` goes into the checkpoint,
which is what makes ``resume`` continue exactly.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
from torch import nn

from posetrack.train.checkpoint import capture_rng_state, load_checkpoint_file, restore_rng_state, unwrap

logger = logging.getLogger(__name__)


class HookBase:
    """A training-loop extension; override what you need."""

    trainer: "Trainer"

    @property
    def name(self) -> str:
        return type(self).__name__

    def before_train(self) -> None: ...
    def before_epoch(self) -> None: ...
    def before_step(self) -> None: ...
    def after_step(self) -> None: ...
    def after_epoch(self) -> None: ...
    def after_train(self) -> None: ...

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class Trainer:
    """Epoch-based heatmap training of a pose model.

    Args:
        model: (N, 3, h, w) -> heatmaps (N, K, h/4, w/4); already on ``device`` (and
            wrapped in DistributedDataParallel when distributed).
        criterion: (output, target, target_weight) -> scalar loss.
        optimizer: over ``model``'s parameters.
        loader: yields {"input", "target", "target_weight"} batches; its sampler
            (and dataset) get ``set_epoch(epoch)`` before every epoch.
        device: where batches go.
        max_epochs: train until this many epochs are done.
        amp: float16 autocast + GradScaler; only honoured on CUDA.
        grad_clip: clip the global gradient norm to this value (None: off).
        hooks: run in the given order at every call point.
        rank: process rank; hooks write files only on rank 0.
    """

    def __init__(self, model: nn.Module, criterion: nn.Module, optimizer: torch.optim.Optimizer,
                 loader: Iterable, *, device: torch.device, max_epochs: int, amp: bool = False,
                 grad_clip: float | None = None, hooks: Sequence[HookBase] = (), rank: int = 0) -> None:
        self.model, self.criterion, self.optimizer, self.loader = model, criterion, optimizer, loader
        self.device = torch.device(device)
        self.max_epochs = int(max_epochs)
        self.amp = bool(amp) and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp)
        self.grad_clip = grad_clip
        self.rank = rank
        self.hooks: list[HookBase] = []
        self.register_hooks(hooks)
        self.start_epoch = 0
        self.epoch = 0
        self.iter = 0  # optimizer steps done in total
        self.step_in_epoch = 0
        self.storage: dict[str, float] = {}  # latest values for hooks: loss, lr, data_time, ...

    def register_hooks(self, hooks: Sequence[HookBase]) -> None:
        names = [h.name for h in self.hooks] + [h.name for h in hooks]
        if len(set(names)) != len(names):
            raise ValueError(f"hook names must be unique (they key the checkpoint): {names}")
        for hook in hooks:
            hook.trainer = self
            self.hooks.append(hook)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def _call(self, method: str) -> None:
        for hook in self.hooks:
            getattr(hook, method)()

    def train(self) -> None:
        logger.info("training epochs %d..%d on %s", self.start_epoch, self.max_epochs - 1, self.device)
        self._call("before_train")
        try:
            for self.epoch in range(self.start_epoch, self.max_epochs):
                for obj in (getattr(self.loader, "sampler", None), getattr(self.loader, "dataset", None)):
                    if hasattr(obj, "set_epoch"):
                        obj.set_epoch(self.epoch)
                self.model.train()
                self._call("before_epoch")
                self.step_in_epoch = 0
                data_start = time.perf_counter()
                for batch in self.loader:
                    self.storage["data_time"] = time.perf_counter() - data_start
                    self._call("before_step")
                    self.run_step(batch)
                    self.iter += 1
                    self.step_in_epoch += 1
                    self._call("after_step")
                    data_start = time.perf_counter()
                self._call("after_epoch")
        finally:
            self._call("after_train")

    def run_step(self, batch: dict[str, torch.Tensor]) -> None:
        """One optimisation step on one batch; records ``loss`` and ``lr`` in ``storage``."""
        inputs = batch["input"].to(self.device, non_blocking=True)
        target = batch["target"].to(self.device, non_blocking=True)
        weight = batch["target_weight"].to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            output = self.model(inputs)
        loss = self.criterion(output.float(), target, weight)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at epoch {self.epoch}, iteration {self.iter}")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            self.storage["grad_norm"] = float(nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip))
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.storage["loss"] = loss.item()
        self.storage["lr"] = self.optimizer.param_groups[0]["lr"]
        self.storage["batch_size"] = inputs.shape[0]

    # --- checkpoint state -------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything to continue after the current epoch (call at an epoch boundary)."""
        return {
            "state_dict": unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch + 1,
            "iter": self.iter,
            "rng": capture_rng_state(),
            "hooks": {h.name: h.state_dict() for h in self.hooks},
        }

    def resume(self, path: str | Path) -> None:
        """Restore a checkpoint written by ``CheckpointHook``; training continues at its epoch."""
        state = load_checkpoint_file(path)
        try:
            unwrap(self.model).load_state_dict(state["state_dict"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise ValueError(f"{path}: checkpoint does not fit this model/optimizer: {exc}") from None
        if state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        for hook in self.hooks:
            hook.load_state_dict(state["hooks"].get(hook.name, {}))
        restore_rng_state(state["rng"])
        self.start_epoch = int(state["epoch"])
        self.iter = int(state.get("iter", 0))
        logger.info("resumed from %s at epoch %d (iteration %d)", path, self.start_epoch, self.iter)
