"""Inference modes (posetrack.models.runtime): keypoints equal fp32's within stated tolerances.

Tolerances, on a width-8 HRNet with large random weights, 14 real COCO person crops at 128x96:
- fp32 + channels_last, onnxruntime: heatmaps within 1e-5 of each map's range, keypoints
  within 1e-3 image px (the same argmax; only float summation order differs).
- bf16 autocast: heatmaps within 10% of each map's range and >= 80% of joints within one
  heatmap px (box width / 24 image px). Random weights give flat heatmaps (the median peak
  beats the best value outside its 3x3 neighbourhood by ~3% of the range), so bf16's
  ~6% heatmap error flips near-ties; trained networks have sharp peaks.
- torch.compile: tight, like channels_last; the real compile of HRNet on CPU takes minutes
  here (inductor generates and builds C++), so it runs only with POSETRACK_SLOW_TESTS=1;
  the fall-back to eager is tested by forcing compile failures.
CUDA-only modes (fp16, CUDA graphs) are checked to refuse CPU with a clear error.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from cli_runner import cli_runner
from posetrack.config import ConfigError, load_config
from posetrack.experiment import Experiment
from posetrack.io.image import read_image_rgb
from posetrack.models import build_model
from posetrack.models.runtime import InferenceMode, ModelRunner
from posetrack.pose.estimator import CropBatch, TopDownEstimator

INPUT_SIZE = (96, 128)  # (w, h)
HEATMAP_W = INPUT_SIZE[0] // 4


def _peaky_hrnet_w8() -> nn.Module:
    """HRNet-W8 whose heatmaps vary across the crop (the official std-0.001 init gives ~constant maps)."""
    torch.manual_seed(0)
    model = build_model("hrnet_w8")
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):  # < 1 keeps activations O(1) through the residual sums
            nn.init.uniform_(m.weight, 0.2, 0.5)
            nn.init.normal_(m.bias, std=0.1)
    return model.eval()


@pytest.fixture(scope="module")
def crops(coco_sample: Path) -> CropBatch:
    """All 14 annotated people of the COCO sample, cropped as the official test does."""
    ann = json.loads((coco_sample / "test_coco.json").read_text())
    files = {im["id"]: coco_sample / im["file_name"] for im in ann["images"]}
    est = TopDownEstimator(nn.Identity(), input_size=INPUT_SIZE)
    return CropBatch.concat([est.prepare(read_image_rgb(files[a["image_id"]]), np.array([a["bbox"]]))
                             for a in ann["annotations"]])


def _poses(model: nn.Module, crops: CropBatch, mode: InferenceMode | None):
    # a copy: modes change the module in place (channels_last), and the reference model is shared
    est = TopDownEstimator(copy.deepcopy(model), input_size=INPUT_SIZE, flip_test=False, mode=mode)
    heatmaps = est.heatmaps(crops.crops)
    return heatmaps, est.decode(heatmaps, crops.centers, crops.sizes, np.ones(len(crops))).keypoints


@pytest.fixture(scope="module")
def reference(crops):
    model = _peaky_hrnet_w8()
    heatmaps, keypoints = _poses(model, crops, None)
    return model, heatmaps, keypoints


def _heatmap_error(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """(N, K) max abs difference of each map over the fp32 map's range."""
    n, k = ref.shape[:2]
    flat_ref, flat_got = ref.reshape(n, k, -1), got.reshape(n, k, -1)
    return np.abs(flat_got - flat_ref).max(2) / (flat_ref.max(2) - flat_ref.min(2))


def _heatmap_px(got: np.ndarray, ref: np.ndarray, crops: CropBatch) -> np.ndarray:
    """(N, K) keypoint distance in heatmap px (image px / (crop width / heatmap width))."""
    return np.abs(got[..., :2] - ref[..., :2]).max(2) / (crops.sizes[:, :1] / HEATMAP_W)


def test_reference_heatmaps_are_not_flat(reference, crops):
    _, heatmaps, keypoints = reference
    assert heatmaps.shape == (14, 17, 32, 24)
    spread = heatmaps.reshape(14, 17, -1)
    assert (spread.std(2) > 0.05 * np.abs(spread).max(2)).all()
    # joints land in many different places, so argmax agreement below means something
    assert len({tuple(p) for p in np.round(keypoints[..., :2]).reshape(-1, 2)}) > 150


@pytest.mark.parametrize("label", ["fp32+cl", "ort"])
def test_tight_modes_equal_fp32(reference, crops, label):
    model, ref_heat, ref_kp = reference
    heat, kp = _poses(model, crops, InferenceMode.from_label(label))
    assert _heatmap_error(heat, ref_heat).max() < 1e-5
    np.testing.assert_allclose(kp[..., :2], ref_kp[..., :2], atol=1e-3)
    np.testing.assert_allclose(kp[..., 2], ref_kp[..., 2], rtol=1e-5, atol=1e-5 * np.abs(ref_heat).max())


