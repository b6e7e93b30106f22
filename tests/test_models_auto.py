"""``mode: auto`` (posetrack.models.auto): the probe, its tolerances, the cache file, the fall-backs,
and where auto is the default (pose stage, ``posetrack test``, the detector's precision)."""

from __future__ import annotations

import copy
import json
import logging

import numpy as np
import pytest
import torch

import posetrack.models.auto as auto
from posetrack.models.auto import auto_mode, cache_path, candidate_labels, cpu_has_bf16
from posetrack.models.runtime import InferenceMode, ModelRunner
from posetrack.models.weights import DEMO_WEIGHTS
from posetrack.track.stages.detect import detector_precision
from posetrack.track.stages.pose import PoseStage
from test_models_runtime import (  # noqa: F401 - crops is a fixture
    INPUT_SIZE, _heatmap_error, _heatmap_px, _peaky_hrnet_w8, _poses, _posetrack_test, _Tiny, crops,
    peaky_checkpoint,
)


@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub"


@pytest.fixture
def probes(monkeypatch) -> list:
    """Records every probe auto_mode runs (the candidate labels it was given)."""
    calls = []
    real = auto._probe

    def counting(*args):
        calls.append(auto.candidate_labels(args[1]))
        return real(*args)

    monkeypatch.setattr(auto, "_probe", counting)
    return calls


def test_auto_on_cpu_is_a_mode_this_machine_runs_and_equals_fp32_on_real_people(hub, caplog, crops):
    caplog.set_level(logging.INFO, logger="posetrack.models.auto")
    model = _peaky_hrnet_w8()
    mode = auto_mode(model, "cpu", INPUT_SIZE[::-1])
    mode.check_device(torch.device("cpu"))
    supported = {"fp32", "fp32+cl"} | ({"bf16+cl", "bf16+cl+compile"} if cpu_has_bf16() else set())
    try:
        import onnxruntime  # noqa: F401
        supported.add("ort")
    except ImportError:
        pass
    assert mode.label in supported
    assert caplog.text.count("inference mode auto -> ") == 1 and f"auto -> {mode.label} on cpu (probed" in caplog.text
    ref_heat, ref_kp = _poses(model, crops, None)
    heat, kp = _poses(model, crops, mode)  # the 14 annotated COCO people, not the probe's crops
    if mode.precision == "fp32":  # the tight tolerance of test_tight_modes_equal_fp32
        assert _heatmap_error(heat, ref_heat).max() < auto.TIGHT_HEATMAP_TOL
        np.testing.assert_allclose(kp[..., :2], ref_kp[..., :2], atol=1e-3)
    else:  # bf16's, as test_bf16_autocast_within_loose_tolerance
        assert _heatmap_error(heat, ref_heat).max() < auto.LOOSE_HEATMAP_TOL
        assert (_heatmap_px(kp, ref_kp, crops) <= 1.0).mean() >= auto.LOOSE_PEAK_SHARE


def test_cache_file_is_read_on_the_second_open(hub, probes, caplog, monkeypatch):
    monkeypatch.setattr(auto, "candidate_labels", lambda device: ["fp32+cl"])
    caplog.set_level(logging.INFO, logger="posetrack.models.auto")
    torch.manual_seed(0)
    model = _Tiny().eval()
    first = auto_mode(model, "cpu", (32, 24))
    assert len(probes) == 1 and first.label in ("fp32", "fp32+cl")
    (key, entry), = json.loads(cache_path().read_text()).items()
    assert cache_path() == hub / "posetrack_auto_modes.json"
    assert key.startswith("cpu ") and f"| torch {torch.__version__} |" in key and "_Tiny 150 params, input 32x24" in key
    assert entry["mode"] == first.label and set(entry["crops_per_s"]) == {"fp32", "fp32+cl"} and not entry["rejected"]
    caplog.clear()
    assert auto_mode(model, "cpu", (32, 24)) == first
    assert len(probes) == 1  # no second probe
    assert f"inference mode auto -> {first.label} on cpu (cached in {cache_path()})" in caplog.text
    # other weights are another model (bf16 parity depends on them): probed, and kept beside the first
    with torch.no_grad():
        model.conv.weight.mul_(2)
    auto_mode(model, "cpu", (32, 24))
    assert len(probes) == 2 and len(json.loads(cache_path().read_text())) == 2
    monkeypatch.setattr(auto, "CACHE_ENTRIES", 2)  # random-weight benchmarks add a key per run: the oldest go
    with torch.no_grad():
        model.conv.weight.mul_(2)
    auto_mode(model, "cpu", (32, 24))
    kept = json.loads(cache_path().read_text())
    assert len(kept) == 2 and key not in kept


