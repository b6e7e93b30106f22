"""Run facts: what a ``posetrack track`` run of one video actually used, written next to its outputs.

``OUT_DIR/run/<video>.json`` holds ``input, frames, fps, width, height, stages`` (each node's stage
class and parameters, thresholds included), ``outputs`` (what the PoseTrack files keep: joint and
person score thresholds), ``pose_weights`` (what the pose stage loaded),
``notices`` (the INFO/WARNING lines the stages logged while opening and running: which detector
and flow ran, and every fallback), ``stage_ms`` (mean ms per frame of each stage), ``seconds``
(wall-clock time of the video) and ``posetrack`` (version).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any

from posetrack.io.atomic import write_json_atomic
from posetrack.io.jsonfile import read_json


def facts_path(out_dir: str | os.PathLike, video_name: str) -> Path:
    return Path(out_dir) / "run" / f"{video_name}.json"


class NoticeRecorder(logging.Handler):
    """Collects the messages posetrack's loggers emit at INFO and above while attached.

    Used as ``with NoticeRecorder() as notices: ...``; ``notices.messages`` then lists them in order.
    """

    def __init__(self, logger_name: str = "posetrack"):
        super().__init__(logging.INFO)
        self.messages: list[str] = []
        self._logger = logging.getLogger(logger_name)
        self._level = self._logger.level

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname}: {record.getMessage()}")

    def __enter__(self) -> "NoticeRecorder":
        self._logger.addHandler(self)
        if self._logger.getEffectiveLevel() > logging.INFO:  # record notices even when the CLI is quiet
            self._logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)


def _jsonable(value: Any) -> Any:
    """Params values as JSON (tuples -> lists, paths and other objects -> str)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def graph_facts(graph) -> dict[str, Any]:
    """The stages of an opened ``posetrack.track.graph.Graph``: class, parameters, loaded pose weights."""
    stages, pose_weights = {}, None
    for node in graph.nodes:
        params = getattr(node.stage, "params", None)
        stages[node.name] = {
            "stage": type(node.stage).__name__,
            "params": _jsonable(dataclasses.asdict(params)) if dataclasses.is_dataclass(params) else {},
        }
        choice = getattr(node.stage, "choice", None)
        if dataclasses.is_dataclass(choice):
            pose_weights = _jsonable(dataclasses.asdict(choice))
    return {"stages": stages, "pose_weights": pose_weights}


class RunRecorder:
    """Gathers one tracked video's facts while it runs::

        with RunRecorder(graph, "clip.mp4", fps) as run:  # records the stages' notices meanwhile
            for frame in frames:
                run.add(frame.image)
        write_run_facts(out_dir, "clip", run.facts())

    ``graph``: the opened ``Graph``; ``earlier_notices``: lines logged before, while its models
    loaded (``graph.open()``), which is where the weights, detector and flow choices are logged.
    """

    def __init__(self, graph, source: str, fps: float, earlier_notices: list[str] | tuple[str, ...] = ()):
        self.graph, self.source, self.fps = graph, source, fps
        self.frames, self.size, self.seconds = 0, None, 0.0
        self._earlier = list(earlier_notices)
        self._notices = NoticeRecorder()

    def __enter__(self) -> "RunRecorder":
        self._before = self.graph.stage_totals()
        self._t0 = time.perf_counter()
        self._notices.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._notices.__exit__(*exc)
        self.seconds = time.perf_counter() - self._t0
        self._after = self.graph.stage_totals()

    def add(self, image: Any) -> None:
        """Count one frame; the first image gives the frame size."""
        self.frames += 1
        if self.size is None and image is not None:
            self.size = (int(image.shape[1]), int(image.shape[0]))

    def facts(self, **extra: Any) -> dict[str, Any]:
        """The facts (``extra`` items added: dataclasses become dicts)."""
        stage_ms = {}
        for name, (seconds, frames) in self._after.items():  # this video only: the graph's totals span runs
            s0, f0 = self._before.get(name, (0.0, 0))
            stage_ms[name] = 1000.0 * (seconds - s0) / (frames - f0) if frames > f0 else 0.0
        width, height = self.size or (None, None)
        return {"input": self.source, "frames": self.frames, "fps": self.fps, "width": width, "height": height,
                **graph_facts(self.graph), "notices": self._earlier + self._notices.messages,
                "stage_ms": stage_ms, "seconds": self.seconds,
                **{k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in extra.items()}}


def write_run_facts(out_dir: str | os.PathLike, video_name: str, facts: dict[str, Any]) -> Path:
    """Write ``facts`` to ``OUT_DIR/run/<video>.json`` atomically; returns the path."""
    from posetrack import __version__

    path = facts_path(out_dir, video_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {**_jsonable(facts), "posetrack": __version__}, indent=1)
    return path


def read_run_facts(out_dir: str | os.PathLike, video_name: str) -> dict[str, Any] | None:
    """The facts of a video, or None when the run wrote none (outputs of an older run)."""
    path = facts_path(out_dir, video_name)
    if not path.is_file():
        return None
    facts = read_json(path)
    if not isinstance(facts, dict):
        raise ValueError(f"{path}: run facts must be a JSON object, got {type(facts).__name__}")
    return facts
