"""Atomic file output: write to a temporary sibling, fsync, then rename.

A reader (or a crashed run) never sees a half-written file: either the old
content or the complete new one is at ``path``.

Temporary files are named ``.<name>.<8 random chars>.tmp<suffix>`` and stay locked
(``flock``) while their writer lives. A process killed outright (kill -9, power
loss) leaves its temporary behind unlocked; the next atomic write into that folder
removes it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator

logger = logging.getLogger(__name__)

# Read once at import: os.umask can only be read by setting it, which is not thread-safe.
_UMASK = os.umask(0)
os.umask(_UMASK)

_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp[^/]*$")  # mkstemp's random part: 8 of [a-z0-9_]
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # out of disk, quota or file-size limit


def remove_stale_temps(folder: str | os.PathLike) -> int:
    """Delete this module's temporary files in ``folder`` whose writer is gone; returns how many.

    A live writer holds its temporary's lock, so concurrent runs into one folder (torchrun
    ranks) keep theirs.
    """
    removed = 0
    for tmp in Path(folder).glob(".*.tmp*"):
        if not _TEMP_NAME.match(tmp.name):
            continue
        try:
            fd = os.open(tmp, os.O_RDONLY)
        except OSError:  # gone meanwhile, or not ours to read
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            tmp.unlink()
            removed += 1
        except OSError:  # locked (its writer is alive), or not ours to remove
            continue
        finally:
            os.close(fd)
    if removed:
        logger.info("%s: removed %d temporary file(s) left by an interrupted run", folder, removed)
    return removed


def _locked_temp(path: Path, suffix: str) -> tuple[int, Path]:
    """A new temporary sibling of ``path``, locked through the returned descriptor."""
    while True:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + suffix, dir=path.parent)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink:
            return fd, Path(tmp)
        os.close(fd)  # removed as stale between mkstemp and flock by another process: make another


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    The temporary file keeps ``path``'s suffix (or ``suffix``) so that writers that
    choose a format by extension (PyAV, cv2, torch) behave. On error it is removed;
    a full disk is reported with ``path`` in the message.
    """
    path = Path(path)
    if not path.parent.exists():
        raise FileNotFoundError(f"output folder does not exist: {path.parent}")
    remove_stale_temps(path.parent)
    fd, tmp_path = _locked_temp(path, suffix if suffix is not None else path.suffix)
    try:
        # mkstemp creates 0600 files; give the output the mode a plain open() would.
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        try:
            yield tmp_path
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp_path, path)
        except OSError as exc:
            if exc.errno not in _FULL:
                raise
            raise OSError(exc.errno, f"cannot write {path}: {exc.strerror}") from exc
        finally:
            if tmp_path.exists():
                tmp_path.unlink()
    finally:
        os.close(fd)  # releases the lock


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int | None = None) -> None:
    write_text_atomic(path, json.dumps(obj, indent=indent))
