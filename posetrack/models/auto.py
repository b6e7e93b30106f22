"""``mode: auto``: the fastest inference mode of this machine whose keypoints equal fp32 eager's.

:func:`auto_mode` (the pose stage's and ``posetrack test``'s default) answers from a small cache
file, ``<torch hub dir>/posetrack_auto_modes.json``, keyed by machine (CPU model and its bf16
units, or GPU name), torch version and model (architecture, input size, a checksum of the
weights). On a miss it probes: four real person crops (``assets/probe_people.png``, see
``tools/make_probe_crops.py``) and their mirrors, i.e. one flip-test batch of 8, go through
fp32 eager and each candidate of the device:

- CPU with AMX or avx512_bf16: ``bf16+cl+compile``, ``bf16+cl``, then as other CPUs;
- other CPUs: ``ort`` (when onnxruntime imports), ``fp32+cl``;
- CUDA: ``fp16+cl+graphs``, ``fp16+cl``, ``fp32+cl``.

A candidate counts only when it agrees with fp32 eager within the tolerances the parity tests
state (``tests/test_models_runtime.py``): fp32 modes within :data:`TIGHT_HEATMAP_TOL` of each
map's range with peaks within :data:`TIGHT_PEAK_PX`; fp16/bf16 within :data:`LOOSE_HEATMAP_TOL`
with at least :data:`LOOSE_PEAK_SHARE` of the peaks within one heatmap px. The most crops/s
wins (fp32 eager itself included), the choice is logged in one line and written atomically
into the cache, so later opens skip the probe. A compile that fails, or whose first call
exceeds :data:`COMPILE_BUDGET_S`, is dropped with a warning.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from posetrack.models.runtime import InferenceMode, ModelRunner, model_fingerprint
from posetrack.resources import package_path

logger = logging.getLogger(__name__)

__all__ = ["auto_mode", "cache_path", "candidate_labels", "machine_key", "agrees_with_fp32", "PROBE_IMAGE"]

CACHE_NAME = "posetrack_auto_modes.json"
CACHE_ENTRIES = 32  # the newest probes kept in the cache file
PROBE_IMAGE = package_path("models", "assets", "probe_people.png")
PROBE_CROP_W = 96  # width of each crop in PROBE_IMAGE (laid side by side)
TIGHT_HEATMAP_TOL = 1e-4  # fp32 modes (cl, ort: 1e-5 in the tests; compile: 1e-4), of each map's range
TIGHT_PEAK_PX = 1e-3  # fp32 modes: peaks within this many heatmap px (the tests' 1e-3 image px, or less)
LOOSE_HEATMAP_TOL = 0.10  # bf16 / fp16, of each map's range
LOOSE_PEAK_SHARE = 0.80  # bf16 / fp16: share of peaks within one heatmap px
COMPILE_BUDGET_S = 300.0  # longest first (compiling) call accepted; the inductor cache makes later ones short
TIMED_CALLS = 3  # per mode, after its untimed first call; the fastest counts


def cpu_has_bf16() -> bool:
    """True when the CPU has AMX tiles or AVX512-BF16 (where bf16 autocast beats fp32)."""
    return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())


def machine_key(device: torch.device) -> str:
    """The GPU name, or the CPU model with its bf16 units: what decides which mode is fastest."""
    if device.type == "cuda":
        return f"cuda {torch.cuda.get_device_name(device)}"
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:  # not Linux
        pass
    units = [name for name, on in (("amx", torch.cpu._is_amx_tile_supported()),
                                   ("avx512_bf16", torch.cpu._is_avx512_bf16_supported()),
                                   ("avx512", torch.cpu._is_avx512_supported())) if on]
    return f"cpu {model} [{' '.join(units) or 'no avx512'}]"


def candidate_labels(device: torch.device) -> list[str]:
    """Modes worth probing on ``device``, besides the fp32 eager reference (see the module docstring)."""
    if device.type == "cuda":
        return ["fp16+cl+graphs", "fp16+cl", "fp32+cl"]
    labels = ["bf16+cl+compile", "bf16+cl"] if cpu_has_bf16() else []
    try:
        import onnxruntime  # noqa: F401
        labels.append("ort")
    except ImportError:
        pass
    return labels + ["fp32+cl"]


def cache_path() -> Path:
    return Path(torch.hub.get_dir()) / CACHE_NAME


def probe_crops(input_hw: tuple[int, int]) -> torch.Tensor:
    """The bundled person crops and their mirrors, resized to ``input_hw``: (8, 3, h, w) normalised float."""
    import cv2

    from posetrack.io.image import read_image_rgb
    from posetrack.models.weights import IMAGENET_MEAN, IMAGENET_STD

    strip = read_image_rgb(PROBE_IMAGE)
    h, w = input_hw
    crops = [cv2.resize(strip[:, i:i + PROBE_CROP_W], (w, h), interpolation=cv2.INTER_LINEAR)
             for i in range(0, strip.shape[1], PROBE_CROP_W)]
    x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().div(255.0)
    x = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return torch.cat([x, torch.flip(x, dims=[3])])


def agrees_with_fp32(mode: InferenceMode, got: np.ndarray, ref: np.ndarray) -> str | None:
    """None when heatmaps ``got`` (N, K, H, W) of ``mode`` agree with fp32 eager's ``ref``, else why not."""
    from posetrack.pose.codec import find_peaks

    if not np.isfinite(got).all():
        return "non-finite heatmaps"
    n, k = ref.shape[:2]
    flat_ref, flat_got = ref.reshape(n, k, -1), got.reshape(n, k, -1)
    spread = np.maximum(flat_ref.max(2) - flat_ref.min(2), np.finfo(np.float32).tiny)
    heat_err = float((np.abs(flat_got - flat_ref).max(2) / spread).max())
    peak_px = np.abs(find_peaks(got)[0] - find_peaks(ref)[0]).max(2)
    if mode.precision == "fp32":
        if heat_err > TIGHT_HEATMAP_TOL or peak_px.max() > TIGHT_PEAK_PX:
            return f"heatmaps {heat_err:.2g} of range, peaks {peak_px.max():.2g} px from fp32"
        return None
    share = float((peak_px <= 1.0).mean())
    if heat_err > LOOSE_HEATMAP_TOL or share < LOOSE_PEAK_SHARE:
        return f"heatmaps {heat_err:.2g} of range, {share:.0%} of peaks within 1 px of fp32"
    return None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(runner: ModelRunner, x: torch.Tensor, device: torch.device) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    out = runner(x)
    _sync(device)
    return time.perf_counter() - start, out


