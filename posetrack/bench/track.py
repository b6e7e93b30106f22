"""End-to-end tracking benchmark: frames/s of a whole pipeline, mean ms per stage, peak memory.

Stages run on their own threads, so the per-stage numbers overlap: end-to-end FPS is set by
the slowest thread (usually flow or pose on CPU), not by the sum of the stage times.

In Python (what ``posetrack bench track clip.mp4 --random-weights --detections dets.json
--frames 50 --warmup-frames 5 --set pose.flip_test=false`` runs)::

    from posetrack.bench.track import PipelineBench, bench_pipeline
    spec = PipelineBench("clip.mp4", settings={"pose": {"flip_test": False}}, detections="dets.json",
                         random_weights=True, frames=50, warmup_frames=5)
    result = bench_pipeline(spec)   # {"frames", "fps", "stage_ms": {node: ms/frame}, "peak_rss_mb", ...}
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Mapping

from posetrack.track.graph import Graph

__all__ = ["OLD_DEFAULTS", "PipelineBench", "bench_against_old_defaults", "bench_pipeline", "bench_track",
           "measure_pipeline", "prepared_pipeline", "save_random_weights"]



def _cuda_devices(graph: Graph) -> list:
    """The CUDA devices the graph's stages name (``cuda`` resolved to the current index)."""
    import torch

    if not torch.cuda.is_available():
        return []
    devices = {torch.device(node.stage.params.device) for node in graph.nodes if getattr(node.stage.params, "device", None)}
    return sorted({d if d.index is not None else torch.device("cuda", torch.cuda.current_device())
                   for d in devices if d.type == "cuda"}, key=str)


def bench_track(video: str | Path, graph: Graph, max_frames: int | None = None, warmup_frames: int = 0) -> dict:
    """Run ``graph`` over ``video`` (up to ``max_frames``) without writing outputs.

    Models load before the clock starts; then ``warmup_frames`` frames run untimed through the
    same opened graph (lazy kernel selection, torch.compile, allocator pools), and the timed run
    starts again from the first frame; the clock runs from its start to the last packet out. Returns ``{"frames", "seconds", "fps", "stage_ms": {node name: ms/frame},
    "people_per_frame", "peak_gpu_mb", "peak_rss_mb"}``. ``peak_gpu_mb``: the
    ``torch.cuda.max_memory_allocated`` peak over the run (loaded models included), summed over
    the CUDA devices of the stages; None when no stage is on CUDA. ``peak_rss_mb``: the largest
    process resident memory seen at the start and after each frame out (sampled, so a spike
    between two frames can be missed; ``ru_maxrss`` would include whatever ran before).
    """
    import torch

    from posetrack.bench.timing import rss_mb

    frames = people = 0
    if warmup_frames < 0:
        raise ValueError(f"warmup_frames must be >= 0, got {warmup_frames}")
    with graph:
        if warmup_frames:
            with contextlib.closing(graph.run(video)) as packets:
                for _ in zip(range(warmup_frames), packets):
                    pass
            graph.reset_timers()
        cuda = _cuda_devices(graph)
        for device in cuda:
            torch.cuda.reset_peak_memory_stats(device)  # the peak restarts from what is allocated now
        peak_rss = rss_mb()
        start = time.perf_counter()
        with contextlib.closing(graph.run(video)) as packets:  # stops the workers on an early break
            for packet in packets:
                frames += 1
                tracks = packet.streams.get("tracks")
                people += len(tracks) if tracks is not None else 0
                peak_rss = max(peak_rss, rss_mb())
                if max_frames is not None and frames >= max_frames:
                    break
        seconds = time.perf_counter() - start
        peak_gpu = sum(torch.cuda.max_memory_allocated(d) for d in cuda) / 2**20 if cuda else None
    return {"frames": frames, "seconds": seconds, "fps": frames / seconds if seconds else 0.0,
            "stage_ms": graph.stage_ms(), "people_per_frame": people / max(frames, 1),
            "peak_gpu_mb": peak_gpu, "peak_rss_mb": peak_rss}


def save_random_weights(folder: Path, pose_arch: str = "hrnet_w32", *, detector: bool = True,
                        input_hw: tuple[int, int] = (256, 192)) -> dict[str, dict]:
    """Random-init checkpoints (official formats) for timing without pretrained files.

    Returns ``build_graph`` settings pointing the pose (and, with ``detector``, the detect)
    stage at them; the pose stage gets ``input_hw`` (crop height, width) as its input size.
    The random detector finds no confident person, so pair it with ``--detections`` (and
    ``detector=False``: no 160 MB file to write) to load the pose stage realistically. The pose
    weights are the same in every call (seed 0, the caller's RNG untouched): a benchmark's
    pipelines load one network, and ``mode: auto`` probes it once per machine.
    """
    import torch
    from torchvision.models.detection import fasterrcnn_resnet50_fpn

    from posetrack.models import build_model

    folder = Path(folder)
    pose_path = folder / f"{pose_arch}_random.pth"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        torch.save(build_model(pose_arch).state_dict(), pose_path)
    settings: dict[str, dict] = {"pose": {"weights": str(pose_path), "arch": pose_arch,
                                          "input_size": [input_hw[1], input_hw[0]]}}
    if detector:
        det_path = folder / "fasterrcnn_random.pth"
        torch.save(fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91).state_dict(), det_path)
        settings["detect"] = {"weights": str(det_path)}
    return settings


