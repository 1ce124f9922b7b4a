"""The compiler: checked program → `RenderPlan` (`kscript.plan`).

Front door: `compile_file(path)`, `compile_source(text, path="<string>")` and
`compile_program(checked)`; each raises `ScriptErrors` with every diagnostic found (and
`compile_file` a `UsageError` when the film itself cannot be read).

`compile_file`/`compile_source` collect the checker's errors *and* the compiler's
per-frame ones (a curve leaving its range) in one run: a program with errors is still
compiled, its broken parts left out, so the user sees everything at once.
"""

from __future__ import annotations

import gc
from pathlib import Path

from kscript.check import read_film
from kscript.check.program import CheckedProgram
from kscript.compile.compiler import compile_program
from kscript.errors import ScriptErrors
from kscript.plan import RenderPlan


def check_and_compile(
    text: str, path: str = "<string>", allow_library: bool = False
) -> tuple[CheckedProgram, RenderPlan | None]:
    """`_check_and_compile` with room for deep expressions (`kscript.limits.deep_call`):
    a flat sum of thousands of terms is as deep as it is long."""
    from kscript.limits import deep_call

    return deep_call(_check_and_compile, text, path, allow_library)


def _check_and_compile(
    text: str, path: str = "<string>", allow_library: bool = False
) -> tuple[CheckedProgram, RenderPlan | None]:
    """The checked program and its plan, or `ScriptErrors` with every error of every file.

    With `allow_library` (for `kscript check`), a file of lets and effects only, meant to be
    imported, checks fine and has no plan (None)."""
    from kscript.check.checker import _dedupe, collect
    from kscript.check.loader import load_files

    # Parsing and compiling make many long-lived small objects: the cyclic garbage
    # collector would walk them repeatedly for nothing (a large share of the time).
    enabled = gc.isenabled()
    gc.disable()
    try:
        files = load_files(text, path)
        program, errors, warnings = collect(files, path, allow_library)
        plan = None
        if program is not None and allow_library and not program.scenes and not errors:
            program.warnings = warnings
            return program, None
        # Past a limit (E034) the program is not compiled for more errors: that is the
        # cost the limit is there to refuse (a film over MAX_FRAMES is checked up to it).
        if program is not None and not any(d.code == "E034" for d in errors):
            try:
                plan = compile_program(program)
            except ScriptErrors as err:
                errors = errors + list(err.diagnostics)
            except Exception:
                if not errors:
                    raise  # a bug in kscript: keep the traceback
                # A program with errors may not compile; its errors already say why.
    finally:
        if enabled:
            gc.enable()
    if errors or plan is None or program is None:
        raise ScriptErrors(_dedupe(errors) + warnings, files.sources)
    program.warnings = warnings
    return program, plan


def compile_source(text: str, path: str = "<string>") -> RenderPlan:
    """The render plan of a film given as text (imports relative to `path`'s folder)."""
    return check_and_compile(text, path)[1]  # type: ignore[return-value]


def compile_file(path: str | Path) -> RenderPlan:
    """The render plan of a film file."""
    return check_and_compile(read_film(path), str(path))[1]  # type: ignore[return-value]


def load_and_compile(path: str | Path, allow_library: bool = False) -> tuple[CheckedProgram, RenderPlan | None]:
    """`compile_file` that also returns the checked program (for its warnings and files)."""
    return check_and_compile(read_film(path), str(path), allow_library)


__all__ = ["CheckedProgram", "check_and_compile", "compile_file", "compile_program", "compile_source", "load_and_compile"]
