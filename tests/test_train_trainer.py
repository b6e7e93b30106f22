"""Trainer, checkpoints and resume: exact continuation, atomic saves, clear errors."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import pytest
import torch

from posetrack.config import load_config
from posetrack.experiment import Experiment
from posetrack.models import build_model
from posetrack.models.checkpoint import CheckpointError
from posetrack.train import checkpoint as ckpt_mod
from posetrack.train.builder import build_trainer, check_evaluation
from posetrack.train.hooks import LRSchedulerHook
from posetrack.train.checkpoint import load_checkpoint_file, save_checkpoint
from posetrack.train.trainer import HookBase


def tiny(coco_sample: Path, *extra: str) -> Experiment:
    """A narrow HRNet on 32x32 crops of the real COCO sample: 12 people, 2 steps per epoch."""
    d = coco_sample
    return load_config(Experiment, None, [
        "model.width=8", "data.input_size=[32,32]", "data.heatmap_size=[8,8]", "data.sigma=1",
        f"train.train_set={{format: coco, ann: {d}/test_coco.json, images: {d}}}",
        "train.batch_size=6", "train.workers=0", "train.epochs=3", "train.lr_steps=[2]", *extra,
    ])


class Collect(HookBase):
    def __init__(self, stop_at: tuple[int, int] | None = None) -> None:
        self.losses, self.lrs, self.stop_at = [], [], stop_at

    def after_step(self) -> None:
        t = self.trainer
        self.losses.append(t.storage["loss"])
        self.lrs.append(t.storage["lr"])
        if (t.epoch, t.step_in_epoch) == self.stop_at:
            raise KeyboardInterrupt  # a run killed in the middle of epoch 1


def _run(exp, out, **kwargs) -> Collect:
    trainer = build_trainer(exp, out_dir=out, device=torch.device("cpu"), progress=False, tensorboard=False, **kwargs)
    collect = Collect()
    trainer.register_hooks([collect])
    return trainer, collect


def _losses_in_csv(path: Path) -> list[float]:
    with open(path, newline="") as fh:
        return [float(r["loss"]) for r in csv.DictReader(fh)]


def test_resume_continues_exactly(tmp_path, coco_sample):
    exp = tiny(coco_sample)
    full, full_log = _run(exp, tmp_path / "full")
    full.train()
    assert len(full_log.losses) == 6
    assert full_log.lrs == [1e-3, 1e-3, 1e-4, 1e-4, 1e-4, 1e-4]  # milestone 2: x0.1 from epoch index 1 (official)

    killed, killed_log = _run(exp, tmp_path / "run")
    killed_log.stop_at = (1, 1)
    with pytest.raises(KeyboardInterrupt):
        killed.train()
    assert killed_log.losses == full_log.losses[:3]

    # resume from the epoch-0 checkpoint, now with 2 loader workers: same samples, same losses
    exp_workers = tiny(coco_sample, "train.workers=2")
    resumed, resumed_log = _run(exp_workers, tmp_path / "run", resume=tmp_path / "run" / "checkpoint.pth")
    assert resumed.start_epoch == 1 and resumed.iter == 2
    resumed.train()
    assert resumed_log.losses == full_log.losses[2:]
    # logs of the interrupted epoch were cut back: the CSVs equal the uninterrupted run's
    assert _losses_in_csv(tmp_path / "run" / "train_log.csv") == _losses_in_csv(tmp_path / "full" / "train_log.csv")
    assert _losses_in_csv(tmp_path / "run" / "epoch_log.csv") == _losses_in_csv(tmp_path / "full" / "epoch_log.csv")
    for a, b in zip(resumed.model.state_dict().values(), full.model.state_dict().values()):
        assert torch.equal(a, b)
    # official-layout outputs: final weights load into a fresh model
    from posetrack.models import load_checkpoint

    report = load_checkpoint(build_model("hrnet_w8"), tmp_path / "run" / "final_state.pth")
    assert report.complete and report.layout == "official"


def test_fresh_run_refuses_existing_checkpoint(tmp_path, coco_sample):
    exp = tiny(coco_sample, "train.epochs=1")
    trainer, _ = _run(exp, tmp_path)
    trainer.train()
    with pytest.raises(ValueError, match="checkpoint.pth exists: pass --resume"):
        _run(exp, tmp_path)


def test_killed_save_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pth"
    save_checkpoint(path, {"epoch": 1, "w": torch.arange(3)})

    def dying_save(obj, f):
        Path(f).write_bytes(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt  # killed mid-save

    monkeypatch.setattr(ckpt_mod.torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pth"]  # no temporary left


def test_corrupt_or_wrong_checkpoint_errors(tmp_path):
    good = tmp_path / "good.pth"
    save_checkpoint(good, {"state_dict": {}, "optimizer": {}, "scaler": {}, "epoch": 1, "rng": {}, "hooks": {}})
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"truncated\.pth: not a readable PyTorch checkpoint"):
        load_checkpoint_file(truncated)
    weights_only = tmp_path / "weights.pth"
    torch.save(build_model("hrnet_w8").state_dict(), weights_only)
    with pytest.raises(CheckpointError, match=r"weights\.pth: not a training checkpoint .*use --init"):
        load_checkpoint_file(weights_only)
    with pytest.raises(FileNotFoundError, match="nothere.pth"):
        load_checkpoint_file(tmp_path / "nothere.pth")


def test_non_finite_loss_raises_with_iteration(tmp_path, coco_sample):
    trainer, _ = _run(tiny(coco_sample, "train.epochs=1"), tmp_path)
    with torch.no_grad():
        trainer.model.final_layer.bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="loss became nan at epoch 0, iteration 0"):
        trainer.train()


@pytest.mark.parametrize("milestones, drops", [((170, 200), [169, 199]), ((10, 15), [9, 14])])
def test_lr_drops_one_epoch_before_milestone_as_official(milestones, drops):
    # official tools/train.py steps the scheduler at the start of each epoch
    optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1.0)
    hook = LRSchedulerHook(torch.optim.lr_scheduler.MultiStepLR(optimizer, list(milestones), 0.1))
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "lr_scheduler.step() before optimizer.step()" noise
        for _ in range(milestones[-1] + 5):
            hook.before_epoch()
            lrs.append(optimizer.param_groups[0]["lr"])
    assert [e for e in range(1, len(lrs)) if lrs[e] != lrs[e - 1]] == drops
    assert lrs[0] == 1.0 and lrs[-1] == pytest.approx(0.01)


def test_bad_eval_metric_fails_before_any_data_is_read(tmp_path, coco_sample):
    coco_val = f"train.val_set={{format: coco, ann: {coco_sample}/test_coco.json, images: {coco_sample}}}"
    exp = tiny(tmp_path / "missing", coco_val, "train.eval_metric=mAP")  # the train set does not exist either
    with pytest.raises(ValueError, match=r"train.eval_metric 'mAP' is not a result of the coco evaluation.*'AP \(M\)'"):
        build_trainer(exp, out_dir=tmp_path / "out", device=torch.device("cpu"), progress=False)
    assert not (tmp_path / "out").exists()
    poseval = f"train.val_set={{format: posetrack, ann: {tmp_path}, images: {tmp_path}}}"  # a folder: poseval mAP
    check_evaluation(tiny(coco_sample, poseval, "train.eval_metric=AP Ankle").train)
    with pytest.raises(ValueError, match=r"'AP Ankl' is not a result of the posetrack evaluation.*'AP Ankle'"):
        check_evaluation(tiny(coco_sample, poseval, "train.eval_metric=AP Ankl").train)
