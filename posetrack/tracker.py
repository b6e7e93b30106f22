"""``posetrack.VideoTracker``: the Python entry point to tracking (what ``posetrack track`` runs).

    >>> import posetrack
    >>> tracker = posetrack.VideoTracker(
    ...     weights="hrnet_w16_demo_128x96", detections="tests/data/demo_detections.json",
    ...     settings={"flow": {"method": "dis"}, "pose": {"flip_test": False, "mode": "fp32"}})
    >>> with tracker:                                    # loads every model once
    ...     for frame in tracker.track("../shared/data/videos/demo.mp4"):
    ...         print(frame.index, frame.pts, frame.name, frame.poses.track_ids)
    0 0.0 demo/000000.jpg [0 1 2 3 4]
    1 0.2 demo/000001.jpg [1 0 5 6 7 3 2 4 8]
    2 0.4 demo/000002.jpg [ 9  1 10  0  4  7 11 12]
    3 0.6 demo/000003.jpg [ 9  1 13 10  4]
    4 0.8 demo/000004.jpg [ 9 14  1  2 13  7 10  4]

(run from the checkout, whose ``tests/data`` holds those boxes; without ``detections`` the
pipeline's detector finds the people.) The models stay loaded between calls: one tracker
tracks many inputs, each with fresh track ids.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from posetrack.errors import InputError, InputNotFoundError, PosetrackError
from posetrack.report.facts import NoticeRecorder
from posetrack.track.outputs import OutputPaths
from posetrack.track.types import Poses

__all__ = ["VideoTracker", "TrackedFrame", "source_name", "check_writable"]

logger = logging.getLogger(__name__)

ARRAY_NAME = "frames"  # output name of in-memory frames when no ``name=`` is given


@dataclass(frozen=True)
class TrackedFrame:
    """One tracked frame, as ``VideoTracker.track`` streams them.

    index: 0-based frame number; pts: presentation time in seconds (the video's timestamps, or
    index / fps for frame folders and in-memory frames); name: ``<input name>/<frame file>``,
    e.g. ``"clip/000012.jpg"``; poses: the people, ``Poses`` with keypoints (N, K, 3) image px +
    score, scores (N,), boxes (N, 4) x1, y1, x2, y2 and track_ids (N,); image: the decoded
    (H, W, 3) uint8 RGB frame (the array the pipeline used, not a copy).
    """

    index: int
    pts: float
    name: str
    poses: Poses
    image: np.ndarray


def source_name(path: str | os.PathLike) -> str:
    """The output name of a video or frame folder: the video's stem or the folder's name."""
    path = Path(path)
    return path.name if path.is_dir() else path.stem


def check_writable(folder: str | os.PathLike) -> None:
    """Create ``folder`` if needed and make sure a file can be written there (``InputError`` if not)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise InputError(f"cannot write to output folder {folder}: {exc.strerror or exc}") from None


def as_package_error(exc: Exception, prefix: str = "") -> PosetrackError:
    """A new ``PosetrackError`` with ``prefix`` + ``exc``'s message; a missing file stays a
    ``FileNotFoundError`` and a bad value a ``ValueError`` (``InputNotFoundError``, ``InputError``)."""
    cls = InputNotFoundError if isinstance(exc, FileNotFoundError) else \
        InputError if isinstance(exc, ValueError) else PosetrackError
    return cls(f"{prefix}{exc}")


