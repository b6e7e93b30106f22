"""``posetrack info``: the paper's Table 1 parameter and GFLOPs figures."""

from __future__ import annotations

import json

import pytest

from cli_runner import cli_runner


@pytest.fixture()
def run_cli(monkeypatch, capsys):
    return cli_runner(monkeypatch, capsys, "info")


@pytest.mark.parametrize("model, size, params, short, gflops, macs", [
    ("hrnet_w32", "256x192", "28,536,113", "28.5M", "7.1", "7.645e9"),
    ("hrnet_w48", "384x288", "63,595,745", "63.6M", "32.9", "35.307e9"),
])
def test_paper_table_1(run_cli, model, size, params, short, gflops, macs) -> None:
    rc, out, _ = run_cli("info", model, "--input", size)
    assert rc == 0
    lines = out.splitlines()
    assert lines[1] == f"params   {params} ({short})"
    assert lines[2].startswith(f"GFLOPs   {gflops} ({macs} conv multiply-adds / 2^30")


def test_json_and_joints(run_cli) -> None:
    rc, out, _ = run_cli("info", "hrnet_w32", "--input", "256x192", "--joints", "15", "--json")
    assert rc == 0
    info = json.loads(out)
    # 2 joints fewer: final 1x1 conv loses 2 * (32 weights + 1 bias).
    assert info["params"] == 28_536_113 - 2 * 33
    assert info["conv_multiply_adds"] == 7_645_003_776 - 2 * 32 * 64 * 48
    assert info["paper_gflops"] == 7.12 and info["input_hw"] == [256, 192]


@pytest.mark.parametrize("argv, message", [
    (("info", "resnet", "--input", "256x192"), "unknown model 'resnet'"),
    (("info", "hrnet_w32", "--input", "250x192"), "multiples of 32, got (1, 3, 250, 192)"),
])
def test_bad_input_is_one_line_error(run_cli, argv, message) -> None:
    rc, out, err = run_cli(*argv)
    assert rc == 2 and out == ""
    assert err.startswith("posetrack info: error:") and message in err and "Traceback" not in err
