"""load_checkpoint: official and mmpose layouts, clear errors for wrong or corrupt files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from posetrack.models import build_model, load_checkpoint
from posetrack.models.checkpoint import CheckpointError


@pytest.fixture(scope="module")
def source() -> torch.nn.Module:
    torch.manual_seed(1)
    model = build_model("hrnet_w8")
    with torch.no_grad():  # make BN statistics non-default so they are checked too
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand_like(t))
    return model


def _assert_same(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


LAYOUTS = {
    "bare": (lambda sd: sd, "official"),
    "state_dict": (lambda sd: {"epoch": 3, "state_dict": sd, "perf": 0.7}, "official-wrapped"),
    "model": (lambda sd: {"model": sd, "optimizer": {"lr": 1e-3}}, "official-wrapped"),
    "module_prefix": (lambda sd: {"state_dict": {"module." + k: v for k, v in sd.items()}}, "official-wrapped"),
    "module_bare": (lambda sd: {"module." + k: v for k, v in sd.items()}, "official"),
    "mmpose0": (
        lambda sd: {
            "meta": {"mmpose_version": "0.8.0", "config": "model = dict(type='TopDown')"},
            "state_dict": {
                ("keypoint_head." + k if k.startswith("final_layer.") else "backbone." + k): v
                for k, v in sd.items()
            },
        },
        "mmpose-0.x",
    ),
    "mmpose1": (
        lambda sd: {
            "meta": {"dataset_meta": {"sigmas": np.array([0.026, 0.025], dtype=np.float32),
                                      "flip_indices": [0, 2, 1]}},
            "state_dict": {
                **{("head." + k if k.startswith("final_layer.") else "backbone." + k): v for k, v in sd.items()},
            },
        },
        "mmpose-1.x",
    ),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_strict_load_of_every_layout(layout: str, source, tmp_path: Path) -> None:
    wrap, expected_layout = LAYOUTS[layout]
    path = tmp_path / f"{layout}.pth"
    torch.save(wrap(source.state_dict()), path)
    target = build_model("hrnet_w8")
    report = load_checkpoint(target, path)
    _assert_same(source, target)
    assert report.layout == expected_layout
    assert report.loaded_keys == len(source.state_dict())
    assert report.complete and report.path == path


def test_wrong_width_lists_shape_mismatches_and_leaves_model_untouched(source, tmp_path: Path) -> None:
    path = tmp_path / "w8.pth"
    torch.save(source.state_dict(), path)
    target = build_model("hrnet_w16")
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(target, path)
    msg = str(info.value)
    assert str(path) in msg and "shape mismatches" in msg
    assert "transition1.0.0.weight: checkpoint (8, 256, 3, 3) vs model (16, 256, 3, 3)" in msg
    assert "... and" in msg  # long lists are truncated
    for k, v in target.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_missing_and_unexpected_keys_are_named(source, tmp_path: Path) -> None:
    sd = dict(source.state_dict())
    del sd["final_layer.bias"]
    sd["extra_head.weight"] = torch.zeros(3)
    path = tmp_path / "odd.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointError, match=r"missing keys \(1\): final_layer.bias; unexpected keys \(1\): extra_head.weight"):
        load_checkpoint(build_model("hrnet_w8"), path)
    report = load_checkpoint(build_model("hrnet_w8"), path, strict=False)
    assert report.missing_keys == ("final_layer.bias",)
    assert report.unexpected_keys == ("extra_head.weight",)
    assert report.loaded_keys == len(source.state_dict()) - 1 and not report.complete


def test_num_joints_mismatch_non_strict_keeps_backbone(source, tmp_path: Path) -> None:
    path = tmp_path / "k17.pth"
    torch.save(source.state_dict(), path)
    target = build_model("hrnet_w8", num_joints=15)
    report = load_checkpoint(target, path, strict=False)
    assert report.mismatched_shapes == (
        "final_layer.weight: checkpoint (17, 8, 1, 1) vs model (15, 8, 1, 1)",
        "final_layer.bias: checkpoint (17,) vs model (15,)",
    )
    assert torch.equal(target.conv1.weight, source.conv1.weight)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_corrupt_file_is_a_clear_error(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "broken.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=r"broken\.pth: not a readable PyTorch checkpoint"):
        load_checkpoint(build_model("hrnet_w8"), path)


def test_truncated_checkpoint_is_a_clear_error(source, tmp_path: Path) -> None:
    path = tmp_path / "cut.pth"
    torch.save(source.state_dict(), path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match=r"cut\.pth: not a readable PyTorch checkpoint"):
        load_checkpoint(build_model("hrnet_w8"), path)


def test_not_a_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "list.pth"
    torch.save({"epoch": 3, "model": "pose_hrnet"}, path)
    with pytest.raises(CheckpointError, match=r"list\.pth: no model state dict found .*'epoch', 'model'"):
        load_checkpoint(build_model("hrnet_w8"), path)


def test_unsafe_pickle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"a": torch.zeros(1)}, "obj": Path("x")}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pth: not a readable PyTorch checkpoint"):
        load_checkpoint(build_model("hrnet_w8"), path)


def test_missing_file_names_path_and_known_weights(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.pth.*hrnet_w32_coco_256x192"):
        load_checkpoint(build_model("hrnet_w8"), tmp_path / "nope.pth")