def test_onnxruntime_workers_sleep_between_operators(reference):
    # spinning workers would take the cores the tracker's detect and flow threads run on
    runner = ModelRunner(copy.deepcopy(reference[0]), InferenceMode(backend="onnxruntime"), input_hw=INPUT_SIZE[::-1])
    options = runner._session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.intra_op_num_threads == torch.get_num_threads()


def test_bf16_autocast_within_loose_tolerance(reference, crops):
    model, ref_heat, ref_kp = reference
    heat, kp = _poses(model, crops, InferenceMode(precision="bf16", channels_last=True))
    err = _heatmap_error(heat, ref_heat)
    assert 0 < err.max() < 0.10  # > 0: autocast really ran in bf16
    assert (_heatmap_px(kp, ref_kp, crops) <= 1.0).mean() >= 0.80


@pytest.mark.skipif(not os.environ.get("POSETRACK_SLOW_TESTS"),
                    reason="inductor builds C++ for minutes on CPU; set POSETRACK_SLOW_TESTS=1")
def test_real_torch_compile_equals_fp32(reference, crops):
    model, ref_heat, ref_kp = reference
    est = TopDownEstimator(model, input_size=INPUT_SIZE, flip_test=False, mode=InferenceMode(compile=True))
    heat = est.heatmaps(crops.crops)
    assert est.runner.compiled  # inductor really ran, no fall-back
    kp = est.decode(heat, crops.centers, crops.sizes, np.ones(len(crops))).keypoints
    assert _heatmap_error(heat, ref_heat).max() < 1e-4
    np.testing.assert_allclose(kp[..., :2], ref_kp[..., :2], atol=1e-3)


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 3, padding=1)
        self.bn = nn.BatchNorm2d(5)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))[:, :, ::4, ::4]


def test_default_runner_is_the_plain_forward():
    torch.manual_seed(0)
    model, x = _Tiny().eval(), torch.randn(3, 3, 16, 12)
    runner = ModelRunner(model, None, "cpu", input_hw=(16, 12))
    got = runner(x)
    assert got.dtype == torch.float32 and got.shape == (3, 5, 4, 3) and not runner.compiled
    assert torch.equal(got, model(x))


def test_compiled_runner_has_one_graph_for_every_batch_size(monkeypatch):
    # the auto probe's batch of 8 must compile the graph the pose stage then runs at any batch size
    torch.manual_seed(0)
    model = _Tiny().eval()
    graphs = []

    def counting_backend(graph_module, example_inputs):
        graphs.append(graph_module)
        return graph_module.forward

    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: real_compile(fn, backend=counting_backend))
    torch._dynamo.reset()
    runner = ModelRunner(model, InferenceMode(compile=True), "cpu", input_hw=(16, 12))
    with torch.no_grad():
        for batch in (8, 6, 3, 1, 2, 0):
            x = torch.randn(batch, 3, 16, 12)
            got = runner(x)
            assert got.shape == (batch, 5, 4, 3)
            torch.testing.assert_close(got, model(x))
    assert runner.compiled and len(graphs) == 1
    torch._dynamo.reset()


def _failing_backend(graph_module, example_inputs):
    raise RuntimeError("forced failure: no C++ compiler")


@pytest.mark.parametrize("where", ["at_compile", "at_first_call"])
def test_compile_falls_back_to_eager_with_a_warning(monkeypatch, caplog, where):
    torch.manual_seed(0)
    model, x = _Tiny().eval(), torch.randn(2, 3, 16, 12)
    expected = model(x)
    real_compile = torch.compile
    if where == "at_compile":
        def fake(*args, **kwargs):
            raise RuntimeError("forced failure: unsupported platform")
    else:  # the real dynamo path, whose backend fails lazily as inductor does without a toolchain
        def fake(fn, **kwargs):
            torch._dynamo.reset()
            return real_compile(fn, backend=_failing_backend)
    monkeypatch.setattr(torch, "compile", fake)
    caplog.set_level(logging.WARNING, logger="posetrack.models.runtime")
    runner = ModelRunner(model, InferenceMode(compile=True), "cpu", input_hw=(16, 12))
    assert runner.compiled == (where == "at_first_call")
    torch.testing.assert_close(runner(x), expected)
    assert not runner.compiled
    assert "forced failure" in caplog.text and "eager" in caplog.text
    torch.testing.assert_close(runner(x), expected)  # stays eager, no second warning
    assert caplog.text.count("forced failure") == 1


