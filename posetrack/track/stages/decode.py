"""decode: the source node. One input (video file, frame folder or in-memory frames) -> image packets."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from posetrack.errors import InputError
from posetrack.io.video import read_frames
from posetrack.track.graph import Source


@dataclass(frozen=True)
class DecodeParams:
    fps: float = 25.0  # time base of frame folders and in-memory frames (videos use their own timestamps)

    def __post_init__(self):
        if not 0 < self.fps < math.inf:  # also refuses NaN
            raise ValueError(f"fps must be > 0 and finite, got {self.fps}")


@dataclass(frozen=True)
class FrameInput:
    """One run's input with its own options; ``graph.run(path)`` is ``graph.run(FrameInput(path))``.

    ``source``: a video file or frame folder path, or an iterable of (H, W, 3) uint8 RGB frames
    (read lazily, one at a time, on the decode thread: a generator over a webcam works; a frame
    must not be changed after it was yielded). ``name``: the folder part of in-memory frames'
    names (``<name>/<index:06d>.jpg``); paths name their frames as before. ``fps``: the time base
    of frame folders and in-memory frames for this run (None: the stage's ``Params.fps``).
    """

    source: str | os.PathLike | Iterable[np.ndarray]
    name: str = "frames"
    fps: float | None = None


def is_path(source: Any) -> bool:
    """A video or frame folder path, as opposed to in-memory frames."""
    return isinstance(source, (str, os.PathLike))


class DecodeStage(Source):
    """Streams frames of a video (PyAV), of a sorted image folder or of in-memory arrays.

    Added streams: ``image`` (H, W, 3) uint8 RGB, rotation applied; ``name`` the frame's
    file name as ``<video or folder>/<file>`` (videos: ``<stem>/<index:06d>.jpg``).
    ``pts`` comes from the video timestamps (variable frame rate safe) or index / fps.
    """

    Params = DecodeParams
    outputs = ("image", "name")
    output_types = {"image": np.ndarray, "name": str}

    def frames(self, source: Any) -> Iterator[tuple[float, dict[str, Any]]]:
        run = source if isinstance(source, FrameInput) else FrameInput(source)
        fps = run.fps or self.params.fps
        if not is_path(run.source):
            yield from array_frames(run.source, run.name, fps)
            return
        path = Path(run.source)
        for frame in read_frames(path, fps=fps):
            name = f"{path.name}/{frame.name}" if path.is_dir() else frame.name
            yield frame.pts, {"image": frame.image, "name": name}


def array_frames(frames: Iterable[np.ndarray], name: str, fps: float) -> Iterator[tuple[float, dict[str, Any]]]:
    """In-memory frames -> ``(index / fps, {image, name})``; a frame that is not (H, W, 3) uint8
    raises ``InputError`` naming the frames and the index, as does an input without frames."""
    index = -1
    for index, image in enumerate(frames):
        if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8):
            got = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
            raise InputError(f"frames '{name}': frame {index} is not an (H, W, 3) uint8 RGB array (got {got})")
        yield index / fps, {"image": image, "name": f"{name}/{index:06d}.jpg"}
    if index < 0:
        raise InputError(f"frames '{name}': no frames")
