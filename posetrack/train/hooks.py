"""Training hooks: one job each, and a ``state_dict`` so a resumed run continues exactly.

Suggested order (``after_epoch`` runs in this order too): IterationTimer,
ProgressBar, EvalHook, MetricsWriter, LRSchedulerHook, CheckpointHook -- the
writer logs the evaluation of the epoch before the checkpoint records how many
rows the logs hold.
"""

from __future__ import annotations

import csv
import logging
import math
import time
import warnings
from pathlib import Path
from typing import Callable

import torch

from posetrack.io.atomic import atomic_path
from posetrack.train.checkpoint import save_checkpoint, save_weights, unwrap
from posetrack.train.trainer import HookBase

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pth"  # full training state, for --resume
BEST_FILE = "model_best.pth"  # bare state dict of the best evaluation (official name)
FINAL_FILE = "final_state.pth"  # bare state dict after the last epoch (official name)


class IterationTimer(HookBase):
    """Puts ``step_time`` (s, data loading excluded) and ``images_per_s`` in storage."""

    def before_step(self) -> None:
        self._start = time.perf_counter()

    def after_step(self) -> None:
        t = self.trainer
        if t.device.type == "cuda":
            torch.cuda.synchronize(t.device)
        t.storage["step_time"] = time.perf_counter() - self._start
        t.storage["images_per_s"] = t.storage.get("batch_size", 0) / max(t.storage["step_time"], 1e-9)


class LRSchedulerHook(HookBase):
    """Steps an epoch-based scheduler (e.g. MultiStepLR) at the START of every epoch.

    As the official HRNet tools/train.py (``lr_scheduler.step()`` first in the epoch loop, PyTorch
    >= 1.1 semantics): during epoch index ``e`` the scheduler has counted ``e + 1`` steps, so
    milestones [170, 200] lower the LR from epoch index 169 and 199 (fine-tune [10, 15]: 9 and 14).
    The checkpoint saved after epoch ``e`` holds that count, so ``--resume`` continues the schedule.
    """

    def __init__(self, scheduler: torch.optim.lr_scheduler.LRScheduler) -> None:
        self.scheduler = scheduler

    def before_epoch(self) -> None:
        with warnings.catch_warnings():
            # stepping before optimizer.step() is the official order, not a mistake
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
            self.scheduler.step()

    def state_dict(self) -> dict:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        if state:
            self.scheduler.load_state_dict(state)


class PreciseBN(HookBase):
    """Before each evaluation, recompute BatchNorm running statistics over ``num_batches``
    training batches (true averages, no gradient), as detectron2's PreciseBN.

    Not in the official recipe (off by default): BN running averages (momentum 0.1)
    trail the weights, which matters for short runs and fine-tunes evaluated early.
    Must run before ``EvalHook`` and with the same ``period``.
    """

    def __init__(self, num_batches: int, period: int) -> None:
        self.num_batches = num_batches
        self.period = period

    @torch.no_grad()
    def after_epoch(self) -> None:
        t = self.trainer
        if not ((t.epoch + 1) % self.period == 0 or t.epoch + 1 == t.max_epochs):
            return
        bns = [m for m in t.model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        momenta = [bn.momentum for bn in bns]
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the batches below
        t.model.train()
        done = 0
        while done < self.num_batches:
            for batch in t.loader:
                t.model(batch["input"].to(t.device))
                done += 1
                if done == self.num_batches:
                    break
        for bn, momentum in zip(bns, momenta):
            bn.momentum = momentum


class CheckpointHook(HookBase):
    """Every ``period`` epochs (and after the last) write ``out_dir/checkpoint.pth``
    atomically; after the last epoch also ``final_state.pth`` (bare weights)."""

    def __init__(self, out_dir: str | Path, period: int = 1) -> None:
        self.out_dir = Path(out_dir)
        self.period = period

    def after_epoch(self) -> None:
        t = self.trainer
        last = t.epoch + 1 == t.max_epochs
        if not t.is_main or not ((t.epoch + 1) % self.period == 0 or last):
            return
        save_checkpoint(self.out_dir / CHECKPOINT_FILE, t.state_dict())
        logger.info("epoch %d: saved %s", t.epoch, self.out_dir / CHECKPOINT_FILE)
        if last:
            save_weights(self.out_dir / FINAL_FILE, t.model)


class EvalHook(HookBase):
    """Every ``period`` epochs (and after the last) evaluate and keep the best weights.

    ``evaluate(model) -> {name: value}`` runs on rank 0 with the bare model; the
    results go to storage as ``eval/<name>``. When ``metric`` improves (higher is
    better), the weights are saved as ``out_dir/model_best.pth``. ``metric`` must be a
    result name: ``builder.check_evaluation`` checks that on every rank before training.
    """

    def __init__(self, evaluate: Callable[[torch.nn.Module], dict[str, float]], *, period: int,
                 metric: str, out_dir: str | Path) -> None:
        self.evaluate = evaluate
        self.period = period
        self.metric = metric
        self.out_dir = Path(out_dir)
        self.best = -math.inf
        self.best_epoch = -1
        self.history: list[dict] = []

    def after_epoch(self) -> None:
        t = self.trainer
        if not ((t.epoch + 1) % self.period == 0 or t.epoch + 1 == t.max_epochs):
            return
        if t.is_main:
            results = self.evaluate(unwrap(t.model))
            t.model.train()
            t.storage.update({f"eval/{k}": float(v) for k, v in results.items()})
            self.history.append({"epoch": t.epoch, **results})
            value = float(results[self.metric])
            logger.info("epoch %d: %s", t.epoch, ", ".join(f"{k} {v:.4f}" for k, v in results.items()))
            if value > self.best:
                self.best, self.best_epoch = value, t.epoch
                save_weights(self.out_dir / BEST_FILE, t.model)
                logger.info("epoch %d: new best %s %.4f -> %s", t.epoch, self.metric, value, BEST_FILE)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.barrier()

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "history": self.history}

    def load_state_dict(self, state: dict) -> None:
        self.best = state.get("best", -math.inf)
        self.best_epoch = state.get("best_epoch", -1)
        self.history = list(state.get("history", []))


