"""Atomic file writes: nothing lost, nothing half-written.

A reader (another build, the watch server, a user) sees the old file or the whole new one,
never a part: the data goes to a temporary file in the same folder, is flushed to disk
(fsync) and renamed over the target with `os.replace`, which is atomic on one filesystem.
A failure removes the temporary file and leaves the old target as it was.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: str | Path, data: bytes, *, prefix: str | None = None, suffix: str = "", mode: int | None = None) -> None:
    """Write `data` to `path` atomically (see the module docstring).

    Args:
        prefix: the temporary file's name prefix (default `.NAME.tmp-`); the frame cache uses
            its own to recognise the leftovers of a killed writer.
        mode: permissions for the new file (mkstemp makes it 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix if prefix is not None else f".{path.name}.tmp-", suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def file_in_the_way(path: str | Path) -> Path | None:
    """The nearest existing ancestor of `path` when it is a file, not a folder: then
    `path` can never be written (checked before a build, so it fails before any work).
    The ancestor is given as written, relative when `path` is."""
    parent = Path(path).parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return None if parent.is_dir() else parent
