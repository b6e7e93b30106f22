"""Streaming video I/O with PyAV: frames in (videos or image folders), overlay video out.

Frames are yielded one at a time as ``VideoFrame(index, pts, image, name)``; nothing
holds a whole video in memory. ``image`` is ``(H, W, 3) uint8`` RGB with the
container's rotation metadata already applied, ``pts`` is the presentation time in
seconds (from the stream's pts, so variable frame rate videos keep true times),
``index`` counts the frames actually yielded (0, 1, 2, ...).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from posetrack.errors import PosetrackError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".ts")


class VideoError(PosetrackError, ValueError):
    """A video or frame folder that cannot be read; the message names the file."""


@dataclass(frozen=True)
class VideoFrame:
    index: int  # 0-based position among the frames yielded
    pts: float  # presentation time in seconds
    image: np.ndarray  # (H, W, 3) uint8 RGB, rotation applied
    name: str  # frame file name (folders) or "<stem>/<index:06d>.jpg" (videos)


def is_frame_folder(path: Path) -> bool:
    """True when ``path`` is a folder holding image files (a PoseTrack-style frame sequence)."""
    return path.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir())


def _rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """Undo the display-matrix rotation (counter-clockwise degrees, as PyAV reports it)."""
    quarter = int(round(degrees / 90.0)) % 4
    return np.ascontiguousarray(np.rot90(image, k=quarter)) if quarter else image


def read_video(path: str | Path) -> Iterator[VideoFrame]:
    """Decode ``path`` (any container/codec FFmpeg knows) frame by frame.

    Packets that fail to decode are skipped with a warning. A file that cannot be
    opened, is empty, or yields no frame at all raises ``VideoError`` naming it.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise VideoError(f"video not found: {path}")
    if path.stat().st_size == 0:
        raise VideoError(f"video is empty (0 bytes): {path}")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoError(f"cannot open video {path} (truncated or corrupt?): {exc}") from None
    with container:
        if not container.streams.video:
            raise VideoError(f"no video stream in {path}")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        time_base = stream.time_base or Fraction(1, 25)
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        index = skipped = 0
        last_pts = -1.0
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.error.FFmpegError as exc:  # a damaged container ends the stream here
                logger.warning("%s: demuxing stopped after %d frames: %s", path, index, exc)
                break
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:
                skipped += 1
                where = f"after frame {index - 1}" if index else "before the first frame"
                logger.warning("%s: skipping undecodable packet %s: %s", path, where, exc)
                continue
            for frame in frames:
                if frame.pts is not None:
                    pts = float(frame.pts * time_base)
                else:  # no timestamp: continue at the nominal rate
                    pts = last_pts + 1.0 / rate if index else 0.0
                last_pts = pts
                image = _rotate(frame.to_ndarray(format="rgb24"), frame.rotation or 0)
                yield VideoFrame(index, pts, image, f"{path.stem}/{index:06d}.jpg")
                index += 1
        if index == 0:
            raise VideoError(f"no decodable frame in {path} (truncated or corrupt video)")
        if skipped:
            logger.warning("%s: %d undecodable packet(s) skipped, %d frames read", path, skipped, index)


def read_frame_folder(path: str | Path, fps: float = 25.0) -> Iterator[VideoFrame]:
    """Read the images of a folder in sorted file-name order; ``pts = position / fps``.

    Unreadable images are skipped with a warning (their time slot stays empty, so
    ``pts`` keeps the original spacing); a folder with no readable image raises.
    """
    from posetrack.io.image import ImageReadError, read_image_rgb

    path = Path(path)
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise VideoError(f"no image files in folder {path}")
    index = 0
    for position, file in enumerate(files):
        try:
            image = read_image_rgb(file)
        except ImageReadError as exc:
            logger.warning("skipping frame: %s", exc)
            continue
        yield VideoFrame(index, position / fps, image, file.name)
        index += 1
    if index == 0:
        raise VideoError(f"no readable image in folder {path}")


def read_frames(path: str | Path, fps: float = 25.0) -> Iterator[VideoFrame]:
    """Frames of a video file or of a frame folder (``fps`` only used for folders)."""
    path = Path(path)
    if path.is_dir():
        return read_frame_folder(path, fps=fps)
    return read_video(path)


def probe(path: str | Path, default_fps: float = 25.0) -> tuple[float, int]:
    """(nominal frame rate, frame count) of a video or frame folder; 0 frames when unknown.

    Frame folders report ``default_fps``; the count is from the container header, so a
    damaged file may deliver fewer frames.
    """
    import av

    path = Path(path)
    if path.is_dir():
        return default_fps, sum(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir())
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            rate = float(stream.average_rate or stream.guessed_rate or default_fps)
            return rate, int(stream.frames or 0)
    except (av.error.FFmpegError, OSError, IndexError):
        return default_fps, 0


class VideoWriter:
    """Encode RGB frames into a video file with PyAV (H.264 when available, else MPEG-4).

    Write to a temporary path (``posetrack.io.atomic.atomic_path``) and close before
    renaming; odd frame sizes are padded by one pixel because yuv420p needs even sizes.
    """

    def __init__(self, path: str | Path, fps: float, codec: str | None = None):
        import av

        self.path = Path(path)
        self._av = av
        self._fps = Fraction(fps).limit_denominator(1001)
        self._codec = codec or ("libx264" if "libx264" in av.codecs_available else "mpeg4")
        self._container = av.open(str(self.path), mode="w")
        self._stream = None

    def write(self, image: np.ndarray) -> None:
        """Append one ``(H, W, 3) uint8`` RGB frame."""
        h, w = image.shape[:2]
        if self._stream is None:
            self._stream = self._container.add_stream(self._codec, rate=self._fps)
            self._stream.width, self._stream.height = w + w % 2, h + h % 2
            self._stream.pix_fmt = "yuv420p"
        if w % 2 or h % 2:
            image = np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)))
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        if self._stream is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
