"""decode: the source node. One input (video file or frame folder) -> image packets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from posetrack.io.video import read_frames
from posetrack.track.graph import Source


@dataclass(frozen=True)
class DecodeParams:
    fps: float = 25.0  # time base of frame folders (videos use their own timestamps)


class DecodeStage(Source):
    """Streams frames of a video (PyAV) or of a sorted image folder.

    Added streams: ``image`` (H, W, 3) uint8 RGB, rotation applied; ``name`` the frame's
    file name as ``<video or folder>/<file>`` (videos: ``<stem>/<index:06d>.jpg``).
    ``pts`` comes from the video timestamps (variable frame rate safe) or index / fps.
    """

    Params = DecodeParams
    outputs = ("image", "name")

    def frames(self, source: Any) -> Iterator[tuple[float, dict[str, Any]]]:
        path = Path(source)
        for frame in read_frames(path, fps=self.params.fps):
            name = f"{path.name}/{frame.name}" if path.is_dir() else frame.name
            yield frame.pts, {"image": frame.image, "name": name}