# The defaults before issue 14 (`mode: auto`, detector precision auto), for ``old_defaults``.
OLD_DEFAULTS = {"pose": {"mode": "fp32"}, "detect": {"precision": "fp32"}}


@dataclass(frozen=True)
class PipelineBench:
    """A pipeline under test and how long to run it.

    ``settings``: ``build_graph`` settings (``{"pose": {"flip_test": False}, "*": {"device": "cuda"}}``,
    see ``posetrack.track.pipeline.parse_overrides`` for ``--set`` items). ``detections``: a
    COCO-results file that replaces the detector. ``random_weights``: random-init pose weights
    (``settings["pose"]["arch"]``, default hrnet_w32; input 256x192) and detector weights, written to
    a temporary folder; ``settings`` win over them. ``frames``: stop after this many timed frames
    (None: the whole video); ``warmup_frames`` run untimed first in the same opened graph.
    ``old_defaults``: the pipeline as it ran before `mode: auto` and ``pose_ahead`` (the pose
    network in fp32 eager on every box inside the recurrent thread, the detector backbone in
    fp32): ``OLD_DEFAULTS`` over ``settings``, ``pose_ahead`` nodes dropped.
    """

    video: str | Path
    pipeline: str | Path | None = None
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    detections: str | Path | None = None
    random_weights: bool = False
    frames: int | None = None
    warmup_frames: int = 0
    old_defaults: bool = False

    def __post_init__(self) -> None:
        from posetrack.errors import InputError

        if self.frames is not None and self.frames < 1:
            raise InputError(f"frames must be positive, got {self.frames}")
        if self.warmup_frames < 0:
            raise InputError(f"warmup_frames must be >= 0, got {self.warmup_frames}")


@contextlib.contextmanager
def prepared_pipeline(spec: PipelineBench) -> Iterator[Graph]:
    """The ``Graph`` of ``spec`` (not yet opened), its random weights kept as long as the block.

    A missing video, a missing detections file or a bad setting raises before any model loads.
    """
    from posetrack.errors import InputNotFoundError
    from posetrack.track.pipeline import load_pipeline, merge_settings, pipeline_graph

    if not Path(spec.video).exists():
        raise InputNotFoundError(f"input not found: {spec.video}")
    settings = {stage: dict(values) for stage, values in spec.settings.items()}
    with tempfile.TemporaryDirectory() as tmp:
        random: dict[str, dict] = {}
        if spec.random_weights:
            # No detector file when it would not be used: detections replace it, HOG has none.
            detector = spec.detections is None and settings.get("detect", {}).get("backend") != "hog"
            random = save_random_weights(Path(tmp), settings.get("pose", {}).get("arch") or "hrnet_w32",
                                         detector=detector)
        settings = merge_settings(random, settings)
        if spec.old_defaults:
            stages = {n.stage for n in load_pipeline(spec.pipeline).nodes} - ({"detect"} if spec.detections else set())
            settings = merge_settings(settings, {k: v for k, v in OLD_DEFAULTS.items() if k in stages})
        yield pipeline_graph(spec.pipeline, settings, detections=spec.detections, pose_ahead=not spec.old_defaults)


def measure_pipeline(spec: PipelineBench, graph: Graph) -> dict:
    """``bench_track`` of ``graph`` over ``spec.video`` plus what was measured: video, stage devices,
    random weights, warm-up frames and the pose network as it ran (``pose``: arch, input_size [w, h],
    mode, flip_test, weights; None without a pose stage)."""
    from posetrack.track.stages.pose import PoseStage

    result = bench_track(spec.video, graph, spec.frames, warmup_frames=spec.warmup_frames)
    devices = sorted({str(n.stage.params.device) for n in graph.nodes if hasattr(n.stage.params, "device")})
    stage = next((n.stage for n in graph.nodes if isinstance(n.stage, PoseStage)), None)
    pose = None if stage is None or stage.choice is None else {
        "arch": stage.choice.arch, "input_size": list(stage.choice.input_size), "mode": stage.mode.label,
        "flip_test": stage.params.flip_test, "weights": stage.choice.name}
    result.update(video=str(spec.video), device=",".join(devices) or "cpu", random_weights=spec.random_weights,
                  warmup_frames=spec.warmup_frames, pose=pose, loadavg=list(os.getloadavg()))
    return result


def bench_pipeline(spec: PipelineBench) -> dict:
    """``measure_pipeline`` of the graph ``spec`` describes (built, timed, closed)."""
    with prepared_pipeline(spec) as graph:
        return measure_pipeline(spec, graph)


def bench_against_old_defaults(spec: PipelineBench) -> dict:
    """``bench_pipeline`` of ``spec``, with the same run under its ``old_defaults`` just before it
    (same clip, frames and weights) as ``"baseline"`` and ``"speedup"`` = FPS over the baseline's.

    The two runs are sequential: on a shared machine compare them with their ``loadavg``.
    """
    old = bench_pipeline(replace(spec, old_defaults=True))
    new = bench_pipeline(spec)
    return {**new, "baseline": old, "speedup": new["fps"] / old["fps"] if old["fps"] else None}
