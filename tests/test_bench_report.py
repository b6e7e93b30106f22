"""``posetrack bench`` (the report) and the memory peaks of ``bench track``: structure and bookkeeping.

Speed itself is not tested. The pipeline runs on the real sample video (demo.mp4) for two frames
with a random-init HRNet-W8 at 64x64 and four boxes per frame from a detections file: random
weights score every pose near 0, below the propagate stage's min_score, so no extra box joins
and every frame has exactly the four given people.
"""

from __future__ import annotations

import json
import re

import pytest

from cli_runner import cli_runner

NETWORK = ("--model", "hrnet_w8", "--input", "64x64", "--batch-sizes", "1", "--iters", "1", "--warmup", "0",
           "--modes", "fp32+cl", "--device", "cpu")
OURS, TIMM = "posetrack:hrnet_w8", "timm:hrnet_w32"


@pytest.fixture()
def run_cli(monkeypatch, capsys):
    return cli_runner(monkeypatch, capsys, "bench")


@pytest.fixture()
def pipeline_flags(shared_data, tmp_path) -> tuple[str, ...]:
    boxes = [{"image_id": frame, "category_id": 1, "score": 0.9, "bbox": [60 + 220 * i, 120, 150, 360]}
             for frame in range(5) for i in range(4)]  # demo.mp4: 960x540, 5 frames; ids = frame indices
    (tmp_path / "dets.json").write_text(json.dumps(boxes))
    return ("--video", str(shared_data / "videos" / "demo.mp4"), "--random-weights", "--detections",
            str(tmp_path / "dets.json"), "--frames", "2", "--flow", "dis", "--set", "pose.mode=fp32")  # no mode probe


def node_names() -> list[str]:
    from posetrack.track.pipeline import load_pipeline

    return [n.name or n.stage for n in load_pipeline().nodes]


def test_bare_bench_prints_one_table_of_network_and_pipeline_rows(run_cli, pipeline_flags) -> None:
    rc, out, err = run_cli("bench", *NETWORK, *pipeline_flags)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("device cpu, torch ") and " 1 threads on " in lines[0] and "(load average " in lines[0]
    assert lines[0].endswith("; network hrnet_w8 64x64, 1 iters after 0 warm-up")
    assert lines[1].endswith("demo.mp4: 2 frames, 4.0 people/frame, device cpu, pose hrnet_w8 64x64 fp32 +flip, "
                             "random weights")
    assert lines[2].split() == ["part", "config", "batch", "ms", "rate", "unit", "vs", "fp32", "vs", "timm",
                                "GPU", "MiB", "RSS", "MiB"]
    rows = [line.split() for line in lines[3:-1]]
    network = [(r[0], r[1], r[2], r[3], r[6]) for r in rows[:4]]
    assert network == [("network", OURS, "fp32", "1", "crops/s"), ("network", OURS, "fp32+cl", "1", "crops/s"),
                       ("network", TIMM, "fp32", "1", "crops/s"), ("network", TIMM, "fp32+cl", "1", "crops/s")]
    assert rows[0][7] == "1.00x" and rows[2][7:9] == ["1.00x", "1.00x"]  # fp32 is its own baseline; timm too
    assert all(r[9] == "-" and float(r[10]) > 0 for r in rows[:4])  # no GPU memory on CPU; RSS
    pipeline = rows[4:]
    assert [r[:3] for r in pipeline] == [["pipeline", name, "-"] for name in ["end-to-end", *node_names()]]
    assert all(r[5] == "frames/s" and r[6:9] == ["-", "-", "-"] for r in pipeline)
    assert float(pipeline[0][9]) > 0 and all(r[9] == "-" for r in pipeline[1:])  # peak RSS on the end-to-end row
    assert lines[-1].startswith("ms: per batch (network) or per frame (pipeline)")


def test_bench_json_is_consistent_with_itself(run_cli, pipeline_flags) -> None:
    rc, out, err = run_cli("bench", *NETWORK, *pipeline_flags, "--json")
    assert rc == 0, err
    report = json.loads(out)
    assert set(report) == {"device", "torch", "threads", "cpu_count", "loadavg", "network", "pipeline",
                           "peak_rss_mb", "rows"}
    assert report["device"] == "cpu" and report["threads"] == 1 and len(report["loadavg"]) == 3
    network = report["network"]
    assert {k: network[k] for k in ("model", "input_hw", "batch_sizes", "iters", "warmup")} == \
        {"model": "hrnet_w8", "input_hw": [64, 64], "batch_sizes": [1], "iters": 1, "warmup": 0}
    results = {(r["impl"], r["mode"]): r for r in network["results"]}
    assert list(results) == [(OURS, "fp32"), (OURS, "fp32+cl"), (TIMM, "fp32"), (TIMM, "fp32+cl")]
    assert results[(OURS, "fp32")]["vs_fp32"] == 1.0 and results[(TIMM, "fp32")]["vs_timm"] == 1.0
    assert results[(OURS, "fp32")]["vs_timm"] == pytest.approx(
        results[(OURS, "fp32")]["crops_per_s"] / results[(TIMM, "fp32")]["crops_per_s"])

    pipeline = report["pipeline"]
    assert pipeline["frames"] == 2 and pipeline["fps"] == pytest.approx(2 / pipeline["seconds"])
    assert list(pipeline["stage_ms"]) == node_names() and all(ms >= 0 for ms in pipeline["stage_ms"].values())
    assert pipeline["people_per_frame"] == 4.0 and pipeline["device"] == "cpu" and pipeline["random_weights"]
    assert pipeline["peak_gpu_mb"] is None and 0 < pipeline["peak_rss_mb"] <= report["peak_rss_mb"]
    assert {k: v for k, v in pipeline["pose"].items() if k != "weights"} == \
        {"arch": "hrnet_w8", "input_size": [64, 64], "mode": "fp32", "flip_test": True}

    rows = report["rows"]
    assert [r["part"] for r in rows] == ["network"] * 4 + ["pipeline"] * (1 + len(node_names()))
    for row, r in zip(rows, network["results"]):
        assert (row["config"], row["batch"], row["unit"]) == (f"{r['impl']} {r['mode']}", r["batch"], "crops/s")
        assert (row["ms"], row["rate"], row["vs_fp32"], row["vs_timm"], row["gpu_mb"], row["rss_mb"]) == \
            (r["ms_per_batch"], r["crops_per_s"], r["vs_fp32"], r["vs_timm"], r["peak_gpu_mb"], r["rss_mb"])
    end_to_end, *stages = rows[4:]
    assert end_to_end["config"] == "end-to-end" and end_to_end["rate"] == pipeline["fps"]
    assert end_to_end["ms"] == pytest.approx(1e3 * pipeline["seconds"] / 2)
    assert (end_to_end["gpu_mb"], end_to_end["rss_mb"]) == (None, pipeline["peak_rss_mb"])
    assert {r["config"]: r["ms"] for r in stages} == pipeline["stage_ms"]
    for r in stages:
        assert r["rate"] is None if r["ms"] == 0 else r["rate"] == pytest.approx(1e3 / r["ms"])


