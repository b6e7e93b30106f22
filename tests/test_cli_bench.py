"""``posetrack bench model``: output structure and ratio bookkeeping (speed itself is not tested)."""

from __future__ import annotations

import json

import pytest

from cli_runner import cli_runner


@pytest.fixture()
def run_cli(monkeypatch, capsys):
    return cli_runner(monkeypatch, capsys, "bench")


def test_bench_model_json_with_timm_reference(run_cli) -> None:
    rc, out, _ = run_cli("bench", "model", "--model", "hrnet_w8", "--input", "32x32", "--batch-sizes", "1,2",
                         "--iters", "1", "--warmup", "0", "--device", "cpu", "--json")
    assert rc == 0
    report = json.loads(out)
    assert report["device"] == "cpu" and report["input_hw"] == [32, 32]
    rows = [(r["impl"], r["mode"], r["batch"]) for r in report["results"]]
    assert rows == [("posetrack:hrnet_w8", "fp32", 1), ("posetrack:hrnet_w8", "fp32", 2),
                    ("timm:hrnet_w32", "fp32", 1), ("timm:hrnet_w32", "fp32", 2)]  # no fp16 on CPU
    for r in report["results"]:
        assert r["crops_per_s"] == pytest.approx(r["batch"] * 1e3 / r["ms_per_batch"])
    by_key = {(r["impl"], r["batch"]): r["crops_per_s"] for r in report["results"]}
    assert [(x["mode"], x["batch"]) for x in report["ratio_vs_timm"]] == [("fp32", 1), ("fp32", 2)]
    for x in report["ratio_vs_timm"]:
        b = x["batch"]
        assert x["ratio"] == pytest.approx(by_key[("posetrack:hrnet_w8", b)] / by_key[("timm:hrnet_w32", b)])


def test_bench_model_text_table(run_cli) -> None:
    rc, out, _ = run_cli("bench", "model", "--model", "hrnet_w8", "--input", "32x32", "--batch-sizes", "1",
                         "--iters", "1", "--warmup", "0", "--device", "cpu", "--no-timm")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].startswith("device cpu, torch ") and "input 32x32, 1 iters after 0 warm-up" in lines[0]
    assert lines[1].split() == ["impl", "mode", "batch", "ms/batch", "crops/s", "vs", "timm"]
    assert lines[2].split()[:3] == ["posetrack:hrnet_w8", "fp32", "1"] and len(lines) == 3


@pytest.mark.parametrize("argv, message", [
    (("--batch-sizes", "1,x"), "expected positive integers separated by commas, got '1,x'"),
    (("--model", "vgg"), "unknown model 'vgg'"),
    (("--iters", "0"), "--iters must be positive"),
])
def test_bench_model_bad_arguments(run_cli, argv, message) -> None:
    rc, out, err = run_cli("bench", "model", "--no-timm", "--device", "cpu", *argv)
    assert rc == 2 and out == "" and message in err


def test_default_modes_per_device() -> None:
    import torch

    from posetrack.bench.model import default_modes

    assert [m.label for m in default_modes(torch.device("cpu"))] == ["fp32"]
    assert [m.label for m in default_modes(torch.device("cuda"))] == ["fp32", "fp16+cl"]
    assert [m.label for m in default_modes(torch.device("cuda"), compile_model=True)] == \
        ["fp32+compile", "fp16+cl+compile"]