class MetricsWriter(HookBase):
    """CSV logs in ``out_dir`` (+ TensorBoard in ``out_dir/tb`` if installed).

    ``train_log.csv``: one row per step (epoch, iter, loss, lr, data_time,
    step_time); ``epoch_log.csv``: one row per epoch (mean loss, lr, eval/*). On
    resume both files are cut back to the rows the checkpoint knew, so rows of an
    interrupted epoch are not duplicated.
    """

    STEP_FIELDS = ("epoch", "iter", "loss", "lr", "data_time", "step_time")

    def __init__(self, out_dir: str | Path, tensorboard: bool = True) -> None:
        self.out_dir = Path(out_dir)
        self.step_file = self.out_dir / "train_log.csv"
        self.epoch_file = self.out_dir / "epoch_log.csv"
        self.rows = {"step": 0, "epoch": 0}
        self.use_tensorboard = tensorboard
        self._tb = None
        self._losses: list[float] = []

    def before_train(self) -> None:
        t = self.trainer
        if not t.is_main:
            return
        for key, path in (("step", self.step_file), ("epoch", self.epoch_file)):
            _truncate_csv(path, self.rows[key])
        if self.use_tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                logger.info("tensorboard is not installed: CSV logs only")
            else:
                self._tb = SummaryWriter(str(self.out_dir / "tb"), purge_step=t.iter)

    def before_epoch(self) -> None:
        self._losses = []

    def after_step(self) -> None:
        t = self.trainer
        self._losses.append(t.storage["loss"])
        if not t.is_main:
            return
        row = {"epoch": t.epoch, "iter": t.iter, **{k: t.storage.get(k, "") for k in self.STEP_FIELDS[2:]}}
        self._append(self.step_file, self.STEP_FIELDS, row, "step")
        if self._tb is not None:
            self._tb.add_scalar("train/loss", t.storage["loss"], t.iter)
            self._tb.add_scalar("train/lr", t.storage["lr"], t.iter)

    def after_epoch(self) -> None:
        t = self.trainer
        if not t.is_main:
            return
        evals = {k: v for k, v in t.storage.items() if k.startswith("eval/")}
        row = {"epoch": t.epoch, "iter": t.iter, "loss": sum(self._losses) / max(len(self._losses), 1),
               "lr": t.storage.get("lr", ""), **evals}
        fields = tuple(row)
        self._append(self.epoch_file, fields, row, "epoch")
        for k, v in evals.items():
            t.storage.pop(k)
            if self._tb is not None:
                self._tb.add_scalar(k, v, t.iter)

    def after_train(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def _append(self, path: Path, fields: tuple[str, ...], row: dict, key: str) -> None:
        new = not path.exists() or path.stat().st_size == 0
        if not new:
            with open(path, newline="") as fh:
                header = next(csv.reader(fh), [])
            if tuple(header) != fields:  # e.g. eval columns appear: rewrite with the wider header
                _rewrite_with_fields(path, fields)
        with open(path, "a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields, restval="")
            if new:
                writer.writeheader()
            writer.writerow(row)
        self.rows[key] += 1

    def state_dict(self) -> dict:
        return dict(self.rows)

    def load_state_dict(self, state: dict) -> None:
        self.rows = {"step": int(state.get("step", 0)), "epoch": int(state.get("epoch", 0))}


def _read_rows(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _rewrite_with_fields(path: Path, fields: tuple[str, ...]) -> None:
    old_fields, rows = _read_rows(path)
    merged = list(old_fields) + [f for f in fields if f not in old_fields]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=merged, restval="")
        writer.writeheader()
        writer.writerows(rows)


def _truncate_csv(path: Path, rows: int) -> None:
    """Keep the header and the first ``rows`` data rows (drop those of an interrupted epoch)."""
    if not path.exists():
        return
    fields, data = _read_rows(path)
    if len(data) == rows:
        return
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(data[:rows])


class ProgressBar(HookBase):
    """A tqdm bar per epoch with the running loss (rank 0 only)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bar = None

    def before_epoch(self) -> None:
        t = self.trainer
        if self.enabled and t.is_main:
            from tqdm import tqdm

            self._bar = tqdm(total=len(t.loader), desc=f"epoch {t.epoch}", unit="step", leave=False)

    def after_step(self) -> None:
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(loss=f"{self.trainer.storage['loss']:.6f}", lr=f"{self.trainer.storage['lr']:.1e}")

    def after_epoch(self) -> None:
        self.after_train()

    def after_train(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
