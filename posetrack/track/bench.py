"""End-to-end tracking benchmark: frames/s of a whole pipeline and mean ms per stage.

Stages run on their own threads, so the per-stage numbers overlap: end-to-end FPS is set by
the slowest thread (usually flow or pose on CPU), not by the sum of the stage times.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from posetrack.track.graph import Graph


def bench_track(video: str | Path, graph: Graph, max_frames: int | None = None) -> dict:
    """Run ``graph`` over ``video`` (up to ``max_frames``) without writing outputs.

    Models load before the clock starts; the clock runs from the start of the run to the
    last packet out. Returns ``{"frames", "seconds", "fps", "stage_ms": {stage: ms/frame},
    "people_per_frame"}``.
    """
    frames = people = 0
    with graph:
        start = time.perf_counter()
        with contextlib.closing(graph.run(video)) as packets:  # stops the workers on an early break
            for packet in packets:
                frames += 1
                tracks = packet.streams.get("tracks")
                people += len(tracks) if tracks is not None else 0
                if max_frames is not None and frames >= max_frames:
                    break
        seconds = time.perf_counter() - start
    return {"frames": frames, "seconds": seconds, "fps": frames / seconds if seconds else 0.0,
            "stage_ms": graph.stage_ms(), "people_per_frame": people / max(frames, 1)}


def save_random_weights(folder: Path, pose_arch: str = "hrnet_w32") -> dict[str, dict[str, str]]:
    """Random-init checkpoints (official formats) for timing without pretrained files.

    Returns ``build_graph`` settings pointing the pose and detect stages at them. The
    random detector finds no confident person, so pair it with ``--detections`` to load
    the pose stage realistically.
    """
    import torch
    from torchvision.models.detection import fasterrcnn_resnet50_fpn

    from posetrack.models import build_model

    folder = Path(folder)
    pose_path, det_path = folder / f"{pose_arch}_random.pth", folder / "fasterrcnn_random.pth"
    torch.save(build_model(pose_arch).state_dict(), pose_path)
    torch.save(fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91).state_dict(), det_path)
    return {"pose": {"weights": str(pose_path), "arch": pose_arch}, "detect": {"weights": str(det_path)}}
