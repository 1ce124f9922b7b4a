"""What the watcher runs on every save: compile, then render. A small seam for tests.

The watcher does not know about the compiler or the render engine; it calls a `Pipeline`
with two methods. `KscriptPipeline` is the real one (`kscript.compile` + `kscript.render`);
tests pass a stand-in that counts calls, so the watcher and the server are specified
without rendering a single real frame.

Contract of a pipeline:
- `compile(film)` returns a `Compiled` (the plan, and every file it depends on: the film,
  its imports, init images and soundtrack, so the watcher can follow them), or raises
  `kscript.errors.KscriptError` (`ScriptErrors` for a script with errors; its `.sources`
  names the files read).
- optionally `named_files(film)`: the files the film depends on even when it does not
  compile (a missing init image among them); the watcher follows them after a failure.
- `render(compiled, progress=..., should_cancel=...)` makes the video and returns a
  `Rendered`; it calls `progress(FrameDone)` after each frame and stops with
  `RenderCancelled` at a frame boundary once `should_cancel()` is true. Finished frames stay
  in the cache, so the next render resumes where this one stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from kscript.plan import RenderPlan

if TYPE_CHECKING:  # the render engine is imported on first use
    from kscript.backends.interface import Backend


class RenderCancelled(Exception):
    """A render stopped at a frame boundary because a newer save is waiting."""


@dataclass(frozen=True)
class Compiled:
    """A successful compilation: the plan and every file that went into it."""

    film: Path
    plan: RenderPlan
    files: frozenset[Path]


@dataclass(frozen=True)
class FrameDone:
    """Progress of a render: `done` of `total` frames finished; `image` is the latest
    finished frame when there is one: image bytes (PNG or JPEG), an image file, or an RGB
    numpy image (encoded only if the page asks for it, so that rendering never waits for
    image encoding)."""

    done: int
    total: int
    index: int | None = None
    image: Any = None


@dataclass(frozen=True)
class Rendered:
    """A finished render: the video (or None for an output that is not one file)."""

    video: Path | None
    output: Path | None = None  # what was written: the video, or a folder of PNG frames
    frames_rendered: int | None = None
    frames_cached: int | None = None
    seconds: float = 0.0
    report: dict = field(default_factory=dict)


ProgressFn = Callable[[FrameDone], None]
CancelFn = Callable[[], bool]


class Pipeline(Protocol):
    def compile(self, film: Path) -> Compiled: ...

    def render(self, compiled: Compiled, *, progress: ProgressFn, should_cancel: CancelFn) -> Rendered: ...


class KscriptPipeline:
    """The real pipeline: `kscript.check` + `kscript.compile`, then `kscript.render.build`.

    Imports of the compiler and the render engine happen on first use, so that building the
    CLI parser stays light. The backend is made and loaded once and kept between builds
    while the film's model stays the same (loading a diffusers model takes far longer than
    a one-scene rebuild).
    """

    def __init__(
        self,
        *,
        output: Path | None = None,
        preview: bool = False,
        model: str | None = None,
        device: str | None = None,
        cache: Path | None = None,
        preset: str | None = None,
        cluster: str | None = None,
    ) -> None:
        self.output = output
        #: `--cluster ADDRESS`: render on a Ray cluster whose workers (and their loaded
        #: models) are kept between builds; joined on the first build, closed by `close()`
        self.cluster = cluster
        self._cluster: Any = None
        self.preset = preset
        self.preview = preview
        self.model = model
        self.device = device
        self.cache = cache
        self._backend: Backend | None = None
        self._backend_key: tuple | None = None
        self._depth: Any = None  # the session's depth source (`_depth_for`)

    def compile(self, film: Path) -> Compiled:
        from kscript.compile import compile_film
        from kscript.errors import read_film

        # The same front door as `kscript check`: every error of every file in one run
        # (name errors and range errors together), read once.
        compiled = compile_film(read_film(film))
        # without allow_library a compilation always has a plan (or raised)
        return Compiled(film=Path(film), plan=compiled.plan, files=self.named_files(film))  # type: ignore[arg-type]

    def named_files(self, film: Path) -> frozenset[Path]:
        """Every file the film depends on (`kscript.check.loader.named_files`: the film, the
        imports found, its soundtrack and init images, whether or not they exist).

        The watcher follows these after a good compile and after a failed one alike, so that
        a picture missing on the first check is watched and creating it rebuilds. It reads
        and parses the film and its imports again (a few ms; not checked, not compiled).
        """
        from kscript.check.loader import load_files, named_files
        from kscript.errors import KscriptError, read_film

        try:
            source = read_film(film)
        except KscriptError:  # gone or not text: the film itself is all there is to watch
            return frozenset({Path(film)})
        loaded = load_files(source.text, source.path)
        return frozenset({Path(film)} | {Path(p) for p in named_files(loaded, source.path)})

    def render(self, compiled: Compiled, *, progress: ProgressFn, should_cancel: CancelFn) -> Rendered:
        from kscript.render.build import BuildCancelled, BuildOptions, build

        plan = compiled.plan
        # None: where `kscript build` would write it (build() picks it from the plan's film)
        output = Path(self.output) if self.output else None
        total = len(plan.frames)
        latest: dict[str, Any] = {}

        def on_progress(event: Any) -> None:
            if event.phase == "done":
                progress(FrameDone(event.frames_done, event.frames_total, event.frame, latest.pop("image", None)))
            elif event.phase == "step" and event.steps:
                # a slow model frame: report the fraction of the frame, no image yet
                progress(FrameDone(event.frames_done, event.frames_total, None, None))

        def on_frame(index: int, image: Any) -> None:
            latest["image"] = image  # a numpy image; encoded (JPEG) only if the page asks

        options = BuildOptions(
            preview=self.preview,
            model=self.model,
            device=self.device,
            cache_dir=self.cache,
            preset=self.preset,  # None: build's defaults (DRAFT_PRESET for preview drafts)
            progress=on_progress,
            should_cancel=should_cancel,
            on_frame=on_frame,
        )
        if self.cluster is not None:
            options.cluster = self._cluster_for(total, progress)
        else:
            options.backend = self._backend_for(plan)
            options.depth = self._depth_for(plan, options)
        try:
            report = build(plan, output, options)
        except BuildCancelled as err:
            raise RenderCancelled(str(err)) from err
        video = Path(report.output)
        return Rendered(
            video=video if video.is_file() else None,
            output=video,
            frames_rendered=report.frames_rendered,
            frames_cached=report.frames_cached,
            seconds=report.seconds,
            report={"frames_total": total, "model_calls": dict(report.model_calls), "backend": report.backend},
        )

    def _cluster_for(self, total: int, progress: ProgressFn) -> Any:
        """The session's cluster (its workers keep their models between builds), reporting
        each frame that arrives as progress (the page shows no image until the video)."""
        from kscript.cluster import cluster_for

        if self._cluster is None:
            self._cluster, _ = cluster_for(self.cluster)
        count = {"done": 0}

        def on_chain(event: Any) -> None:
            if event.phase == "frame":
                count["done"] += 1
                progress(FrameDone(min(count["done"], total), total, None, None))

        self._cluster.progress = on_chain
        return self._cluster

    def connect(self) -> None:
        """Join (or start) the cluster now, from the calling thread (Ray starts best from
        the main thread), so a wrong address fails at once rather than at the first save."""
        if self.cluster is not None and self._cluster is None:
            from kscript.cluster import cluster_for

            self._cluster, _ = cluster_for(self.cluster)
            self._cluster.connect()

    def close(self) -> None:
        """Stop the cluster's workers (and the Ray instance `--cluster local` started)."""
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def _depth_for(self, plan: RenderPlan, options: Any) -> Any:
        """The depth source for this plan (`kscript.render.build.film_depth`), the session's
        own while the film's `depth:`, folder and backend stay the same: a depth model
        loads once per session, as the backend does. None for a film without depth warps."""
        from kscript.render.build import film_depth

        options.depth = self._depth
        depth = film_depth(plan, options, options.backend)
        if depth is not None:
            self._depth = depth
        return depth

    def _backend_for(self, plan: RenderPlan) -> "Backend":
        """The loaded backend for this plan's model, reused while the model stays the same."""
        from kscript.render.build import BuildOptions, make_backend

        options = BuildOptions(preview=self.preview, model=self.model, device=self.device)
        key = (self.preview, self.model or plan.film.model, plan.film.prior, plan.film.inpaint, self.device)
        if self._backend is None or key != self._backend_key:
            backend = make_backend(plan, options)
            backend.load()
            self._backend, self._backend_key = backend, key
        return self._backend
