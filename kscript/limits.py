"""The input limits: how big a film may be before kscript refuses it, in one table.

Each limit is far beyond any real film (issue #9.4): they exist so that an absurd or hostile
input (a 4 GB file named `film.kscene`, a megabyte prompt, ten one-hour scenes at 240 fps)
is refused early and cheaply, with a diagnostic, before memory is spent on it, instead of
ending minutes later in a MemoryError. docs/language.md lists them for users; the error
code for all of them is E034.

Light: no imports beyond the standard library (`check` must stay fast).
"""

from __future__ import annotations

import sys
import threading
from typing import Callable, TypeVar

#: bytes of one source file, the film or an import (a long real film is tens of kB; the
#: parser holds about 100 bytes per source byte, so this caps a parse near 200 MB)
MAX_SOURCE_BYTES = 2 * 1024 * 1024
#: characters of one string literal: a prompt, a negative prompt, a title, a model name
#: (text encoders read 77 tokens, a few hundred characters)
MAX_STRING_CHARS = 10_000
#: scenes of one film (a feature film has one to two thousand shots)
MAX_SCENES = 5_000
#: top-level items (lets, effects, scenes, imports) of one file
MAX_ITEMS = 20_000
#: frames of one film: 2.9 hours at 24 fps, 69 minutes at 60 (compiling costs about 2 kB
#: and 0.1 ms a frame: benchmarks/bench_memory.py)
MAX_FRAMES = 250_000
#: frame sizes (width and height, pixels; multiples of 8, as the models need)
MIN_SIZE = 64
MAX_SIZE = 4096
#: frames per second: at most 240; at least one frame an hour (a scene lasts at most an
#: hour and at least one frame, so no film has fewer)
MAX_FPS = 240.0
MIN_FPS = 1.0 / 3600.0
#: bytes of a plan file (`kscript build plan.json`): a plan holds about 1 kB a frame
MAX_PLAN_BYTES = 512 * 1024 * 1024
#: files in one chain of imports (a imports b imports c ...)
MAX_IMPORT_DEPTH = 64
#: Python frames the checker and compiler may use for one deeply nested expression: a flat
#: sum of a few thousand terms is a left-leaning tree as deep as it is long, so the
#: default 1000 is not enough. Run under `deep_call`, on a stack big enough for it.
RECURSION_LIMIT = 20_000
#: the stack of the thread `deep_call` runs in (virtual memory, touched only as used)
DEEP_STACK_BYTES = 512 * 1024 * 1024

T = TypeVar("T")


def size_text(n: int) -> str:
    """A byte count for people: 2 MiB, 4.0 GiB, 812 bytes."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


def deep_call(fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """`fn(*args, **kwargs)` with room for `RECURSION_LIMIT` nested Python calls.

    The checker and the compiler walk expressions recursively; a long flat chain such as
    `1 + 1 + ... + 1` (2,000 terms) is that deep. Raising only the recursion limit on the
    main thread's stack could overflow it (a crash, not an error), so the call runs on a
    thread of its own with a large stack; exceptions are re-raised here unchanged.
    """
    result: list[T] = []
    error: list[BaseException] = []

    def work() -> None:
        global _DEEP, _SAVED_LIMIT
        # The limit is the interpreter's, not the thread's: raised while any deep call runs,
        # and put back after the last, so that code on ordinary stacks keeps the default.
        with _STACK_LOCK:
            if _DEEP == 0:
                _SAVED_LIMIT = sys.getrecursionlimit()
                sys.setrecursionlimit(max(_SAVED_LIMIT, RECURSION_LIMIT))
            _DEEP += 1
        try:
            result.append(fn(*args, **kwargs))
        except BaseException as err:  # re-raised in the caller's thread
            error.append(err)
        finally:
            with _STACK_LOCK:
                _DEEP -= 1
                if _DEEP == 0:
                    sys.setrecursionlimit(_SAVED_LIMIT)

    with _START_LOCK:
        old = threading.stack_size()
        try:
            threading.stack_size(DEEP_STACK_BYTES)
            worker = threading.Thread(target=work, name="kscript-deep", daemon=True)
            worker.start()
        except (RuntimeError, ValueError, MemoryError):
            worker = None
        finally:
            threading.stack_size(old)
    if worker is None:  # pragma: no cover - a platform without thread stack sizes
        return fn(*args, **kwargs)
    while worker.is_alive():
        worker.join(0.1)  # short waits: Ctrl-C still reaches the main thread
    if error:
        raise error[0].with_traceback(error[0].__traceback__)
    return result[0]


_STACK_LOCK = threading.Lock()
_START_LOCK = threading.Lock()
_DEEP = 0  # deep calls running
_SAVED_LIMIT = 1000

#: a film's soundtrack (`audio:`): the file's size and its decoded length
MAX_AUDIO_BYTES = 512 * 1024 * 1024
MAX_AUDIO_SECONDS = 3 * 3600

#: a scene's init image (`image "photo.png"`): the file's size, its width and height, and
#: its pixels (checked from the file's header before it is decoded: a small PNG can hold a
#: decompression bomb of gigapixels). A 50-megapixel camera photo fits.
MAX_IMAGE_BYTES = 64 * 1024 * 1024
MAX_IMAGE_SIDE = 16_384
MAX_IMAGE_PIXELS = 64_000_000
