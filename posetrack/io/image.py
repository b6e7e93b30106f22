"""Still-image input: decode a file to RGB uint8, with an error that names the file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


class ImageReadError(ValueError):
    """An image file is missing or cannot be decoded."""


def read_image_rgb(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB, read as the official code does (EXIF orientation ignored)."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"image not found: {path}")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is None:
        raise ImageReadError(f"cannot decode image {path} (corrupt or not an image)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
