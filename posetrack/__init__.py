"""posetrack: video in, tracked skeletons out (HRNet + FlowTrack).

    >>> import posetrack
    >>> with posetrack.VideoTracker() as tracker:           # doctest: +SKIP
    ...     for frame in tracker.track("clip.mp4"):
    ...         frame.index, frame.pts, frame.name, frame.poses.keypoints, frame.poses.track_ids
    ...     paths = tracker.save("clip.mp4", "runs/clip", render=True)

See ``posetrack.tracker`` (README, *Python API*). The names below load on first use, so
``import posetrack`` (and ``posetrack --help``) stays fast: torch comes with the first tracker.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from posetrack.errors import InputError, InputNotFoundError, PosetrackError

__version__ = "0.1.0"

__all__ = ["VideoTracker", "TrackedFrame", "Poses", "PosetrackError", "InputError", "InputNotFoundError",
           "__version__"]

_LAZY = {"VideoTracker": "posetrack.tracker", "TrackedFrame": "posetrack.tracker", "Poses": "posetrack.track.types"}

if TYPE_CHECKING:
    from posetrack.track.types import Poses
    from posetrack.tracker import TrackedFrame, VideoTracker


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'posetrack' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