class VideoTracker:
    """Tracks people in videos, frame folders and in-memory frames; loads its models once.

    Args:
        pipeline: pipeline graph file (default ``pipelines/flowtrack.yaml``, shipped in the package).
        weights: pose weights, a registered name (``posetrack.models.weights.list_weights()``) or a
            ``.pth`` path; default ``hrnet_w32_coco_256x192``, offline the bundled demo weights
            (with a notice). Same as ``settings={"pose": {"weights": ...}}``.
        device: torch device for every stage (``"cuda"``, ``"cpu"``); default: each stage's
            ``device:`` in the pipeline file. Same as ``settings={"*": {"device": ...}}``.
        detections: a COCO-results file of person boxes used instead of the detector (``image_id``
            a frame index, frame file name, ``"<video>/<file>"`` or PoseTrack image id).
        settings: stage parameters, ``{STAGE: {PARAM: VALUE}}``, what ``--set STAGE.PARAM=VALUE``
            gives on the command line (``{"pose": {"flip_test": False}}``); they win over
            ``weights`` and ``device``. ``"*"`` sets a parameter of every stage that has it.
            ``{"outputs": {"kpt_thr": T, "person_thr": P}}`` sets what the PoseTrack files keep.
        poses: a COCO keypoint results file whose poses are tracked instead of estimating any
            (no detector, no pose network; frames matched as for ``detections``; joint order
            ``settings={"poses_file": {"keypoints": "posetrack18"}}`` when not COCO's).

    A bad pipeline file or setting raises ``ConfigError`` here, before any model loads; every
    error of this class is a ``posetrack.PosetrackError`` naming the input, file or setting.
    ``with tracker:`` loads the models (``open()``) and releases them (``close()``); without it
    the first ``track()`` / ``save()`` loads them. ``graph`` is the ``posetrack.track.Graph``
    (stage objects, ``graph.stage_ms()``: mean ms per frame of each stage).
    """

    def __init__(self, pipeline: str | os.PathLike | None = None, weights: str | os.PathLike | None = None,
                 device: str | None = None, detections: str | os.PathLike | None = None,
                 settings: dict[str, dict[str, Any]] | None = None, poses: str | os.PathLike | None = None):
        from posetrack.config import short_repr
        from posetrack.track.pipeline import load_pipeline, merge_settings, output_params, pipeline_graph

        given = {"*": {"device": str(device)}} if device is not None else {}
        if weights is not None:
            given["pose"] = {"weights": os.fspath(weights)}
        if settings is not None and not (isinstance(settings, dict) and all(isinstance(v, dict) for v in settings.values())):
            raise InputError(f"settings must be {{STAGE: {{PARAM: VALUE}}}}, got {short_repr(settings)}")
        self.settings = merge_settings(given, settings)
        if detections is not None and not Path(detections).is_file():
            raise InputNotFoundError(f"detections file not found: {detections}")
        pipeline = None if pipeline is None else os.fspath(pipeline)
        try:
            self.graph = pipeline_graph(pipeline, self.settings,
                                        detections=None if detections is None else os.fspath(detections),
                                        poses=None if poses is None else os.fspath(poses))
            self.outputs = output_params(load_pipeline(pipeline), self.settings)  # what the PoseTrack files keep
        except PosetrackError:
            raise
        except Exception as exc:  # noqa: BLE001 - one package error type for the caller
            raise as_package_error(exc) from exc
        self._open = False
        self._open_notices: list[str] = []  # logged while the models loaded: part of every video's run facts
        self._running: Iterator | None = None  # the track() generator holding the graph

    # ---- lifecycle --------------------------------------------------------------
    def open(self) -> "VideoTracker":
        """Load every model (done by ``with`` or the first ``track()`` / ``save()``)."""
        if not self._open:
            try:
                with NoticeRecorder() as notices:  # the weights, detector and flow choices are logged here
                    self.graph.open()
                self._open_notices = notices.messages
            except PosetrackError:
                raise
            except Exception as exc:  # noqa: BLE001 - a missing file stays a FileNotFoundError
                raise as_package_error(exc) from exc
            self._open = True
        return self

    def close(self) -> None:
        """Stop a ``track()`` still being iterated and release the models; ``open()`` may follow."""
        running, self._running = self._running, None
        if running is not None:
            running.close()
        if self._open:
            self._open = False
            self.graph.close()

    def __enter__(self) -> "VideoTracker":
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - the error that ended the block is the one to raise
            if exc is None:
                raise
            logger.exception("closing the tracker after an error failed")

    # ---- tracking ---------------------------------------------------------------
    def track(self, source: str | os.PathLike | Iterable[np.ndarray], fps: float | None = None, *,
              name: str | None = None) -> Iterator[TrackedFrame]:
        """Stream the ``TrackedFrame`` of every frame of ``source``, in frame order.

        ``source``: a video file, a frame folder (images sorted by name) or an iterable of
        (H, W, 3) uint8 RGB frames (a list, a (T, H, W, 3) array, a generator over a webcam).
        ``fps``: time base of frame folders and in-memory frames (default: the decode stage's,
        25); videos keep their own timestamps. ``name``: the name of in-memory frames
        (default ``"frames"``: ``"frames/000012.jpg"``). Track ids start at 0 on every call.
        A bad ``source`` raises ``PosetrackError`` naming it, here or while iterating (a frame
        that cannot be decoded); models load on the first call.

            >>> from posetrack.io.video import read_video
            >>> clip = (f.image for f in read_video("../shared/data/videos/demo.mp4"))  # any RGB frames
            >>> with VideoTracker(weights="hrnet_w16_demo_128x96", detections="tests/data/demo_detections.json",
            ...                   settings={"pose": {"mode": "fp32"}}) as t:
            ...     [(f.name, f.pts, len(f.poses)) for f in t.track(clip, fps=10, name="street")][:2]
            [('street/000000.jpg', 0.0, 5), ('street/000001.jpg', 0.1, 9)]
        """
        run, label = self._frame_input(source, fps, name)
        self.open()
        return self._frames(run, label)

    def save(self, source: str | os.PathLike | Iterable[np.ndarray], out_dir: str | os.PathLike,
             fmt: str = "2018", render: bool = False, *, fps: float | None = None, name: str | None = None,
             on_frame: Callable[[TrackedFrame], None] | None = None, report: bool = False) -> OutputPaths:
        """Track ``source`` into the files ``posetrack track`` writes; returns their paths.

        ``out_dir/posetrack/<name>.json`` (PoseTrack ``fmt`` "2018" or "2017"),
        ``out_dir/coco/<name>.json`` (COCO keypoint results with ``track_id``) and, with
        ``render``, ``out_dir/render/<name>.mp4`` (skeletons coloured by track id), ``<name>``
        the video's stem / folder's name (in-memory frames: ``name``, default ``"frames"``).
        Each file is written atomically: after an error none of them is left, partial or
        temporary. ``source``, ``fps`` and ``name`` as for ``track``; ``on_frame`` is called
        with each ``TrackedFrame`` once it is written (progress bars). The result has
        ``.posetrack``, ``.coco`` and ``.render`` (``None`` without ``render``).
        Then ``out_dir/run/<name>.json`` records the run's facts (input, frames, fps, stages and
        their parameters, weights, the notices logged, per-stage ms/frame, seconds) and, with
        ``report``, ``out_dir/report/<name>.html`` shows it all (``posetrack.report``).
        """
        from posetrack.report import RunRecorder, write_report, write_run_facts
        from posetrack.io.video import probe
        from posetrack.track.outputs import VideoResults
        from posetrack.track.stages.decode import is_path

        if fmt not in ("2018", "2017"):
            raise InputError(f"fmt must be '2018' or '2017', got {fmt!r}")
        run, label = self._frame_input(source, fps, name)
        check_writable(out_dir)
        if is_path(run.source):
            rate, nframes = probe(run.source, default_fps=run.fps or self._default_fps())
            out_name = source_name(run.source)
        else:
            rate, nframes = run.fps or self._default_fps(), len(run.source) if hasattr(run.source, "__len__") else 0
            out_name = run.name
        paths = OutputPaths.for_video(Path(out_dir), out_name, render)
        self.open()
        source_label = os.path.abspath(run.source) if is_path(run.source) else label
        try:
            with VideoResults(paths, fmt, self._keypoint_set(), rate, nframes, self.outputs) as results, \
                    RunRecorder(self.graph, source_label, rate, self._open_notices) as facts:
                for frame in self._frames(run, label, wrap_errors=False):
                    results.add(frame.index, frame.name, frame.image, frame.poses)
                    facts.add(frame.image)
                    if on_frame is not None:
                        on_frame(frame)
            write_run_facts(out_dir, out_name, facts.facts(outputs=self.outputs))
            if report:
                write_report(out_dir, out_name)
        except Exception as exc:  # noqa: BLE001 - one package error type, naming the input
            raise as_package_error(exc, f"{label}: ") from exc
        return paths

    # ---- helpers ----------------------------------------------------------------
    def _frame_input(self, source: Any, fps: float | None, name: str | None):
        """Check ``source`` before any model loads -> (decode's ``FrameInput``, the input's label)."""
        from posetrack.io.video import is_frame_folder
        from posetrack.track.stages.decode import FrameInput, is_path

        if fps is not None and not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
            raise InputError(f"fps must be a positive number, got {fps!r}")
        if is_path(source):
            path = Path(source)
            if not path.exists():
                raise InputNotFoundError(f"input not found: {path}")
            if path.is_dir() and not is_frame_folder(path):
                raise InputError(f"not a video file nor a frame folder (no images in it): {path}")
            if path.is_file() and fps is not None:
                raise InputError(f"fps= is the time base of frame folders and in-memory frames; the video {path} "
                                 "has its own timestamps")
            return FrameInput(source, fps=fps), str(source)
        label = f"frames '{name or ARRAY_NAME}'"
        if isinstance(source, np.ndarray) and source.ndim != 4:
            raise InputError(f"{label}: an array of frames must be (T, H, W, 3) uint8, got shape {source.shape}")
        if isinstance(source, (bytes, dict)) or not isinstance(source, Iterable):
            raise InputError(f"input must be a video file, a frame folder or an iterable of (H, W, 3) uint8 RGB "
                             f"frames, got {type(source).__name__}")
        return FrameInput(source, name=name or ARRAY_NAME, fps=fps), label

    def _frames(self, run, label: str, wrap_errors: bool = True) -> Iterator[TrackedFrame]:
        if self._running is not None:
            raise PosetrackError("this tracker is already tracking an input: finish (or close) that track() first")
        self._running = frames = self._packets(run)
        try:
            yield from frames
        except Exception as exc:  # noqa: BLE001 - one package error type, naming the input
            if not wrap_errors:
                raise
            raise as_package_error(exc, f"{label}: ") from exc
        finally:
            frames.close()
            if self._running is frames:  # close() may have ended this run and another begun
                self._running = None

    def _packets(self, run) -> Iterator[TrackedFrame]:
        with contextlib.closing(self.graph.run(run)) as packets:  # an early stop ends the worker threads
            for packet in packets:
                s = packet.streams
                yield TrackedFrame(packet.index, packet.pts, s["name"], s["tracks"], s.get("image"))

    def _default_fps(self) -> float:
        return float(getattr(self.graph.nodes[0].stage.params, "fps", 25.0))

    def _keypoint_set(self) -> str:
        from posetrack.track.stages.pose import PoseStage
        from posetrack.track.stages.poses_file import PosesFileStage

        for node in self.graph.nodes:
            if isinstance(node.stage, PoseStage):
                return node.stage.choice.keypoints
            if isinstance(node.stage, PosesFileStage):
                return node.stage.params.keypoints
        return "coco"
