"""Reading JSON input files: every way a file can be unreadable becomes one error naming it."""

from __future__ import annotations

import codecs
import json
import os
from pathlib import Path
from typing import Any

_UTF16_32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def read_json(path: str | os.PathLike, error: type[Exception] = ValueError) -> Any:
    """Parse the JSON file ``path``; raise ``error`` (a message starting with the path) when it is
    not UTF-8, not JSON, or nested too deeply to parse. A missing file raises ``FileNotFoundError``.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw.startswith(_UTF16_32_BOMS):  # BOMs only: without one the UTF-8 decode below names the byte
        raise error(f"{path}: UTF-16/UTF-32 text; JSON input must be UTF-8 (save the file as UTF-8)")
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); JSON input must be UTF-8") from None
    except json.JSONDecodeError as exc:
        raise error(f"{path}: not valid JSON: {exc}") from None
    except RecursionError:
        raise error(f"{path}: not usable JSON: nested too deeply") from None