def test_cached_mode_this_environment_cannot_run_is_probed_again(hub, probes, caplog, monkeypatch):
    # ort was picked, then onnxruntime went (a venv without the export extra shares the torch hub)
    monkeypatch.setattr(auto, "candidate_labels", lambda device: ["ort", "fp32+cl"])
    model = _Tiny().eval()
    auto_mode(model, "cpu", (32, 24))
    cache = json.loads(cache_path().read_text())
    (entry,) = cache.values()
    entry["mode"] = "ort"
    cache_path().write_text(json.dumps(cache))
    monkeypatch.setattr(auto, "candidate_labels", lambda device: ["fp32+cl"])
    assert auto_mode(model, "cpu", (32, 24)).label in ("fp32", "fp32+cl")
    assert len(probes) == 2 and probes[-1] == ["fp32+cl"]
    assert [e["mode"] for e in json.loads(cache_path().read_text()).values()] != ["ort"]


def test_damaged_cache_is_probed_again_and_rewritten(hub, probes, caplog, monkeypatch):
    monkeypatch.setattr(auto, "candidate_labels", lambda device: [])
    hub.mkdir(parents=True)
    cache_path().write_text("{not json")
    assert auto_mode(_Tiny().eval(), "cpu", (32, 24)) == InferenceMode()
    assert "ignoring unreadable inference-mode cache" in caplog.text and len(probes) == 1
    assert [e["mode"] for e in json.loads(cache_path().read_text()).values()] == ["fp32"]
    assert [p.name for p in hub.iterdir()] == ["posetrack_auto_modes.json"]  # no temporary left


@pytest.mark.parametrize("how", ["fails", "too_slow"])
def test_compile_that_fails_or_takes_too_long_falls_back_with_a_notice(hub, caplog, monkeypatch, how):
    monkeypatch.setattr(auto, "candidate_labels", lambda device: ["fp32+compile", "fp32+cl"])
    if how == "fails":
        def fake_compile(*args, **kwargs):
            raise RuntimeError("forced failure: no C++ compiler")
    else:  # compiles "fine" but its first call is over the budget
        monkeypatch.setattr(auto, "COMPILE_BUDGET_S", -1.0)

        def fake_compile(fn, **kwargs):
            return fn
    monkeypatch.setattr(torch, "compile", fake_compile)
    caplog.set_level(logging.INFO, logger="posetrack.models.auto")
    mode = auto_mode(_Tiny().eval(), "cpu", (32, 24))
    assert not mode.compile and mode.label in ("fp32", "fp32+cl")
    notice = {"fails": "mode auto: not using fp32+compile: torch.compile failed",
              "too_slow": "mode auto: not using fp32+compile: torch.compile took 0 s, over the -1 s budget"}[how]
    assert notice in caplog.text
    assert "fp32+compile" in next(iter(json.loads(cache_path().read_text()).values()))["rejected"]
    if how == "fails":
        assert "forced failure" in caplog.text  # ModelRunner's own warning says why


def test_pose_stage_defaults_to_auto_and_an_explicit_mode_wins(hub, probes, monkeypatch, caplog):
    monkeypatch.setattr(auto, "candidate_labels", lambda device: ["fp32+cl"])
    caplog.set_level(logging.INFO, logger="posetrack.models.auto")
    stage = PoseStage(weights=DEMO_WEIGHTS)
    assert stage.params.mode == "auto" and stage.mode is None
    stage.open()
    assert len(probes) == 1 and stage.mode.label in ("fp32", "fp32+cl") and stage.estimator.runner.mode == stage.mode
    explicit = PoseStage(weights=DEMO_WEIGHTS, mode="fp32")
    explicit.open()
    assert len(probes) == 1 and explicit.estimator.runner.mode == InferenceMode()
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        PoseStage(weights=DEMO_WEIGHTS, mode="fp16")


