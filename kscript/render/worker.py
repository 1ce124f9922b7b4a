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

import queue
import threading
from typing import Any

_STOP = object()


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

    # -- the build thread's side ---------------------------------------------------------------

    def put(self, *args: Any) -> None:
        """Queue one item; raise the worker's first error, if there was one."""
        self._raise()
        self._queue.put(args)

    def close(self, *, drop: bool = False, raise_error: bool = True) -> None:
        """Wait for the queued items and stop the thread.

        Args:
            drop: skip the items not handled yet (a cancelled or failed build whose
                partial output is thrown away anyway).
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
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                if self._error is not None or self._drop:
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
