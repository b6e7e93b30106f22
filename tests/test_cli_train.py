"""``posetrack train`` end to end: PoseTrack fine-tune smoke run from an official-format
checkpoint, resume, and the bad inputs (config typo, corrupt --init / --resume files)."""

from __future__ import annotations

import csv

import pytest
import torch

from posetrack.models import build_model
from cli_runner import cli_runner

CONFIG = "configs/posetrack/hrnet_w48_384x288_finetune.yaml"


@pytest.fixture
def run(monkeypatch, capsys):
    return cli_runner(monkeypatch, capsys, "train")


def smoke_args(pt18, *extra):
    """The fine-tune recipe on the PoseTrack 18 sample, narrowed for a CPU smoke run."""
    sets = [
        "model.width=8", "data.input_size=[64,96]", "data.heatmap_size=[16,24]", "data.sigma=2",
        f"train.train_set={{format: posetrack, ann: {pt18}/annotations/val, images: {pt18}}}",
        f"train.val_set={{format: posetrack, ann: {pt18}/annotations/val, images: {pt18}}}",  # poseval mAP
        "train.epochs=2", "train.batch_size=7", "train.workers=0", "test.flip_test=false", *extra,
    ]
    return ["train", "--config", CONFIG, "--no-progress", *[a for s in sets for a in ("--set", s)]]


@pytest.mark.parametrize("command", ["train", "test"])
def test_set_takes_several_pairs_and_repeats(command):
    from posetrack.cli import build_parser

    required = {"train": [], "test": ["--weights", "w.pth", "--ann", "a.json", "--images", "i", "--gt-boxes"]}
    args = build_parser().parse_args([command, "--config", CONFIG, "--set", "a=1", "b.c=[1,2]", "--set", "d=x",
                                      *required[command]])
    assert args.set == ["a=1", "b.c=[1,2]", "d=x"]


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_finetune_smoke_from_official_checkpoint_and_resume(run, tmp_path, posetrack18_sample):
    init = tmp_path / "pose_hrnet_w8_coco.pth"
    torch.manual_seed(1)
    torch.save(build_model("hrnet_w8").state_dict(), init)  # official layout: a bare state dict
    out = tmp_path / "run"
    rc, stdout, err = run(*smoke_args(posetrack18_sample), "--init", str(init), "--out", str(out))
    assert rc == 0, err
    assert "best AP" in stdout
    for name in ("checkpoint.pth", "model_best.pth", "final_state.pth", "config.yaml"):
        assert (out / name).is_file(), name
    steps, epochs = _rows(out / "train_log.csv"), _rows(out / "epoch_log.csv")
    assert len(steps) == 4 and [r["lr"] for r in steps] == ["0.0001"] * 4  # fine-tune lr 1e-4
    assert len(epochs) == 2 and all(0.0 <= float(r["eval/AP"]) <= 1.0 for r in epochs)
    assert {"eval/AP Head", "eval/AP Ankle"} <= set(epochs[0])  # poseval's joint groups
    assert sorted(p.name for p in (out / "val_predictions").iterdir()) == [
        "003418_mpii_test.json", "009473_mpii_test.json", "012834_mpii_test.json"]
    # the run started from the given weights, not from a fresh init
    start = torch.load(out / "checkpoint.pth", weights_only=True)["state_dict"]["conv1.weight"]
    assert (start - torch.load(init, weights_only=True)["conv1.weight"]).abs().max() < 0.01

    rc, stdout, err = run(*smoke_args(posetrack18_sample, "train.epochs=3"), "--resume", "--out", str(out))
    assert rc == 0, err
    assert len(_rows(out / "train_log.csv")) == 6 and len(_rows(out / "epoch_log.csv")) == 3


def test_config_typo_is_an_error(run, tmp_path, posetrack18_sample):
    rc, _, err = run(*smoke_args(posetrack18_sample, "train.lr_stepz=[3]"), "--out", str(tmp_path))
    assert rc == 2
    assert "unknown key(s) in 'train': lr_stepz" in err


def test_corrupt_init_and_resume_files(run, tmp_path, posetrack18_sample):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x80\x02 not a checkpoint")
    rc, _, err = run(*smoke_args(posetrack18_sample), "--init", str(bad), "--out", str(tmp_path / "a"))
    assert rc == 2 and "bad.pth" in err and "not a readable PyTorch checkpoint" in err
    rc, _, err = run(*smoke_args(posetrack18_sample), "--resume", str(bad), "--out", str(tmp_path / "b"))
    assert rc == 2 and "bad.pth" in err and "not a readable PyTorch checkpoint" in err
    wrong = tmp_path / "w16.pth"
    torch.save(build_model("hrnet_w16").state_dict(), wrong)
    rc, _, err = run(*smoke_args(posetrack18_sample), "--init", str(wrong), "--out", str(tmp_path / "c"))
    assert rc == 2 and "does not fit the model beyond its final layer" in err