def _warm_runner(model: nn.Module, mode: InferenceMode, device: torch.device, input_hw: tuple[int, int],
                 x: torch.Tensor) -> tuple[ModelRunner, np.ndarray] | str:
    """A runner of ``mode`` after its first (compiling) call and that call's heatmaps, or why it is unusable."""
    if mode.cuda_graphs:  # the probe needs only the bucket of its own batch
        mode = dataclasses.replace(mode, graph_buckets=(len(x),))
    try:
        runner = ModelRunner(copy.deepcopy(model), mode, device, input_hw=input_hw)
        first, out = _timed(runner, x, device)
    except Exception as exc:  # noqa: BLE001 - a mode this machine cannot run is simply not chosen
        return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
    if mode.compile and not runner.compiled:
        return "torch.compile failed (see the warning above)"
    if mode.compile and first > COMPILE_BUDGET_S:
        return f"torch.compile took {first:.0f} s, over the {COMPILE_BUDGET_S:.0f} s budget"
    return runner, out.float().cpu().numpy()


def _probe(model: nn.Module, device: torch.device, input_hw: tuple[int, int],
           x: torch.Tensor) -> tuple[dict[str, float], dict[str, str]]:
    """Crops/s of fp32 eager and of each candidate that agrees with it; why the others were dropped.

    The timed calls go round the modes in turn and each keeps its fastest, so that load from other
    processes, which comes and goes, is spread over all modes instead of deciding between them.
    """
    reference = _warm_runner(model, InferenceMode(), device, input_hw, x)
    if isinstance(reference, str):
        raise RuntimeError(f"mode auto: fp32 eager failed on the probe crops: {reference}")
    runners, rejected = {"fp32": reference[0]}, {}
    for label in candidate_labels(device):
        mode = InferenceMode.from_label(label)
        result = _warm_runner(model, mode, device, input_hw, x)
        why = result if isinstance(result, str) else agrees_with_fp32(mode, result[1], reference[1])
        if why is None:
            runners[label] = result[0]
        else:
            rejected[label] = why
            if mode.compile:  # the notice the user needs: compiling was tried and given up
                logger.warning("mode auto: not using %s: %s", label, why)
    best = {label: float("inf") for label in runners}
    for _ in range(TIMED_CALLS):
        for label, runner in runners.items():
            best[label] = min(best[label], _timed(runner, x, device)[0])
    return {label: len(x) / seconds for label, seconds in best.items()}, rejected