def test_posetrack_test_defaults_to_auto(hub, probes, monkeypatch, capsys, caplog, tmp_path, coco_sample,
                                         peaky_checkpoint):
    monkeypatch.setattr(auto, "candidate_labels", lambda device: ["fp32+cl"])
    caplog.set_level(logging.INFO, logger="posetrack")
    rc, _, err = _posetrack_test(monkeypatch, capsys, coco_sample, peaky_checkpoint, tmp_path / "auto")
    assert rc == 0, err
    assert len(probes) == 1 and "inference mode auto -> " in caplog.text
    caplog.clear()
    rc, _, err = _posetrack_test(monkeypatch, capsys, coco_sample, peaky_checkpoint, tmp_path / "fp32",
                                 "--mode", "fp32")
    assert rc == 0, err
    assert len(probes) == 1 and "inference mode fp32 on cpu" in caplog.text and "auto ->" not in caplog.text
    rc, _, err = _posetrack_test(monkeypatch, capsys, coco_sample, peaky_checkpoint, tmp_path / "both",
                                 "--mode", "fp32", "--channels-last")
    assert rc == 2 and "--mode fp32 names the whole mode; drop --channels-last" in err


def test_detector_precision_auto(monkeypatch):
    assert detector_precision("fp32", "cpu") == "fp32" and detector_precision("bf16", "cpu") == "bf16"
    assert detector_precision("auto", "cuda:0") == "fp16"
    monkeypatch.setattr(auto, "cpu_has_bf16", lambda: True)
    assert detector_precision("auto", "cpu") == "bf16"
    monkeypatch.setattr(auto, "cpu_has_bf16", lambda: False)
    assert detector_precision("auto", "cpu") == "fp32"


def test_ort_sessions_are_shared_by_copies_of_one_network(monkeypatch):
    import posetrack.models.export as export

    exports = []
    real = export.export_onnx
    monkeypatch.setattr(export, "export_onnx", lambda *args, **kwargs: exports.append(1) or real(*args, **kwargs))
    torch.manual_seed(0)
    model, x = _Tiny().eval(), torch.randn(2, 3, 16, 12)
    ort = InferenceMode(backend="onnxruntime")
    first = ModelRunner(copy.deepcopy(model), ort, "cpu", input_hw=(16, 12))
    second = ModelRunner(copy.deepcopy(model), ort, "cpu", input_hw=(16, 12))
    assert len(exports) == 1 and second._session is first._session
    torch.testing.assert_close(second(x), model(x))
    with torch.no_grad():  # other weights: exported anew
        model.conv.weight.add_(1.0)
    third = ModelRunner(model, ort, "cpu", input_hw=(16, 12))
    assert len(exports) == 2
    torch.testing.assert_close(third(x), model(x))


def test_bench_modes_marks_the_mode_auto_picks(hub, probes, monkeypatch, capsys):
    from cli_runner import cli_runner

    monkeypatch.setattr(auto, "candidate_labels", lambda device: ["fp32+cl"])
    run = cli_runner(monkeypatch, capsys, "bench")
    argv = ["bench", "modes", "--model", "hrnet_w8", "--input", "64x64", "--batch-sizes", "1", "--modes", "fp32+cl",
            "--iters", "1", "--warmup", "0", "--device", "cpu", "--no-timm"]
    rc, out, err = run(*argv, "--json")
    assert rc == 0, err
    picked = [e["mode"] for e in json.loads(cache_path().read_text()).values()]
    assert json.loads(out)["auto"] == picked[-1] and len(probes) == 1
    rc, out, err = run(*argv)  # a new random network: probed again
    assert rc == 0, err
    picked = [e["mode"] for e in json.loads(cache_path().read_text()).values()]
    assert len(probes) == 2 and f"mode auto picks {picked[-1]} here\n" in out
    marked = [line.split()[1] for line in out.splitlines() if "(auto)" in line]
    assert marked == [picked[-1]]  # exactly the row of the picked mode (fp32 and fp32+cl both measured)
