"""Atomic output: nothing lost, nothing half-written.

A reader (another build, the watch server, a user) sees the old file or the whole new one,
never a part: the data goes to a temporary file in the same folder, is flushed to disk
(fsync) and renamed over the target with `os.replace`, which is atomic on one filesystem.
A failure removes the temporary and leaves the old target as it was.

Every output of kscript goes through here: frame cache entries, build reports, videos and
scene segments (`AtomicFile`: PyAV writes the temporary by name), and folders of PNG frames
(`AtomicFolder`).

Permissions: a temporary is created with `os.open(..., mode)` / `os.mkdir(..., mode)`, so
the kernel applies the process umask itself and the result is what a plain `open()` or
`mkdir` would make. Nothing here reads or changes the umask: `os.umask` can only be read by
setting it, and setting it, even for an instant, changes it for every thread of the process
(a folder made at that instant by another thread would be world-writable).
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import Callable, Sequence

#: a plain new file's and folder's requested permissions (the umask then takes its bits away)
FILE_MODE = 0o666
FOLDER_MODE = 0o777

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def _temp_name(folder: Path, prefix: str, suffix: str) -> Path:
    return folder / f"{prefix}{secrets.token_hex(6)}{suffix}"


def create_temp_file(folder: str | Path, prefix: str, suffix: str = "", mode: int = FILE_MODE) -> tuple[int, Path]:
    """Create a new, empty file with a random name in `folder`; return its open descriptor
    (write-only) and path. `mode` is filtered by the umask, as `open()` does."""
    folder = Path(folder)
    for _ in range(100):
        path = _temp_name(folder, prefix, suffix)
        try:
            return os.open(path, _FLAGS, mode), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in '{folder}'")  # pragma: no cover


def create_temp_folder(folder: str | Path, prefix: str, mode: int = FOLDER_MODE) -> Path:
    """Create a new, empty folder with a random name in `folder` (`mode` filtered by the umask)."""
    folder = Path(folder)
    for _ in range(100):
        path = _temp_name(folder, prefix, "")
        try:
            os.mkdir(path, mode)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in '{folder}'")  # pragma: no cover


def fsync_file(path: str | Path) -> None:
    """Flush a closed file's data to disk (before it is renamed into place)."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())


class _Temporary:
    """A temporary beside `self.path` that `commit()` puts in place (`_put`) or `abort()`
    removes (`_discard`), each once; a failed commit removes it too."""

    path: Path
    tmp: Path
    _done = False

    def _put(self) -> None:  # pragma: no cover - each subclass has its own
        raise NotImplementedError

    def _discard(self) -> None:  # pragma: no cover
        raise NotImplementedError

    def commit(self) -> Path:
        """Put the temporary in place of the target; on failure remove it."""
        if self._done:
            return self.path
        self._done = True
        try:
            self._put()
        except BaseException:
            self._discard()
            raise
        return self.path

    def abort(self) -> None:
        """Remove the temporary; the target stays as it was."""
        if not self._done:
            self._done = True
            self._discard()


class AtomicFile(_Temporary):
    """A new version of `path`, written under a temporary name in the same folder.

    The temporary exists (empty, closed) from construction; write it by name (`tmp`), then
    `commit()` (fsync, rename over `path`) or `abort()` (remove it). As a context manager,
    leaving the block normally commits and leaving it with an exception aborts.

    Args:
        path: the target. Its folder must exist (callers create it, with their own wording
            for a failure).
        prefix: the temporary's name prefix (default `.NAME.tmp-`: hidden, and recognisable
            as the leftover of a killed writer).
        suffix: the temporary's name suffix (a muxer may read the format from it).
        mode: the requested permissions (the umask applies).

    Raises:
        OSError: the temporary cannot be created.
    """

    def __init__(self, path: str | Path, *, prefix: str | None = None, suffix: str = "", mode: int = FILE_MODE) -> None:
        self.path = Path(path)
        fd, self.tmp = create_temp_file(self.path.parent, f".{self.path.name}.tmp-" if prefix is None else prefix, suffix, mode)
        os.close(fd)

    def _put(self) -> None:
        """Flush the temporary to disk and rename it over the target."""
        fsync_file(self.tmp)
        os.replace(self.tmp, self.path)

    def _discard(self) -> None:
        _unlink(self.tmp)

    def __enter__(self) -> "AtomicFile":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def write_atomic(path: str | Path, data: bytes | Sequence[bytes | memoryview], *, prefix: str | None = None,
                 suffix: str = "", mode: int = FILE_MODE, sync: bool = True) -> None:
    """Write `data` to `path` atomically (see the module docstring), creating its folder.

    Args:
        data: the file's bytes, or its pieces in order (written one after another, so a
            large buffer goes to the file without first being copied into one bytes object).
        prefix, suffix: the temporary's name (see `AtomicFile`); the frame cache uses its
            own prefix to recognise the leftovers of a killed writer.
        mode: the requested permissions (the umask applies).
        sync: fsync before the rename. Without it the write is still atomic for every
            reader while the machine runs (the rename is), but a power cut can leave the
            file empty or partial: only for data that is verified when read and cheaper to
            make again than to flush (the preview's frame cache entries).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = create_temp_file(path.parent, f".{path.name}.tmp-" if prefix is None else prefix, suffix, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            for part in (data,) if isinstance(data, (bytes, bytearray, memoryview)) else data:
                f.write(part)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


class AtomicFolder(_Temporary):
    """A new version of the folder `path`, filled under a temporary name beside it.

    `commit()` puts it in place: `os.replace` cannot replace a non-empty folder, so an old
    one is first moved aside and then removed, and `path` is missing only for the instant
    between two renames. Paths are made absolute first (a relative one would move with the
    folder it is relative to).

    Args:
        path: the target folder. Its parent must exist.
        guard: called with the existing target just before it is replaced; raises to keep
            it (the last check against a folder that gained files the caller must not remove).
        mode: the requested permissions (the umask applies).

    Raises:
        OSError: the temporary folder cannot be created.
    """

    def __init__(self, path: str | Path, *, guard: Callable[[Path], None] | None = None, mode: int = FOLDER_MODE) -> None:
        self.path = Path(os.path.abspath(path))
        self.tmp = create_temp_folder(self.path.parent, f".{self.path.name}.tmp-", mode)
        self._guard = guard

    def _put(self) -> None:
        target = self.path
        old = None
        if target.exists():
            if self._guard is not None:
                self._guard(target)
            old = create_temp_folder(target.parent, f".{target.name}.old-")
            os.replace(target, old / target.name)
        os.replace(self.tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def _discard(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def file_in_the_way(path: str | Path) -> Path | None:
    """The nearest existing ancestor of `path` when it is a file, not a folder: then
    `path` can never be written (checked before a build, so it fails before any work).
    The ancestor is given as written, relative when `path` is."""
    parent = Path(path).parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return None if parent.is_dir() else parent


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
