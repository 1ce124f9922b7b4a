"""The checker: resolve names, units and settings of a parsed film; collect every error.

Front door: `load_program(path)` and `load_source(text, path)` give a `CheckedProgram`
or raise `ScriptErrors` (all diagnostics of all files read) — `UsageError` when the film
file itself cannot be read.
"""

from __future__ import annotations

from pathlib import Path

from kscript.check.program import CheckedProgram
from kscript.errors import UsageError


def load_source(text: str, path: str = "<string>") -> CheckedProgram:
    """Check a film given as text; imports are relative to `path`'s folder."""
    from kscript.check.checker import check_files
    from kscript.check.loader import load_files

    return check_files(load_files(text, path), path)


def read_film(path: str | Path) -> str:
    """The text of a film file, or a `UsageError` that says why it cannot be read."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"no such file: {path}")
    if p.is_dir():
        raise UsageError(f"{path} is a directory, not a .kscene file")
    try:
        return p.read_text(encoding="utf-8-sig")  # a byte-order mark is not part of the script
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror or err}") from None


def load_program(path: str | Path) -> CheckedProgram:
    """Read, parse and check a film and everything it imports."""
    return load_source(read_film(path), str(path))


__all__ = ["CheckedProgram", "load_program", "load_source", "read_film"]
