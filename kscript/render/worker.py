"""One background worker: a bounded queue drained in order by one thread.

The build overlaps slow output with rendering: the frame cache's writes (hashing, writing,
fsync) and the scene segments' encoding (x264, RGB-to-YUV) run on a worker thread while the
executor's OpenCV work on the next frames runs on the build thread; all of them release the
GIL for most of their time. Both uses subclass `BackgroundWorker` and say only what one item
is (`handle`) and what is left to clean up when the thread stops (`stopped`).

Errors: the first exception `handle` raises is kept; the items after it are dropped, and the
build thread gets it (through `wrap_error`) at its next `put` or at `close`.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from typing import Any

_STOP = object()

#: how much lower (in `nice` steps) a worker thread runs than the build thread, on Linux. The
#: build thread is the critical path (each frame is made from the one before); the output
#: work can trail it, and on 2 cores the encoder's and x264's threads otherwise took the
#: build thread's core a quarter of the time (the preview's mini film: rendering took 2.5 s
#: of wall time for 1.9 s of its CPU; with this, the in-process build's mean wall time fell
#: from 3.13 s to 2.97 s over 6 runs each, alternating, load average not recorded).
#: x264's threads, made by the encoder's thread, inherit it.
BACKGROUND_NICE = 5


def _lower_priority() -> None:
    """Lower the calling thread's priority by BACKGROUND_NICE (Linux names threads by their
    id in `setpriority`; elsewhere the call would renice the whole process, so nothing)."""
    if not sys.platform.startswith("linux") or not BACKGROUND_NICE:
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + BACKGROUND_NICE)
    except OSError:  # pragma: no cover - a sandbox that forbids it: run at the same priority
        pass


class BackgroundWorker:
    """Calls `self.handle(*args)` on one worker thread for every `put(*args)`, in order.

    At most `depth` items wait: `put` blocks when the queue is full, so a slow disk or encoder
    holds the build back instead of filling memory with frames.
    """

    def __init__(self, *, name: str, depth: int) -> None:
        self._queue: "queue.Queue[Any]" = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._drop = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    # -- what a subclass says ------------------------------------------------------------------

    def handle(self, *args: Any) -> None:
        """Do the work of one item (on the worker thread)."""
        raise NotImplementedError

    def stopped(self) -> None:
        """Clean up after the last item (on the worker thread): e.g. drop a half-written file."""

    def wrap_error(self, err: BaseException) -> BaseException:
        """The exception the build thread sees for an error of `handle` (default: itself)."""
        return err

    def kept_when_dropping(self, *args: Any) -> bool:
        """Whether a waiting item is still handled by `close(drop=True)` (default: none is):
        work that is whole though the build gave up (a segment all of whose frames came)."""
        return False

    # -- the build thread's side ---------------------------------------------------------------

    def put(self, *args: Any) -> None:
        """Queue one item; raise the worker's first error, if there was one."""
        self._raise()
        self._queue.put(args)

    def close(self, *, drop: bool = False, raise_error: bool = True) -> None:
        """Wait for the queued items and stop the thread.

        Args:
            drop: skip the items not handled yet (a cancelled or failed build whose
                partial output is thrown away anyway), but those `kept_when_dropping` says
                are whole.
            raise_error: raise the worker's first error. A build that is already failing
                passes False, so a write error does not hide why the build stopped.
        """
        self._drop = drop
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        if raise_error:
            self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            wrapped = self.wrap_error(err)
            if wrapped is err:
                raise err
            raise wrapped from err

    # -- the worker thread ---------------------------------------------------------------------

    def _work(self) -> None:
        _lower_priority()
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                if self._error is not None or (self._drop and not self.kept_when_dropping(*item)):
                    continue  # drain: the build thread sees the error or has given up
                try:
                    self.handle(*item)
                except BaseException as err:  # noqa: BLE001 - handed to the build thread
                    self._error = err
        finally:
            try:
                self.stopped()
            except BaseException as err:  # noqa: BLE001 - handed to the build thread
                if self._error is None:
                    self._error = err
