"""ONNX export: dynamic batch, parity with PyTorch in onnxruntime, atomic output, CLI errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from cli_runner import cli_runner
from posetrack.models import build_model
from posetrack.models.export import INPUT_NAME, OUTPUT_NAME, export_onnx


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    m = build_model("hrnet_w8", num_joints=5)
    with torch.no_grad():  # O(1) outputs and non-trivial BN statistics, so the parity check means something
        for mod in m.modules():
            if isinstance(mod, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
            elif isinstance(mod, torch.nn.BatchNorm2d):
                mod.weight.uniform_(0.3, 0.6)
                mod.bias.uniform_(-0.1, 0.1)
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
    return m.eval()


def _check_parity(path: Path, model: torch.nn.Module, hw: tuple[int, int], joints: int) -> None:
    """Independent of export_onnx's own check: fresh inputs, batch 1 and 3."""
    graph = onnx.load(str(path)).graph
    dims = graph.input[0].type.tensor_type.shape.dim
    assert graph.input[0].name == INPUT_NAME and graph.output[0].name == OUTPUT_NAME
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 3, *hw]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(7)
    for batch in (1, 3):
        x = torch.randn(batch, 3, *hw, generator=gen)
        with torch.no_grad():
            ref = model(x).numpy()
        (got,) = session.run(None, {INPUT_NAME: x.numpy()})
        assert got.shape == (batch, joints, hw[0] // 4, hw[1] // 4)
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_failed_check_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "bad.onnx"
    tiny = torch.nn.Conv2d(3, 2, 3)  # any module exports; keeps this failure-path test fast
    with pytest.raises(RuntimeError, match=r"bad\.onnx disagrees with PyTorch.*file not written"):
        export_onnx(tiny, out, (8, 8), atol=-1.0)  # impossible tolerance forces the failure path
    assert list(tmp_path.iterdir()) == []


@pytest.fixture()
def run_cli(monkeypatch, capsys):
    return cli_runner(monkeypatch, capsys, "export")


def test_cli_export_matches_pytorch_for_batch_1_and_3(run_cli, model, tmp_path: Path) -> None:
    weights = tmp_path / "w8.pth"
    torch.save({"state_dict": model.state_dict()}, weights)
    out = tmp_path / "cli.onnx"
    rc, stdout, _ = run_cli("export", "hrnet_w8", "--joints", "5", "--weights", str(weights),
                            "--input", "64x32", "--out", str(out))
    assert rc == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["cli.onnx", "w8.pth"]
    assert f"weights: {weights}" in stdout and "input Nx3x64x32" in stdout
    diff, scale = re.search(r"max abs diff (\S+) \(heatmap max (\S+)\)", stdout).groups()
    assert float(diff) <= 1e-3 * float(scale) and 0.1 < float(scale) < 1e3
    _check_parity(out, model, (64, 32), joints=5)


@pytest.mark.parametrize("extra, message", [
    (("--weights", "missing.pth"), "checkpoint not found: missing.pth"),
    (("--random-init", "--input", "64x60"), "multiples of 32"),
])
def test_cli_export_errors(run_cli, tmp_path: Path, extra, message) -> None:
    rc, _, err = run_cli("export", "hrnet_w8", "--out", str(tmp_path / "x.onnx"), *extra)
    assert rc == 2 and message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
