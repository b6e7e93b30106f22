"""How a heatmap network runs at inference: precision, memory format, compilation, CUDA graphs, ONNX Runtime.

:class:`InferenceMode` is the ``inference`` config section (a frozen dataclass);
:class:`ModelRunner` runs a model that way. Its contract is the plain forward's:
(B, 3, h, w) float32 normalised crops on ``device`` -> (B, K, h/4, w/4) float32 on
``device``. The default mode (torch, fp32, eager) is exactly ``model(x)``.

Modes and where they run:

- ``precision``: ``torch.autocast`` to fp16 (CUDA only) or bf16 (CPU and CUDA); output back to fp32.
- ``channels_last``: model and input in NHWC memory format (CPU, CUDA).
- ``compile``: ``torch.compile``; falls back to eager, with a warning, when it fails (e.g. no
  C++/Triton toolchain), whether at ``torch.compile`` or lazily at a call. Inductor's cache is
  kept in the torch hub dir, so a later run's compile is short.
- ``cuda_graphs``: one captured CUDA graph per batch bucket; a batch is padded with zeros to the
  next bucket, larger ones are chunked (CUDA only).
- ``backend="onnxruntime"``: the model exported and checked by
  :func:`posetrack.models.export.export_onnx`, run by onnxruntime's CPU provider (fp32, CPU only).

``mode: auto`` (the pose stage's default) is no mode of its own: :func:`posetrack.models.auto.auto_mode`
picks one of these for the machine and model.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import torch
from torch import nn

logger = logging.getLogger(__name__)

__all__ = ["InferenceMode", "ModelRunner", "DEFAULT_GRAPH_BUCKETS"]

Precision = Literal["fp32", "fp16", "bf16"]
Backend = Literal["torch", "onnxruntime"]
CompileMode = Literal["default", "reduce-overhead", "max-autotune"]

Forward = Callable[[torch.Tensor], torch.Tensor]  # (B, 3, h, w) -> (B, K, h/4, w/4)
AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
# Flip test doubles the estimator's batch (32 -> 64); a tracked frame holds a few people.
DEFAULT_GRAPH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
# Short names of the modes in benchmark tables and ``--modes`` lists, joined with "+".
_FLAG_TOKENS = {"cl": "channels_last", "compile": "compile", "graphs": "cuda_graphs"}


@dataclass(frozen=True)
class InferenceMode:
    """The ``inference`` config section: how the pose network runs (see the module docstring)."""

    backend: Backend = "torch"
    precision: Precision = "fp32"
    channels_last: bool = False
    compile: bool = False
    compile_mode: CompileMode = "default"  # torch.compile(mode=...)
    cuda_graphs: bool = False
    graph_buckets: tuple[int, ...] = DEFAULT_GRAPH_BUCKETS  # batch sizes with a captured graph

    def __post_init__(self) -> None:
        buckets = tuple(self.graph_buckets)
        if not buckets or min(buckets) < 1 or list(buckets) != sorted(set(buckets)):
            raise ValueError(f"inference.graph_buckets must be increasing positive batch sizes, got {list(buckets)}")
        if self.backend == "onnxruntime":
            torch_only = [name for name, on in (("precision " + self.precision, self.precision != "fp32"),
                                                ("channels_last", self.channels_last), ("compile", self.compile),
                                                ("cuda_graphs", self.cuda_graphs)) if on]
            if torch_only:
                raise ValueError(f"inference.backend onnxruntime runs fp32 only; remove {', '.join(torch_only)}")
        if self.compile and self.cuda_graphs:
            # Graph capture of inductor code is torch.compile's own job (compile_mode=reduce-overhead).
            raise ValueError("inference.compile and inference.cuda_graphs exclude each other; "
                             "for compiled CUDA graphs use compile with compile_mode=reduce-overhead")

    def check_device(self, device: torch.device) -> None:
        """Raise ValueError when this mode cannot run on ``device``."""
        if device.type != "cuda":
            if self.precision == "fp16":
                raise ValueError(f"inference precision fp16 needs a CUDA device, got {device}; use bf16 on CPU")
            if self.cuda_graphs:
                raise ValueError(f"inference.cuda_graphs needs a CUDA device, got {device}")
        if self.backend == "onnxruntime" and device.type != "cpu":
            raise ValueError(f"inference.backend onnxruntime is the CPU deployment path, got device {device}; "
                             "use the torch backend on GPUs")

    @property
    def label(self) -> str:
        """Short name, e.g. ``fp32``, ``bf16+cl``, ``fp16+cl+graphs``, ``fp32+compile``, ``ort``."""
        if self.backend == "onnxruntime":
            return "ort"
        return "+".join([self.precision] + [t for t, f in _FLAG_TOKENS.items() if getattr(self, f)])

    @classmethod
    def from_label(cls, label: str) -> "InferenceMode":
        """Inverse of :attr:`label` (precision first or implied fp32; tokens cl, compile, graphs; or ort)."""
        tokens = label.strip().split("+")
        if tokens == ["ort"]:
            return cls(backend="onnxruntime")
        precision = tokens.pop(0) if tokens[0] in ("fp32", "fp16", "bf16") else "fp32"
        unknown = [t for t in tokens if t not in _FLAG_TOKENS]
        if unknown or len(set(tokens)) != len(tokens):
            raise ValueError(f"bad inference mode {label!r}: expected [fp32|fp16|bf16][+cl][+compile][+graphs] "
                             "or ort")
        return cls(precision=precision, **{_FLAG_TOKENS[t]: True for t in tokens})


class ModelRunner:
    """Runs ``model`` in ``mode``: (B, 3, h, w) float32 on ``device`` -> (B, K, h/4, w/4) float32 on ``device``.

    The model is moved to ``device`` (and to channels_last if asked) in place and put
    in eval mode. ``input_hw`` = (h, w) of the crops, needed by the ONNX export.
    Raises ValueError when the mode cannot run on ``device``.
    """

    def __init__(self, model: nn.Module, mode: InferenceMode | None = None, device: str | torch.device = "cpu",
                 *, input_hw: tuple[int, int]) -> None:
        self.mode = mode or InferenceMode()
        self.device = torch.device(device)
        self.mode.check_device(self.device)
        self.input_hw = (int(input_hw[0]), int(input_hw[1]))
        self.model = model.to(self.device).eval()
        self._memory_format = torch.channels_last if self.mode.channels_last else torch.contiguous_format
        if self.mode.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self._compiled: Forward | None = None
        self._graphs: dict[int, _GraphBucket] = {}
        self._session = None
        if self.mode.backend == "onnxruntime":
            self._session = _onnx_session(self.model, self.input_hw)
        elif self.mode.compile:
            _keep_inductor_cache()
            self._compiled = _try_compile(self._eager, self.mode.compile_mode)
        elif self.mode.cuda_graphs:
            # Every bucket is captured now, not at its first batch: a capture mid-video would run
            # while other pipeline threads use the GPU, which CUDA graph capture does not allow.
            logger.info("capturing CUDA graphs for batches %s (%s)", list(self.mode.graph_buckets), self.mode.label)
            self._graphs = {size: _GraphBucket(self._eager, size, (3, *self.input_hw), self.device,
                                               self._memory_format) for size in self.mode.graph_buckets}
        if self.device.type == "cuda":
            # The weight moves above were queued on this thread's stream; callers run on their own.
            torch.cuda.synchronize(self.device)
        logger.info("inference mode %s on %s", self.mode.label, self.device)

    @property
    def compiled(self) -> bool:
        """True while the torch.compile path is in use (False after a fall-back to eager)."""
        return self._compiled is not None

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.mode.precision == "fp32":
            return contextlib.nullcontext()
        # The weight-cast cache must be off inside CUDA graph capture (torch docs).
        return torch.autocast(self.device.type, dtype=AUTOCAST_DTYPES[self.mode.precision],
                              cache_enabled=not self.mode.cuda_graphs)

    def _eager(self, x: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            return self.model(x.contiguous(memory_format=self._memory_format)).float()

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._session is not None:
            from posetrack.models.export import INPUT_NAME, OUTPUT_NAME

            (out,) = self._session.run([OUTPUT_NAME], {INPUT_NAME: x.detach().float().cpu().contiguous().numpy()})
            return torch.from_numpy(out)
        if self.mode.cuda_graphs:
            return self._run_graphs(x)
        if self._compiled is not None:
            try:
                return self._run_compiled(x)
            except Exception as exc:  # compilation is lazy: toolchain errors surface at the first call
                logger.warning("torch.compile failed at run time (%s: %s); falling back to eager",
                               type(exc).__name__, " ".join(str(exc).split())[:500])
                self._compiled = None
        return self._eager(x)

    def _run_compiled(self, x: torch.Tensor) -> torch.Tensor:
        """One compiled graph for every batch size: the batch dimension is dynamic from the first call.

        Left to itself dynamo compiles a static graph first and a dynamic one at the second batch
        size (HRNet-W32 on 2 CPU cores: 91 s + 111 s, against 121 s for this one graph), and the
        ``auto`` probe's batch of 8 would leave a pose stage's first frame of another size to
        compile anew. Dynamo specialises sizes 0 and 1, so one crop runs padded to two and an
        empty batch runs eager (there is nothing to compute).
        """
        if len(x) == 0:
            return self._eager(x)
        if len(x) == 1:
            return self._compiled(torch.cat([x, x]))[:1]
        torch._dynamo.mark_dynamic(x, 0)
        return self._compiled(x)

    def _run_graphs(self, x: torch.Tensor) -> torch.Tensor:
        buckets = self.mode.graph_buckets
        outputs = []
        for start in range(0, max(len(x), 1), buckets[-1]):
            chunk = x[start:start + buckets[-1]]
            size = next(b for b in buckets if b >= len(chunk))
            outputs.append(self._graphs[size](chunk))
        return torch.cat(outputs)


def _keep_inductor_cache() -> None:
    """Point inductor's on-disk cache into the torch hub dir (unless the user chose one): its default,
    /tmp/torchinductor_$USER, goes with a reboot, and then every run pays the minutes of compiling again."""
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(Path(torch.hub.get_dir()) / "posetrack_inductor"))


def _try_compile(fn: Forward, mode: str) -> Forward | None:
    """``torch.compile(fn)``, or None (logged) when torch.compile itself refuses."""
    try:
        return torch.compile(fn, mode=mode)
    except Exception as exc:  # e.g. an unsupported Python/platform
        logger.warning("torch.compile unavailable (%s: %s); running eager", type(exc).__name__, exc)
        return None


class _GraphBucket:
    """One CUDA graph for a fixed batch: static input and output buffers, padded with zeros."""

    def __init__(self, fn: Forward, batch: int, sample_shape: tuple[int, ...],
                 device: torch.device, memory_format: torch.memory_format) -> None:
        self.input = torch.zeros(batch, *sample_shape, device=device).contiguous(memory_format=memory_format)
        # Warm-up on a side stream (cuDNN autotuning, lazy inits) must precede capture.
        stream = torch.cuda.Stream(device)
        stream.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(stream):
            for _ in range(3):
                fn(self.input)
        torch.cuda.current_stream(device).wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.output = fn(self.input)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != tuple(self.input.shape[1:]):
            raise ValueError(f"CUDA graph captured for crops {tuple(self.input.shape[1:])}, got {tuple(x.shape[1:])}")
        n = len(x)
        self.input[:n].copy_(x)
        self.input[n:].zero_()
        self.graph.replay()
        return self.output[:n].clone()  # the static buffer is overwritten by the next replay


def model_fingerprint(model: nn.Module, input_hw: tuple[int, int]) -> str:
    """Architecture, input size and a checksum of the weights: equal for copies of one network."""
    params = list(model.parameters())
    with torch.no_grad():
        total = sum(float(p.detach().double().sum()) for p in params)
        squares = sum(float(p.detach().double().square().sum()) for p in params)
    return (f"{type(model).__name__} {sum(p.numel() for p in params)} params, input {input_hw[0]}x{input_hw[1]}, "
            f"weights sum {total:.9e} sq {squares:.9e}")


# Sessions of recent exports, shared by runners of the same network (the auto probe, pose_ahead and
# pose all run one model): exporting HRNet-W32 takes tens of seconds on a CPU. onnxruntime allows
# concurrent run() calls on one session.
_ONNX_SESSIONS: OrderedDict[tuple[str, int], object] = OrderedDict()
_ONNX_KEEP = 2
_ONNX_LOCK = threading.Lock()


def _onnx_session(model: nn.Module, input_hw: tuple[int, int]):
    """An onnxruntime session (CPU provider) of ``model``: a recent one of the same weights, else a new export."""
    key = (model_fingerprint(model, input_hw), torch.get_num_threads())
    with _ONNX_LOCK:
        if key in _ONNX_SESSIONS:
            _ONNX_SESSIONS.move_to_end(key)
            logger.info("onnxruntime session of the same weights reused")
            return _ONNX_SESSIONS[key]
        session = _ONNX_SESSIONS[key] = _export_session(model, input_hw)
        while len(_ONNX_SESSIONS) > _ONNX_KEEP:
            _ONNX_SESSIONS.popitem(last=False)
    return session


def _export_session(model: nn.Module, input_hw: tuple[int, int]):
    """Export ``model`` with MODEL's checked exporter and open it in onnxruntime (CPU provider)."""
    import onnxruntime as ort

    from posetrack.models.export import export_onnx

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # like-for-like with the torch backend
    # Idle workers sleep instead of spinning: the tracker's detect and flow threads need the cores
    # between operators (vtest.avi, 2 cores: pipeline 18.3 -> 16.2 s, docs/benchmarks.md section 7).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    with tempfile.TemporaryDirectory(prefix="posetrack-onnx-") as tmp:
        report = export_onnx(model, Path(tmp) / "model.onnx", input_hw)
        # The session holds the graph in memory; the file can go with the folder.
        session = ort.InferenceSession(str(report.path), options, providers=["CPUExecutionProvider"])
    logger.info("onnxruntime session ready (export max abs diff vs PyTorch %.3g)", report.max_abs_diff)
    return session