@pytest.mark.parametrize("mode, message", [
    (InferenceMode(precision="fp16"), "fp16 needs a CUDA device, got cpu; use bf16 on CPU"),
    (InferenceMode(cuda_graphs=True), "cuda_graphs needs a CUDA device, got cpu"),
])
def test_cuda_only_modes_refuse_cpu(mode, message):
    with pytest.raises(ValueError, match=message):
        ModelRunner(_Tiny(), mode, "cpu", input_hw=(16, 12))


@pytest.mark.parametrize("kwargs, message", [
    ({"backend": "onnxruntime", "precision": "bf16", "compile": True},
     "onnxruntime runs fp32 only; remove precision bf16, compile"),
    ({"compile": True, "cuda_graphs": True}, "exclude each other"),
    ({"graph_buckets": (4, 2)}, "increasing positive batch sizes"),
    ({"graph_buckets": ()}, "increasing positive batch sizes"),
])
def test_invalid_mode_combinations(kwargs, message):
    with pytest.raises(ValueError, match=message):
        InferenceMode(**kwargs)


def test_labels_round_trip():
    cases = {
        "fp32": InferenceMode(),
        "bf16+cl": InferenceMode(precision="bf16", channels_last=True),
        "fp16+cl+graphs": InferenceMode(precision="fp16", channels_last=True, cuda_graphs=True),
        "fp32+compile": InferenceMode(compile=True),
        "ort": InferenceMode(backend="onnxruntime"),
    }
    for label, mode in cases.items():
        assert mode.label == label and InferenceMode.from_label(label) == mode
    assert InferenceMode.from_label("cl") == InferenceMode(channels_last=True)
    for bad in ["fp8", "fp32+cl+cl", "ort+cl", "bf16+graph"]:
        with pytest.raises(ValueError, match="bad inference mode"):
            InferenceMode.from_label(bad)


def test_inference_config_section():
    exp = load_config(Experiment, None, ["inference.precision=bf16", "inference.channels_last=true",
                                         "inference.graph_buckets=[1,8]"])
    assert exp.inference == InferenceMode(precision="bf16", channels_last=True, graph_buckets=(1, 8))
    assert load_config(Experiment).inference == InferenceMode()
    with pytest.raises(ConfigError, match=r"inference.precision: 'fp8' is not one of \['fp32', 'fp16', 'bf16'\]"):
        load_config(Experiment, None, ["inference.precision=fp8"])


# --- CLI: `posetrack test` inference flags, `posetrack bench modes` -------------------------------

CONFIG = str(Path(__file__).resolve().parents[1] / "configs" / "coco" / "hrnet_w32_256x192.yaml")
SMALL_W8 = ["--set", "model.width=8", "--set", "data.input_size=[64,64]", "--set", "data.heatmap_size=[16,16]"]


@pytest.fixture(scope="module")
def peaky_checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "peaky_hrnet_w8.pth"
    torch.save(_peaky_hrnet_w8().state_dict(), path)
    return path


def _posetrack_test(monkeypatch, capsys, coco_sample, checkpoint, out, *flags):
    run = cli_runner(monkeypatch, capsys, "test")
    return run("test", "--config", CONFIG, "--weights", str(checkpoint), "--ann", str(coco_sample / "test_coco.json"),
               "--images", str(coco_sample), "--gt-boxes", "--no-flip", "--out", str(out), *SMALL_W8, *flags)


def test_posetrack_test_inference_flags_reach_the_estimator(monkeypatch, capsys, caplog, tmp_path, coco_sample,
                                                            peaky_checkpoint):
    caplog.set_level(logging.INFO, logger="posetrack.models.runtime")
    results = {}
    for name, flags in {"plain": ("--mode", "fp32"), "cl": ("--channels-last",)}.items():
        caplog.clear()
        rc, _, err = _posetrack_test(monkeypatch, capsys, coco_sample, peaky_checkpoint, tmp_path / name, *flags)
        assert rc == 0, err
        assert f"inference mode {'fp32+cl' if name == 'cl' else 'fp32'} on cpu" in caplog.text
        results[name] = json.loads((tmp_path / name / "keypoints_test_coco_results.json").read_text())
    assert len(results["cl"]) == len(results["plain"]) > 0
    for a, b in zip(results["plain"], results["cl"]):
        assert a["image_id"] == b["image_id"]
        np.testing.assert_allclose(np.reshape(b["keypoints"], (17, 3))[:, :2],
                                   np.reshape(a["keypoints"], (17, 3))[:, :2], atol=1e-3)


