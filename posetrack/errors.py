"""The package's user-facing errors: each one derives from ``PosetrackError``.

Catch ``posetrack.PosetrackError`` to handle any bad input or failed run of the library (a
missing file, a wrong setting, unusable weights, a broken video); the message is one line that
names the file, setting or input. The concrete classes keep the standard base they always had
(``ConfigError`` is still a ``ValueError``, ``WeightsError`` a ``RuntimeError``, ...), so code
that caught those goes on working:

    >>> import posetrack
    >>> try:
    ...     posetrack.VideoTracker(settings={"pose": {"no_such_param": 1}})
    ... except posetrack.PosetrackError as exc:
    ...     print(type(exc).__name__, isinstance(exc, ValueError))
    ConfigError True

This module imports nothing else of the package, so any module can raise these.
"""

from __future__ import annotations

__all__ = ["PosetrackError", "InputError", "InputNotFoundError"]


class PosetrackError(Exception):
    """Base of posetrack's errors: bad input, settings, weights or data, or a failed run.

    The message is meant for the user as it is (no traceback needed) and names what was wrong.
    """


class InputError(PosetrackError, ValueError):
    """An input that cannot be used (a video, frame folder, frame array, output folder); names it."""


class InputNotFoundError(PosetrackError, FileNotFoundError):
    """A file or folder given as input (video, detections, weights) does not exist; names it."""
