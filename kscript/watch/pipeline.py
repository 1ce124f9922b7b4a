"""What the watcher runs on every save: compile, then render. A small seam for tests.

The watcher does not know about the compiler or the render engine; it calls a `Pipeline`
with two methods. `KscriptPipeline` is the real one (`kscript.compile` + `kscript.render`);
tests pass a stand-in that counts calls, so the watcher and the server are specified
without rendering a single real frame.

Contract of a pipeline:
- `compile(film)` returns a `Compiled` (the plan, and every file it read: the film and its
  imports, so the watcher can follow them), or raises `kscript.errors.KscriptError`
  (`ScriptErrors` for a script with errors; its `.sources` names the files read).
- `render(compiled, progress=..., should_cancel=...)` makes the video and returns a
  `Rendered`; it calls `progress(FrameDone)` after each frame and stops with
  `RenderCancelled` at a frame boundary once `should_cancel()` is true. Finished frames stay
  in the cache, so the next render resumes where this one stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol


class RenderCancelled(Exception):
    """A render stopped at a frame boundary because a newer save is waiting."""


@dataclass(frozen=True)
class Compiled:
    """A successful compilation: the plan and every file that went into it."""

    film: Path
    plan: Any  # kscript.plan.RenderPlan (typed loosely so stand-ins can be small)
    files: frozenset[Path]


@dataclass(frozen=True)
class FrameDone:
    """Progress of a render: `done` of `total` frames finished; `image` is a PNG of the
    latest finished frame when the render engine can give one cheaply (a path or bytes)."""

    done: int
    total: int
    index: int | None = None
    image: Path | bytes | None = None


@dataclass(frozen=True)
class Rendered:
    """A finished render: the video (or None for an output that is not one file)."""

    video: Path | None
    frames_rendered: int | None = None
    frames_cached: int | None = None
    seconds: float = 0.0
    report: dict = field(default_factory=dict)


ProgressFn = Callable[[FrameDone], None]
CancelFn = Callable[[], bool]


class Pipeline(Protocol):
    def compile(self, film: Path) -> Compiled: ...

    def render(self, compiled: Compiled, *, progress: ProgressFn, should_cancel: CancelFn) -> Rendered: ...


def default_output(film: Path) -> Path:
    """Where `kscript build` writes the video: beside the film, with its name."""
    return film.with_suffix(".mp4")


class KscriptPipeline:
    """The real pipeline: `kscript.compile.compile_file` and `kscript.render.build.build`.

    Imports of the compiler and the render engine happen on first use, so that building the
    CLI parser stays light.
    """

    def __init__(
        self,
        *,
        output: Path | None = None,
        preview: bool = False,
        model: str | None = None,
        device: str | None = None,
        cache: Path | None = None,
    ) -> None:
        self.output = output
        self.preview = preview
        self.model = model
        self.device = device
        self.cache = cache

    def compile(self, film: Path) -> Compiled:
        from kscript.compile import compile_file

        plan = compile_file(film)
        return Compiled(film=Path(film), plan=plan, files=frozenset(_program_files(film)))

    def render(self, compiled: Compiled, *, progress: ProgressFn, should_cancel: CancelFn) -> Rendered:
        from kscript.render import build as build_module

        plan = compiled.plan
        film = compiled.film
        output = self.output or default_output(film)
        options = _build_options(
            build_module,
            preview=self.preview,
            model=self.model,
            device=self.device,
            cache=self.cache,
            film=film,
            progress=_progress_adapter(progress, len(plan.frames)),
            should_cancel=should_cancel,
        )
        started = time.perf_counter()
        try:
            report = build_module.build(plan, output, options)
        except getattr(build_module, "BuildCancelled", RenderCancelled) as err:
            raise RenderCancelled(str(err)) from err
        seconds = time.perf_counter() - started
        data = _report_dict(report)
        video = Path(output) if Path(output).is_file() else None
        return Rendered(
            video=video,
            frames_rendered=data.get("frames_rendered"),
            frames_cached=data.get("frames_cached"),
            seconds=float(data.get("seconds", seconds)),
            report=data,
        )


def _program_files(film: Path) -> set[Path]:
    """The film and every file it imports, as the checker read them."""
    files = {Path(film)}
    try:
        from kscript.check import load_program

        program = load_program(film)
        files.update(Path(f) for f in getattr(program, "files", ()) or ())
    except Exception:  # the plan compiled; a failure here only narrows what we watch
        pass
    return files


def _build_options(module: Any, **kwargs: Any) -> Any:
    """`BuildOptions` with the fields this version of the render engine knows."""
    import dataclasses
    import inspect

    cls = module.BuildOptions
    try:
        names = {f.name for f in dataclasses.fields(cls)}
    except TypeError:
        names = set(getattr(cls, "model_fields", {})) or set(inspect.signature(cls).parameters)
    return cls(**{k: v for k, v in kwargs.items() if k in names and v is not None})


def _progress_adapter(progress: ProgressFn, total: int) -> Callable[..., None]:
    def callback(*args: Any, **kwargs: Any) -> None:
        event = args[0] if args else kwargs
        done = _field(event, "done", "frames_done", "completed")
        index = _field(event, "index", "frame", "frame_index")
        tot = _field(event, "total", "frames_total") or total
        image = _field(event, "image_path", "path", "png")
        if done is None and index is not None:
            done = int(index) + 1
        progress(FrameDone(done=int(done or 0), total=int(tot), index=index, image=image))

    return callback


def _field(obj: Any, *names: str) -> Any:
    for name in names:
        if isinstance(obj, dict) and name in obj:
            return obj[name]
        if hasattr(obj, name):
            return getattr(obj, name)
    return None


def _report_dict(report: Any) -> dict:
    if report is None:
        return {}
    if isinstance(report, dict):
        return report
    for method in ("model_dump", "as_dict", "to_dict"):
        if hasattr(report, method):
            return dict(getattr(report, method)())
    try:
        import dataclasses

        return dataclasses.asdict(report)
    except TypeError:
        return dict(getattr(report, "__dict__", {}))
