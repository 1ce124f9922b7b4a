"""The one exception family that reaches users.

Anything a user can cause (a mistake in a script, a missing file, a model that is not
there) raises a `KscriptError`. The CLI prints `render()` and exits with `exit_code`; it
never shows a Python traceback for these. Any other exception is a bug in kscript.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from kscript.diagnostics import Diagnostic, render_all
from kscript.source import MISSING, NotUTF8, SourceFile, Unreadable


class KscriptError(Exception):
    """A problem for the user to fix. `str(err)` is already worded for people."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        text = f"error: {self.message}"
        if self.hint:
            text += f"\n   = help: {self.hint}"
        return text


class UsageError(KscriptError):
    """Bad command-line use: a missing film file, a wrong option. Exit code 2."""

    exit_code = 2


class ScriptErrors(KscriptError):
    """The script has errors: all the diagnostics of one compilation, in source order."""

    exit_code = 1

    def __init__(self, diagnostics: Sequence[Diagnostic], sources: Mapping[str, SourceFile]) -> None:
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        self.sources = dict(sources)
        first = self.diagnostics[0].message if self.diagnostics else "errors"
        super().__init__(first)

    def render(self) -> str:
        return render_all(self.diagnostics, self.sources)


class ModelError(KscriptError):
    """A model that cannot be loaded: says what was looked for and how to fix it."""


class RenderError(KscriptError):
    """A build that cannot go on for a reason the user can act on (disk full, bad output path)."""


#: what `read_film`'s usage error suggests for a film that is not there
_MISSING_HINT = "check the path; kscene files usually end in .kscene"


def not_utf8_diagnostic(err: NotUTF8) -> Diagnostic:
    """E007 at the first byte of a file that is not UTF-8 (a film or an imported file)."""
    return Diagnostic("E007", err.message, err.span, hint=err.hint)


def read_film(path: str | Path) -> SourceFile:
    """Read a file the user named (a film, a plan) through `SourceFile.read`, with its
    failures as the errors users see.

    Raises:
        UsageError: the file is missing, a folder or cannot be opened (exit 2): the same
            words for every command ("no such file: PATH").
        ScriptErrors: the file is not UTF-8 text (exit 1): E007 at the line and column of
            its first bad byte.
    """
    try:
        return SourceFile.read(path)
    except Unreadable as err:
        raise UsageError(err.message, hint=_MISSING_HINT if err.reason.startswith(MISSING) else None) from None
    except NotUTF8 as err:
        raise ScriptErrors([not_utf8_diagnostic(err)], {err.source.path: err.source}) from None
