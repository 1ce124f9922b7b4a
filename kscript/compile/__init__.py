"""The compiler: checked program → `RenderPlan` (`kscript.plan`).

Front door: `compile_file(path)`, `compile_source(text, path="<string>")` and
`compile_program(checked)`; each raises `ScriptErrors` with every diagnostic found (and
`compile_file` a `UsageError` when the film itself cannot be read).
"""

from __future__ import annotations

from pathlib import Path

from kscript.check import load_program, load_source
from kscript.check.program import CheckedProgram
from kscript.compile.compiler import compile_program
from kscript.plan import RenderPlan


def compile_source(text: str, path: str = "<string>") -> RenderPlan:
    """The render plan of a film given as text (imports relative to `path`'s folder)."""
    return compile_program(load_source(text, path))


def compile_file(path: str | Path) -> RenderPlan:
    """The render plan of a film file."""
    return compile_program(load_program(path))


__all__ = ["CheckedProgram", "compile_file", "compile_program", "compile_source"]
