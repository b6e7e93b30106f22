"""End-to-end tracking benchmark: frames/s of a whole pipeline, mean ms per stage, peak memory.

Stages run on their own threads, so the per-stage numbers overlap: end-to-end FPS is set by
the slowest thread (usually flow or pose on CPU), not by the sum of the stage times.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from posetrack.track.graph import Graph


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

    from posetrack.models.bench import rss_mb

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
    ``detector=False``: no 160 MB file to write) to load the pose stage realistically.
    """
    import torch
    from torchvision.models.detection import fasterrcnn_resnet50_fpn

    from posetrack.models import build_model

    folder = Path(folder)
    pose_path = folder / f"{pose_arch}_random.pth"
    torch.save(build_model(pose_arch).state_dict(), pose_path)
    settings: dict[str, dict] = {"pose": {"weights": str(pose_path), "arch": pose_arch,
                                          "input_size": [input_hw[1], input_hw[0]]}}
    if detector:
        det_path = folder / "fasterrcnn_random.pth"
        torch.save(fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91).state_dict(), det_path)
        settings["detect"] = {"weights": str(det_path)}
    return settings