def _read_cache(path: Path) -> dict:
    from posetrack.io.jsonfile import read_json

    try:
        data = read_json(path)
        return data if isinstance(data, dict) else {}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:  # a damaged cache is re-probed and rewritten, never fatal
        logger.warning("ignoring unreadable inference-mode cache %s (%s)", path, exc)
        return {}


def auto_mode(model: nn.Module, device: str | torch.device, input_hw: tuple[int, int]) -> InferenceMode:
    """The mode ``auto`` stands for: cached for this machine, torch and model, else probed (and cached)."""
    from posetrack.io.atomic import write_json_atomic

    device = torch.device(device)
    input_hw = (int(input_hw[0]), int(input_hw[1]))
    candidates = candidate_labels(device)  # in the key: a venv without onnxruntime keeps its own choice
    key = (f"{machine_key(device)} | torch {torch.__version__} | {model_fingerprint(model, input_hw)} | "
           f"modes {','.join(candidates)}")
    path = cache_path()
    entry = _read_cache(path).get(key)
    # a choice this environment cannot run now (ort cached, onnxruntime since uninstalled) is probed again
    if isinstance(entry, dict) and entry.get("mode") in ("fp32", *candidates):
        try:
            mode = InferenceMode.from_label(entry["mode"])
            mode.check_device(device)
        except ValueError:
            pass  # a hand-edited or stale entry: probe again
        else:
            logger.info("inference mode auto -> %s on %s (cached in %s)", mode.label, device, path)
            return mode
    was_training = model.training
    model.eval()
    x = probe_crops(input_hw).to(device)
    quiet = [logging.getLogger(f"posetrack.models.{name}") for name in ("runtime", "export")]
    levels = [q.level for q in quiet]
    for q in quiet:  # one line for the probe, not one per candidate; warnings still show
        q.setLevel(max(q.level, logging.WARNING))
    try:
        measured, rejected = _probe(model, device, input_hw, x)
    finally:
        for q, level in zip(quiet, levels):
            q.setLevel(level)
        model.train(was_training)
    best = max(measured, key=measured.get)
    cache = _read_cache(path)  # re-read: another process may have added its own entries meanwhile
    cache[key] = {"mode": best, "crops_per_s": {k: round(v, 2) for k, v in measured.items()}, "rejected": rejected,
                  "probed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    # benchmarks probe random weights, a new key each run: only the newest CACHE_ENTRIES stay
    cache = dict(sorted(cache.items(), key=lambda kv: str(kv[1].get("probed", "")) if isinstance(kv[1], dict)
                        else "")[-CACHE_ENTRIES:])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, cache, indent=1)
    except OSError as exc:  # a read-only hub dir costs a probe per run, nothing else
        logger.warning("cannot write the inference-mode cache %s (%s)", path, exc)
    logger.info("inference mode auto -> %s on %s (probed %s crops/s%s; cached in %s)", best, device,
                ", ".join(f"{k} {v:.1f}" for k, v in sorted(measured.items(), key=lambda kv: -kv[1])),
                "; rejected " + ", ".join(rejected) if rejected else "", path)
    return InferenceMode.from_label(best)
