"""``posetrack bench train``: model-step and data-loading throughput, measured apart."""

from __future__ import annotations

import json

from cli_runner import cli_runner


def test_bench_train_json(monkeypatch, capsys, coco_sample):
    run = cli_runner(monkeypatch, capsys, "bench")
    rc, out, err = run("bench", "train", "--model", "hrnet_w8", "--input", "64x64", "--batch-size", "2",
                       "--iters", "1", "--warmup", "0", "--ann", str(coco_sample / "test_coco.json"),
                       "--images", str(coco_sample), "--workers", "0", "--json")
    assert rc == 0, err
    result = json.loads(out)
    assert result["model"] == "hrnet_w8" and result["input"] == "64x64"
    assert result["train_step"]["images_per_s"] > 0 and result["train_step"]["batch_size"] == 2
    (loading,) = result["data_loading"]
    assert loading["workers"] == 0 and loading["images_per_s"] > 0


def test_bench_train_bad_args(monkeypatch, capsys):
    run = cli_runner(monkeypatch, capsys, "bench")
    rc, _, err = run("bench", "train", "--ann", "x.json")
    assert rc == 2 and "--ann and --images go together" in err
