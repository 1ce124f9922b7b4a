"""Watch a film and its imports; rebuild once per save, however the editor saves.

One watchdog `Observer` watches the *directories* of the film and of every file it imports
(not the files: editors replace files, and a watch on a replaced inode goes deaf). Events
are filtered by path, source and destination both:

- in place: modified + closed on the film;
- atomic save: a temp file renamed over the film arrives as a move whose `dest_path` is
  the film;
- vim: the film is moved to `film~`, a new film is created, the backup deleted.

Every event only sets a flag and a time. One build thread waits for ~150 ms of quiet, then
compiles and renders once with the newest text, so each way of saving (and a burst of 50
saves) gives one rebuild. A save during a render makes `should_cancel()` true; the render
stops at the next frame boundary (its finished frames stay in the cache) and the loop
starts again. The set of watched files is recomputed after each good compile (imports
change); after a failed one the previous set is kept, plus the files the compiler read and
every file the film names (`Pipeline.named_files`: an init image missing on the first check
is watched, through its folder, so creating it rebuilds).

A script with errors never stops the watcher: the errors go to the terminal and the page,
and the last good video stays. A film that disappears is reported and picked up again
when it comes back.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Callable

from watchdog.events import (
    EVENT_TYPE_CLOSED,
    EVENT_TYPE_CREATED,
    EVENT_TYPE_DELETED,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_MOVED,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from kscript.errors import KscriptError
from kscript.watch.pipeline import Compiled, FrameDone, Pipeline, RenderCancelled, Rendered
from kscript.watch.state import LiveState
from kscript.watch.summary import diagnostics_payload, plan_summary

DEBOUNCE_S = 0.15
# A long render (a real model) says how far it got in the terminal this often.
PROGRESS_LOG_S = 5.0

# Events that mean "the content may have changed". Opened / closed-without-write / attrib
# are left out on purpose: our own compile reads the files, and reacting to that would
# rebuild forever.
_TRIGGERS = frozenset({EVENT_TYPE_MODIFIED, EVENT_TYPE_CREATED, EVENT_TYPE_MOVED, EVENT_TYPE_DELETED, EVENT_TYPE_CLOSED})

Log = Callable[[str], None]


def _norm(path: str | os.PathLike[str]) -> str:
    return os.path.normcase(os.path.normpath(os.path.abspath(os.fspath(path))))


def _nearest_existing(folder: str) -> str:
    """The folder itself or its nearest ancestor that is a folder (the root at worst)."""
    while not os.path.isdir(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return folder


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: "FilmWatcher") -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in _TRIGGERS:
            return
        paths = [event.src_path]
        if event.event_type == EVENT_TYPE_MOVED:
            paths.append(event.dest_path)
        if event.is_directory:
            # a folder made on the way to one the film names that did not exist: rebuild,
            # and the rebuild watches the new folder (or the next one down that is missing)
            if event.event_type in (EVENT_TYPE_CREATED, EVENT_TYPE_MOVED) and any(
                    self.watcher.awaits(os.fsdecode(p)) for p in paths if p):
                self.watcher.poke()
            return
        if any(self.watcher.concerns(os.fsdecode(p)) for p in paths if p):
            self.watcher.poke()


class FilmWatcher:
    """Rebuilds `film` through `pipeline` on every save and publishes to `state`.

    Args:
        film: the film as the user named it (diagnostics show paths as given).
        pipeline: compile + render (`KscriptPipeline`, or a stand-in in tests).
        state: where the page reads status, summary, diagnostics and videos.
        debounce: seconds of quiet before a rebuild.
        log: where terminal lines go.
    """

    def __init__(
        self,
        film: str | os.PathLike[str],
        pipeline: Pipeline,
        state: LiveState | None = None,
        *,
        debounce: float = DEBOUNCE_S,
        log: Log = print,
    ) -> None:
        self.film = Path(film)
        self.pipeline = pipeline
        self.state = state or LiveState()
        self.state.film = str(self.film)
        self.debounce = debounce
        self.log = log
        self.builds = 0  # compiles started: what tests count
        self.renders = 0
        self._cond = threading.Condition()
        self._dirty = False
        self._last_event = float("-inf")
        self._building = False
        self._stopping = False
        self._missing_reported = False
        self._last_failed = False
        self._progress_logged = 0.0
        self._files: set[str] = {_norm(self.film)}
        self._watch_names: set[str] = set()
        self._scheduled: dict[str, object] = {}
        self._missing_dirs: set[str] = set()
        self._observer = Observer()
        self._handler = _Handler(self)
        self._thread = threading.Thread(target=self._loop, name="kscript-watch-build", daemon=True)
        self._snapshots = Path(tempfile.mkdtemp(prefix="kscript-watch-"))
        self._retarget(self._files)

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> "FilmWatcher":
        """Start observing and build once right away."""
        self._observer.start()
        self._thread.start()
        with self._cond:
            self._dirty = True
            self._cond.notify_all()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the observer and the build thread (a render in flight is cancelled)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        try:
            self._observer.stop()
            if self._observer.is_alive():
                self._observer.join(timeout)
        except Exception:  # stopping must never raise on the way out
            pass
        if self._thread.is_alive():
            self._thread.join(timeout)
        shutil.rmtree(self._snapshots, ignore_errors=True)

    def __enter__(self) -> "FilmWatcher":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- events --------------------------------------------------------------------------
    def concerns(self, path: str) -> bool:
        """Whether a change at `path` can change the film."""
        p = _norm(path)
        if p in self._watch_names:
            return True
        # After a failed compile, a new .kscene beside the watched files may be the missing
        # import the user is creating right now.
        return self._last_failed and p.endswith(".kscene") and os.path.dirname(p) in self._scheduled

    def awaits(self, path: str) -> bool:
        """Whether `path` is a folder on the way to a folder the film names that does not
        exist yet (`image "shots/a.png"` before `shots/` is made)."""
        p = _norm(path)
        return any(m == p or m.startswith(p + os.sep) for m in self._missing_dirs)

    def poke(self) -> None:
        """Something changed: (re)start the quiet period; cancel a render in flight."""
        with self._cond:
            self._dirty = True
            self._last_event = time.monotonic()
            self._cond.notify_all()

    def watched_files(self) -> set[Path]:
        return {Path(p) for p in self._files}

    def watched_dirs(self) -> set[Path]:
        return {Path(p) for p in self._scheduled}

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no rebuild is pending or running (for tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._dirty or self._building:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    # -- the build thread ----------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._dirty and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                while True:  # debounce: wait until the saves have gone quiet
                    left = self._last_event + self.debounce - time.monotonic()
                    if left <= 0 or self._stopping:
                        break
                    self._cond.wait(left)
                if self._stopping:
                    return
                self._dirty = False
                self._building = True
            try:
                self._build_once()
            except Exception:  # a bug in kscript must not end the watch session
                self.log("internal error while building:\n" + traceback.format_exc())
            finally:
                with self._cond:
                    self._building = False
                    self._cond.notify_all()

    def _should_cancel(self) -> bool:
        return self._dirty or self._stopping

    def _build_once(self) -> None:
        film = self.film
        if not film.is_file():
            self._report_missing()
            return
        self._missing_reported = False
        self.builds += 1
        build = self.state.begin()
        self.log(f"building {film} (build {build})")
        started = time.perf_counter()
        try:
            compiled = self.pipeline.compile(film)
        except KscriptError as err:
            if not film.is_file():  # removed while we read it
                self._report_missing()
                return
            self._fail(err, extra_files=getattr(err, "sources", None) or {}, named=self._named_files(film))
            return
        except Exception as err:  # a bug: show it, keep watching
            self._internal_error(err)
            return
        self._last_failed = False
        # the pipeline's files include the soundtrack and the scenes' init images: a new
        # song or picture rebuilds
        self._retarget({_norm(f) for f in compiled.files} | {_norm(film)})
        try:
            summary = plan_summary(compiled.plan)
        except Exception as err:  # a bug in kscript: shown as one, and the watch goes on
            self._internal_error(err)
            return
        self.state.compiled(summary)
        if self._should_cancel():
            self.state.cancelled()
            return
        self.renders += 1
        self._progress_logged = time.monotonic()
        try:
            rendered = self.pipeline.render(compiled, progress=self._progress, should_cancel=self._should_cancel)
        except RenderCancelled:
            self.state.cancelled()
            if not self._stopping:
                self.log("render cancelled: a newer save is waiting")
            return
        except KscriptError as err:
            self._fail(err)
            return
        except Exception as err:
            self._internal_error(err)
            return
        self._finish(compiled, rendered, time.perf_counter() - started)

    def _progress(self, event: FrameDone) -> None:
        self.state.frame_done(event.done, event.total, event.index, event.image)
        now = time.monotonic()
        if now - self._progress_logged >= PROGRESS_LOG_S and event.total:
            self._progress_logged = now
            self.log(f"rendering: {event.done} of {event.total} frames done")

    def _finish(self, compiled: Compiled, rendered: Rendered, seconds: float) -> None:
        video = self._snapshot(rendered.video) if rendered.video is not None else None
        output = rendered.output or rendered.video
        result = {
            "seconds": round(seconds, 3),
            "frames_rendered": rendered.frames_rendered,
            "frames_cached": rendered.frames_cached,
            "output": str(output) if output is not None else None,
        }
        self.state.finished(video, result)
        self._prune_snapshots()
        parts = []
        if rendered.frames_rendered is not None:
            parts.append(f"{rendered.frames_rendered} frames rendered")
        if rendered.frames_cached is not None:
            parts.append(f"{rendered.frames_cached} from cache")
        detail = f" ({', '.join(parts)})" if parts else ""
        where = output if output is not None else "the output"
        self.log(f"built {where} in {seconds:.2f} s{detail}")

    def _fail(self, err: KscriptError, extra_files: dict | None = None, named: set[str] | None = None) -> None:
        self._last_failed = True
        if extra_files or named:
            files = set(self._files) | (named or set())
            for name in extra_files or ():
                files.add(self._resolve_source(name))
            self._retarget(files)
        # The terminal first, then the page: whoever sees the page's error can rely on
        # the same text already being in the log.
        self.log(err.render())
        self.log("waiting for a fix (the last good video stays on the page)")
        self.state.failed(diagnostics_payload(err))

    def _internal_error(self, err: Exception) -> None:
        text = "internal error in kscript (please report it):\n" + "".join(
            traceback.format_exception(type(err), err, err.__traceback__)
        )
        self.log(text)
        self.state.failed({"text": text, "items": [], "kind": "InternalError"})

    def _report_missing(self) -> None:
        if self.builds:  # a build ran, so the film existed: it was removed, not never made
            message = f"{self.film} was removed; waiting for it to come back"
        else:
            message = f"{self.film} does not exist yet; waiting for it to be created"
        if not self._missing_reported:
            self.log(message)
            self._missing_reported = True
        self.state.missing(message)

    def _named_files(self, film: Path) -> set[str]:
        """What the film depends on though it did not compile (the pipeline says, if it
        can): a picture missing on the first check is watched, and creating it rebuilds."""
        named = getattr(self.pipeline, "named_files", None)
        if named is None:
            return set()
        try:
            return {_norm(p) for p in named(film)}
        except Exception as err:  # a bug there must not hide the script's own errors
            self.log(f"internal error while listing the film's files: {err!r}")
            return set()

    def _resolve_source(self, name: str) -> str:
        p = Path(name)
        if not p.is_absolute() and not p.exists():
            beside = self.film.parent / p
            if beside.exists():
                p = beside
        return _norm(p)

    # -- what is watched -----------------------------------------------------------------
    def _retarget(self, files: set[str]) -> None:
        """Watch exactly the directories of `files` (the film's always among them)."""
        files = set(files) | {_norm(self.film)}
        names = set(files)
        for f in files:  # a symlinked film is edited through its target too
            names.add(_norm(os.path.realpath(f)))
        dirs = {os.path.dirname(n) for n in names}
        # A folder that does not exist cannot be watched: its nearest existing ancestor is,
        # for the folders made on the way down to it (`awaits`).
        was_missing, self._missing_dirs = self._missing_dirs, {d for d in dirs if not os.path.isdir(d)}
        for d in self._missing_dirs:
            dirs.add(_nearest_existing(d))
        for d in sorted(dirs - set(self._scheduled)):
            if os.path.isdir(d):
                self._scheduled[d] = self._observer.schedule(self._handler, d, recursive=False)
                if d in was_missing and any(os.path.dirname(n) == d and os.path.exists(n) for n in names):
                    self.poke()  # its file came with it, before the folder was watched
        for d in sorted(set(self._scheduled) - dirs):
            try:
                self._observer.unschedule(self._scheduled.pop(d))  # type: ignore[arg-type]
            except Exception:
                pass
        self._files = files
        self._watch_names = names

    # -- videos the page can stream ------------------------------------------------------
    def _snapshot(self, video: Path) -> Path:
        """A stable copy of this build's video (a hard link where possible).

        The output file is replaced by the next build; a player in the middle of range
        requests must keep reading the bytes it started with.
        """
        target = self._snapshots / f"{self.state.build}{video.suffix.lower() or '.mp4'}"
        try:
            if target.exists():
                target.unlink()
            os.link(video, target)
        except OSError:
            shutil.copyfile(video, target)
        return target

    def _prune_snapshots(self) -> None:
        keep = {v.path for v in self.state.kept_videos()}
        for p in self._snapshots.iterdir():
            if p not in keep:
                p.unlink(missing_ok=True)
