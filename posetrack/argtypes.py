"""Text -> value parsers for command-line flags, shared by the ``posetrack`` CLI and ``tools/``.

They are ``argparse`` types: bad text raises ``argparse.ArgumentTypeError``, which argparse
reports as a one-line usage error naming the flag.
"""

from __future__ import annotations

import argparse

__all__ = ["input_size", "positive_ints"]


def input_size(text: str) -> tuple[int, int]:
    """Parse ``HxW`` (paper order, e.g. ``256x192``) into (height, width)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 256x192, got {text!r}")
    return int(parts[0]), int(parts[1])


def positive_ints(text: str) -> list[int]:
    """"1,32,128" -> [1, 32, 128]: positive integers separated by commas."""
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, got {text!r}")
    return sizes
