"""The compiler: a film's source → checked program → `RenderPlan` (`kscript.plan`).

One entry point, `compile_film(source)`: it reads the film's imports, checks everything and
compiles the plan, and raises `ScriptErrors` with every diagnostic found: the checker's
errors *and* the compiler's per-frame ones (a curve leaving its range) in one run. A
program with errors is still compiled, its broken parts left out by the checker, so the
user sees everything at once; an exception other than `ScriptErrors` from the compiler is
a bug in kscript, whether or not the program had errors, and is never hidden.

`compile_file(path)` and `compile_source(text, path)` are its two spellings for when only
the plan is wanted. `compile_program(checked)` is the compiler pass alone.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path

from kscript.check.checker import _dedupe, collect
from kscript.check.loader import load_files
from kscript.check.program import CheckedProgram
from kscript.compile.compiler import compile_program
from kscript.errors import ScriptErrors, read_film
from kscript.plan import RenderPlan
from kscript.source import SourceFile, without_bom


@dataclass(frozen=True)
class Compilation:
    """A compiled film.

    Attributes:
        program: the checked program: every file read (`program.files`) and the warnings
            (`program.warnings`).
        plan: the render plan; None only for a file of lets and effects compiled with
            `allow_library` (it has nothing to render).
    """

    program: CheckedProgram
    plan: RenderPlan | None


def compile_film(source: SourceFile, *, allow_library: bool = False) -> Compilation:
    """Check and compile a film and everything it imports (relative to `source.path`).

    Runs under `kscript.limits.deep_call`, with room for deep expressions: a flat sum of
    thousands of terms is as deep as it is long.

    Args:
        source: the film's text and the path it is shown (and its imports found) by.
        allow_library: a file of lets and effects only, meant to be imported, is fine and
            has no plan (for `kscript check` and `kscript effects --film`).

    Raises:
        ScriptErrors: every error of every file read, with the warnings.
    """
    from kscript.limits import deep_call

    return deep_call(_compile_film, source, allow_library)


def _compile_film(source: SourceFile, allow_library: bool) -> Compilation:
    path = source.path
    # Parsing and compiling make many long-lived small objects: the cyclic garbage
    # collector would walk them repeatedly for nothing (a large share of the time).
    enabled = gc.isenabled()
    gc.disable()
    try:
        files = load_files(source.text, path)
        program, errors, warnings = collect(files, path, allow_library)
        plan = None
        if program is not None and allow_library and not program.scenes and not errors:
            program.warnings = warnings
            return Compilation(program, None)
        # Past a limit (E034) the program is not compiled for more errors: that is the
        # cost the limit is there to refuse (a film over MAX_FRAMES is checked up to it).
        if program is not None and not any(d.code == "E034" for d in errors):
            try:
                plan = compile_program(program)
            except ScriptErrors as err:
                errors = errors + list(err.diagnostics)
    finally:
        if enabled:
            gc.enable()
    if errors or plan is None or program is None:
        raise ScriptErrors(_dedupe(errors) + warnings, files.sources)
    program.warnings = warnings
    return Compilation(program, plan)


def compile_file(path: str | Path) -> RenderPlan:
    """The render plan of a film file.

    Raises:
        UsageError: the film cannot be read (`kscript.errors.read_film`).
        ScriptErrors: the film has errors (E007 when it is not UTF-8 text).
    """
    return compile_film(read_film(path)).plan  # type: ignore[return-value]


def compile_source(text: str, path: str = "<string>") -> RenderPlan:
    """The render plan of a film given as text (imports relative to `path`'s folder)."""
    return compile_film(SourceFile(path, without_bom(text))).plan  # type: ignore[return-value]


__all__ = ["CheckedProgram", "Compilation", "compile_file", "compile_film", "compile_program", "compile_source"]
