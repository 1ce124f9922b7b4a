"""kscript as a library: `parse`, `check`, `plan` and `build`, one function per stage.

These are the functions the commands are made of, with types and without the command
line: a film goes in as a path (and, if you have it in memory, its text), and each function
returns the stage's own output type::

    from kscript import api

    film_plan = api.plan("film.kscene")          # a kscript.plan.RenderPlan
    report = api.build(film_plan, "film.mp4")    # a kscript.render.build.BuildReport

Every failure a user can cause is a `kscript.errors.KscriptError`: `ScriptErrors` (the
film has errors; `.diagnostics` holds them all, `.render()` gives the text `kscript check`
prints), `UsageError` (a file that cannot be read, a bad option), `ModelError` (a model
that cannot be loaded), `RenderError` (an output that cannot be written), and
`BuildCancelled` (your `should_cancel` said so). Anything else is a bug in kscript.

Importing this module imports no torch, diffusers, PyAV or OpenCV; `build` imports what
the film needs when it is called.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kscript.check.program import CheckedProgram
from kscript.compile import Compilation, compile_film
from kscript.errors import read_film
from kscript.plan import RenderPlan
from kscript.source import SourceFile, without_bom
from kscript.syntax.nodes import Module

if TYPE_CHECKING:  # the render engine is imported when `build` is called
    from kscript.render.build import BuildOptions, BuildReport

__all__ = ["build", "check", "parse", "plan"]

PathLike = str | os.PathLike[str]


def _source(film: PathLike, text: str | None) -> SourceFile:
    """The film's source: read from `film`, or `text` shown under the name `film`."""
    if text is None:
        return read_film(film)
    return SourceFile(os.fspath(film), without_bom(text))


def parse(film: PathLike, text: str | None = None) -> Module:
    """The syntax tree of one file (imports are not followed).

    Args:
        film: the file's path; with `text`, only the name shown in messages.
        text: the file's contents, when you have them already.

    Returns:
        the AST (`kscript.syntax.nodes.Module`): frozen dataclasses, a `Span` on each node.

    Raises:
        UsageError: the file cannot be read.
        ScriptErrors: it has syntax errors, or is not UTF-8 text.
    """
    from kscript.syntax import parse_source

    source = _source(film, text)
    return parse_source(source.text, source.path)


def _compile(film: PathLike, text: str | None, allow_library: bool) -> Compilation:
    return compile_film(_source(film, text), allow_library=allow_library)


def check(film: PathLike, text: str | None = None) -> CheckedProgram:
    """Check a film and everything it imports, as `kscript check` does: syntax, names,
    units, settings and the per-frame value ranges, every error of every file at once.

    A file of lets and effects only (meant to be imported) checks fine: its program has
    no scenes.

    Args:
        film: the film's path; imports are found relative to its folder. With `text`,
            the path need not exist (imports are still looked for beside it).
        text: the film's contents, when you have them already.

    Returns:
        the checked program: `film` settings, `scenes`, `effects`, the `files` read, and
        `warnings` (which do not stop a build).

    Raises:
        UsageError: the film cannot be read.
        ScriptErrors: every error found (with the warnings).
    """
    return _compile(film, text, allow_library=True).program


def plan(film: PathLike, text: str | None = None) -> RenderPlan:
    """Compile a film into its render plan, the contract the render engine reads.

    Args:
        film, text: as for `check`.

    Returns:
        the plan: one `Frame` per frame of the video with its operation, motion,
        generation values, prompts, seed and content key; `plan.to_json()` is what
        `kscript plan --json` prints.

    Raises:
        UsageError: the film cannot be read.
        ScriptErrors: every error found.
    """
    return _compile(film, text, allow_library=False).plan  # type: ignore[return-value]


def build(
    film: PathLike | RenderPlan,
    output: PathLike | None = None,
    options: "BuildOptions | None" = None,
    **settings: Any,
) -> "BuildReport":
    """Render a film (or a plan) to a video, as `kscript build` does.

    Finished frames are cached (in `.kscript/` beside the film unless `cache_dir` says
    otherwise), so a second build renders only what changed.

    Args:
        film: a film's path, or a plan from `plan()` (or `RenderPlan.model_validate_json`).
        output: `.mp4`/`.mov`/`.mkv` (H.264), `.webm` (VP9) or a folder ending in `/` (PNG
            frames). Default: beside the film, as `kscript build` names it.
        options: a `kscript.render.build.BuildOptions`.
        **settings: or its fields by name instead (`preview=True`, `model=...`,
            `device="cuda"`, `cache_dir=...`, `scene=...`, `progress=...`, ...).

    Returns:
        what the build did (`frames_rendered`, `frames_cached`, `model_calls`, `output`, ...).

    Raises:
        UsageError: the film cannot be read, an option or the output path is wrong.
        ScriptErrors: the film has errors.
        ModelError: the model cannot be loaded (before any frame is rendered).
        RenderError: the output cannot be written.
        BuildCancelled: `should_cancel()` returned True.
    """
    from dataclasses import fields

    from kscript.errors import UsageError
    from kscript.render.build import BuildOptions
    from kscript.render.build import build as render

    if options is not None and settings:
        raise UsageError("pass build options either as `options` or by name, not both")
    known = {f.name for f in fields(BuildOptions)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise UsageError(f"unknown build option{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
                         hint="the options are the fields of kscript.render.build.BuildOptions: " + ", ".join(sorted(known)))
    the_plan = film if isinstance(film, RenderPlan) else plan(film)
    return render(the_plan, output, options if options is not None else BuildOptions(**settings))
