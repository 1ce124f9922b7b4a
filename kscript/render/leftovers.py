"""Leftovers of killed builds: found and removed by the next build, never a live one's.

A build killed with SIGKILL (or a power cut) cannot remove its temporaries: a
`.film.mp4.tmp-*` beside the film (the video being encoded or joined), a
`.film.mp4.tmp-segments-*` folder, a `.tmp-build-*` folder of new scene segments in the
cache. Their names say whose they are; what tells a leftover from the temporary of a build
that is still running is a lock: every build holds a shared `flock` on the output's folder
and on the cache folder while it runs (the kernel drops it when the process dies, however
it dies). A build that gets the lock *exclusively* at its start knows no other build is
running there, so every temporary of ours there is a leftover, and removes it; then it
holds the lock shared like the others. A build that cannot get it exclusively (another is
running) leaves everything as it is: the last build to find the folder quiet cleans up.

Where `fcntl` does not exist (Windows), nothing is locked and leftovers older than a day
are removed.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Callable

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: without locks, a temporary untouched this long is taken for a leftover
_UNLOCKED_AGE = 86400.0
#: how long a build waits for another build to finish cleaning up (seconds)
_SHARED_WAIT = 5.0


class FolderClaim:
    """A running build's claim on a folder (see the module docstring); `close()` drops it."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.sole = False
        self._fd: int | None = None
        if fcntl is None:
            return
        try:
            self._fd = os.open(self.folder, os.O_RDONLY)
        except OSError:
            return  # no folder yet: nothing to clean, nothing to protect
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.sole = True
            return
        except OSError:
            pass
        # Another build holds it: shared, or exclusive for the moment it cleans up. Never
        # wait long: a build goes on unclaimed rather than hang on a stuck one.
        deadline = time.monotonic() + _SHARED_WAIT
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return
            except OSError:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.05)

    def clean(self, is_ours: Callable[[str], bool]) -> list[str]:
        """Remove the leftovers whose names `is_ours` recognises; returns their names.

        Only while this build is the only one in the folder (then it shares the claim)."""
        removed: list[str] = []
        if fcntl is not None and not self.sole:
            return removed
        try:
            names = os.listdir(self.folder)
        except OSError:
            return removed
        now = time.time()
        for name in names:
            if not is_ours(name):
                continue
            path = self.folder / name
            try:
                if fcntl is None and now - path.lstat().st_mtime < _UNLOCKED_AGE:
                    continue
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
                removed.append(name)
            except OSError:
                continue
        if self._fd is not None and self.sole:
            fcntl.flock(self._fd, fcntl.LOCK_SH)
            self.sole = False
        return removed

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # drops the lock
            self._fd = None

    def __enter__(self) -> "FolderClaim":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def output_leftover(output_name: str) -> Callable[[str], bool]:
    """Names of a killed build's temporaries for the output `output_name` in its folder:
    `.NAME.tmp-*` (a video or frames folder being written, new scene segments) and
    `.NAME.old-*` (a replaced frames folder on its way out)."""
    return lambda name: name.startswith((f".{output_name}.tmp-", f".{output_name}.old-"))


def cache_leftover(name: str) -> bool:
    """A killed build's folder of new scene segments in the cache's segments folder."""
    return name.startswith(".tmp-build-")