def test_report_target_without_video_has_network_rows_only(run_cli) -> None:
    rc, out, err = run_cli("bench", "report", *NETWORK, "--no-timm", "--json")
    assert rc == 0, err
    report = json.loads(out)
    assert report["pipeline"] is None
    assert [(r["config"], r["vs_timm"]) for r in report["rows"]] == [(f"{OURS} fp32", None), (f"{OURS} fp32+cl", None)]


def test_bench_track_reports_memory_peaks(run_cli, pipeline_flags) -> None:
    video, *flags = pipeline_flags[1:]
    rc, out, err = run_cli("bench", "track", video, *flags, "--model", "hrnet_w8", "--set", "pose.input_size=[64,64]",
                           "--set", "pose.flip_test=false", "--no-baseline")
    assert rc == 0, err
    lines = out.splitlines()
    assert re.fullmatch(re.escape(video) + r": \d+\.\d\d FPS \(\d+\.\d\d s; 2 frames, 4\.0 people/frame, device cpu, "
                        r"pose hrnet_w8 64x64 fp32, random weights\)", lines[0])
    assert [line.split()[0] for line in lines[1:-1]] == node_names()
    assert lines[-1].startswith("peak GPU memory -, peak RSS ") and lines[-1].endswith(" MiB")


@pytest.mark.parametrize("argv, message", [
    (("--video", "missing.mp4"), "input not found: missing.mp4"),
    (("--frames", "0"), "--frames must be positive"),
    (("--detections", "missing.json"), "detections file not found: missing.json"),
    (("--set", "pose.flip=false"), "unknown key(s) in 'nodes[4] (pose).params': flip"),
    (("--modes", "fp16+cl"), "fp16 needs a CUDA device, got cpu"),
    (("--threads", "0"), "--threads must be positive"),
])
def test_bad_input_fails_before_any_timing(run_cli, pipeline_flags, monkeypatch, argv, message) -> None:
    import posetrack.bench.modes as bench_modes
    import posetrack.bench.report as report

    monkeypatch.setattr(bench_modes, "time_mode", lambda *a, **k: pytest.fail("timed despite bad input"))
    monkeypatch.setattr(report, "measure_pipeline", lambda *a, **k: pytest.fail("ran the pipeline despite bad input"))
    rc, out, err = run_cli("bench", *NETWORK, *pipeline_flags, *argv)
    assert rc == 2 and out == "" and message in err and "Traceback" not in err


def test_bench_track_prints_the_defaults_beside_the_old_ones(run_cli, pipeline_flags) -> None:
    video, *flags = pipeline_flags[1:]
    flags = [f for f in flags if f not in ("--set", "pose.mode=fp32")]  # the new default: mode auto
    base = ["bench", "track", video, *flags, "--model", "hrnet_w8", "--set", "pose.input_size=[64,64]"]
    rc, out, err = run_cli(*base, "--json")
    assert rc == 0, err
    new = json.loads(out)
    old = new["baseline"]
    assert new["speedup"] == pytest.approx(new["fps"] / old["fps"])
    assert old["pose"]["mode"] == "fp32" and new["pose"]["mode"] in ("fp32", "fp32+cl", "ort", "bf16+cl",
                                                                     "bf16+cl+compile")
    assert list(new["stage_ms"]) == list(old["stage_ms"]) == node_names()
    assert new["frames"] == old["frames"] == 2 and new["people_per_frame"] == old["people_per_frame"] == 4.0
    assert len(new["loadavg"]) == len(old["loadavg"]) == 3
    rc, out, err = run_cli(*base)
    assert rc == 0, err
    lines = out.splitlines()
    assert re.fullmatch(re.escape(video) + r": \d+\.\d\d FPS with the defaults, \d+\.\d\d FPS with the old defaults "
                        r"\(\d+\.\d\dx\)", lines[0])
    assert lines[1].startswith("  new: ") and lines[2].startswith("  old: ") and " fp32 +flip, " in lines[2]
    assert lines[3].split() == ["stage", "new", "ms", "old", "ms"]
    assert [line.split()[0] for line in lines[4:-1]] == node_names()
    assert lines[-1].startswith("peak GPU memory - / -, peak RSS ") and lines[-1].endswith(" MiB (new / old)")