@pytest.mark.parametrize("flags, message", [
    (("--precision", "fp16"), "fp16 needs a CUDA device, got cpu; use bf16 on CPU"),
    (("--cuda-graphs",), "cuda_graphs needs a CUDA device"),
    (("--backend", "onnxruntime", "--channels-last"), "onnxruntime runs fp32 only; remove channels_last"),
    (("--set", "inference.precision=bf16", "--backend", "onnxruntime"), "remove precision bf16"),
])
def test_posetrack_test_refuses_impossible_modes(monkeypatch, capsys, tmp_path, coco_sample, peaky_checkpoint,
                                                 flags, message):
    rc, out, err = _posetrack_test(monkeypatch, capsys, coco_sample, peaky_checkpoint, tmp_path / "o", *flags)
    assert rc == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_bench_modes_json(monkeypatch, capsys):
    run = cli_runner(monkeypatch, capsys, "bench")
    rc, out, err = run("bench", "modes", "--model", "hrnet_w8", "--input", "64x64", "--batch-sizes", "1,2",
                       "--modes", "fp32+cl", "--iters", "1", "--warmup", "0", "--device", "cpu", "--json")
    assert rc == 0, err
    report = json.loads(out)
    assert report["device"] == "cpu" and report["input_hw"] == [64, 64] and report["peak_rss_mb"] > 0
    assert len(report["loadavg"]) == 3 and report["cpu_count"] >= 1
    rows = {(r["impl"], r["mode"], r["batch"]): r for r in report["results"]}
    ours, timm = "posetrack:hrnet_w8", "timm:hrnet_w32"
    # fp32 eager (the baseline) is measured first although not asked for
    assert list(rows) == [(impl, m, b) for impl in (ours, timm) for m in ("fp32", "fp32+cl") for b in (1, 2)]
    for (impl, mode, b), r in rows.items():
        assert r["crops_per_s"] == pytest.approx(b * 1e3 / r["ms_per_batch"])
        assert r["vs_fp32"] == pytest.approx(r["crops_per_s"] / rows[(impl, "fp32", b)]["crops_per_s"])
        assert r["vs_timm"] == pytest.approx(r["crops_per_s"] / rows[(timm, "fp32", b)]["crops_per_s"])
        assert r["peak_gpu_mb"] is None and r["compiled"] is None and r["rss_mb"] > 0


@pytest.mark.parametrize("argv, message", [
    (("--modes", "fp32,fp8"), "bad inference mode 'fp8'"),
    (("--modes", "fp16+cl",), "fp16 needs a CUDA device, got cpu"),
    (("--modes", "bf16+graphs",), "cuda_graphs needs a CUDA device"),
])
def test_bench_modes_bad_arguments(monkeypatch, capsys, argv, message):
    run = cli_runner(monkeypatch, capsys, "bench")
    rc, out, err = run("bench", "modes", "--model", "hrnet_w8", "--no-timm", "--device", "cpu", *argv)
    assert rc == 2 and out == "" and message in err


def test_graph_buckets_pad_chunk_and_slice(monkeypatch):
    """The CUDA-graph batching logic, with capture/replay replaced by a CPU re-run of the same buffers.

    (Capture itself needs CUDA and is not exercised on CPU.)
    """
    import posetrack.models.runtime as runtime

    made = []

    class CpuBucket(runtime._GraphBucket):
        def __init__(self, fn, batch, sample_shape, device, memory_format):
            self.input = torch.zeros(batch, *sample_shape).contiguous(memory_format=memory_format)
            self.output = fn(self.input)
            self.graph = self
            self._fn = fn
            made.append(batch)

        def replay(self):  # a graph replay recomputes the static output from the static input
            self.output.copy_(self._fn(self.input))

    monkeypatch.setattr(runtime, "_GraphBucket", CpuBucket)
    monkeypatch.setattr(InferenceMode, "check_device", lambda self, device: None)
    torch.manual_seed(0)
    model = _Tiny().eval()
    runner = ModelRunner(model, InferenceMode(cuda_graphs=True, channels_last=True, graph_buckets=(1, 4, 8)), "cpu",
                         input_hw=(16, 12))
    # every bucket is captured when the runner is built (before a pipeline's threads use the GPU)
    assert made == [1, 4, 8]
    for n in (3, 20, 1, 8):  # 20 = 8 + 8 + 4: chunks of the largest bucket, remainder padded
        x = torch.randn(n, 3, 16, 12)
        torch.testing.assert_close(runner(x), model(x))
    assert made == [1, 4, 8]  # nothing captured later
    assert runner(torch.zeros(0, 3, 16, 12)).shape == (0, 5, 4, 3)
    with pytest.raises(ValueError, match=r"captured for crops \(3, 16, 12\), got \(3, 32, 12\)"):
        runner(torch.zeros(2, 3, 32, 12))
