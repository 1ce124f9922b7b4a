"""The checker: resolve names, units and settings of a parsed film; collect every error.

Front door: `load_program(path)` and `load_source(text, path)` give a `CheckedProgram`
or raise `ScriptErrors` (all diagnostics of all files read) — `UsageError` when the film
file itself cannot be read (`kscript.errors.read_film`).
"""

from __future__ import annotations

from pathlib import Path

from kscript.check.program import CheckedProgram
from kscript.errors import read_film
from kscript.source import without_bom


def load_source(text: str, path: str = "<string>") -> CheckedProgram:
    """Check a film given as text; imports are relative to `path`'s folder."""
    from kscript.check.checker import check_files
    from kscript.check.loader import load_files

    from kscript.limits import deep_call

    return deep_call(lambda: check_files(load_files(without_bom(text), path), path))


def load_program(path: str | Path) -> CheckedProgram:
    """Read, parse and check a film and everything it imports."""
    source = read_film(path)
    return load_source(source.text, source.path)


__all__ = ["CheckedProgram", "load_program", "load_source"]
