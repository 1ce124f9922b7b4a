"""Diagnostics: errors for people.

Every mistake in a user's script becomes a `Diagnostic` with a code, a message, a span and,
where we can, a hint. Stages collect them (all errors of a file in one run, not only the
first) and raise `kscript.errors.ScriptErrors` at the end; the CLI and the watch page show
them with `render_diagnostic`, which is the one place that knows the text format:

    film.kscene:12:10: error[E012]: unknown effect 'zom_in'
       12 |   effect zom_in
          |          ^^^^^^
       = help: did you mean 'zoom_in'?
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Iterable, Literal, Mapping

from kscript.source import SourceFile, Span

Severity = Literal["error", "warning"]

# The code table. Codes are stable: golden tests and users' searches depend on them.
# E001-E009 are syntax (kscript.syntax); E010 and up are the checker's (kscript.check) and the
# compiler's (kscript.compile); W-codes are warnings. Add new codes at the end; never renumber.
CODES: dict[str, str] = {
    "E001": "syntax error",
    "E002": "unexpected end of file",
    "E003": "invalid character or unterminated string",
    "E004": "a duration is expected",
    "E005": "invalid size",
    "E006": "more than one film block",
    "E007": "file is not UTF-8 text",
    "E010": "unknown name",
    "E011": "unknown channel or setting",
    "E012": "unknown effect",
    "E013": "unknown function",
    "E014": "unknown easing",
    "E015": "unknown parameter",
    "E016": "wrong number of arguments",
    "E017": "duplicate definition",
    "E018": "duplicate scene name",
    "E019": "cyclic let",
    "E020": "imported file not found",
    "E021": "import cycle",
    "E022": "wrong unit",
    "E023": "value out of range",
    "E024": "wrong kind of value",
    "E025": "keyframes out of order or outside the scene",
    "E026": "timed prompt outside the scene",
    "E027": "scene without a prompt",
    "E028": "continue or transition in the first scene",
    "E029": "film without scenes",
    "E030": "empty effect window",
    "E031": "a constant is expected",
    "E032": "value is not a finite number",
    "E033": "set twice in the same block",
    "E034": "input too large (kscript.limits)",
    "E035": "the film's audio cannot be used",
    "E036": "beats or audio curves in a film without a tempo or audio",
    "E037": "a camera move through depth (z) in a film without a depth model",
    "E038": "a scene's init image cannot be used",
    # Warnings: shown, but a film with only warnings builds.
    "W001": "a film's effect replaces the standard effect of the same name",
    "W002": "a film block or scene in an imported file is ignored",
    "W003": "a prompt's blend runs past the end of its scene",
    "W004": "negative without a colon (the form of films written before the rule for colons)",
}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem in one place of a user's script."""

    code: str
    message: str
    span: Span
    hint: str | None = None
    severity: Severity = "error"
    notes: tuple[str, ...] = field(default=())

    def sort_key(self) -> tuple:
        return (self.span.file, self.span.line, self.span.col, self.code, self.message)


def closest_name(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The candidate `name` is most likely a misspelling of, or None when nothing is close
    (difflib's similarity ratio below `cutoff`)."""
    pool = sorted(set(candidates))
    # Separators and case are the commonest slips ('zoomin' for 'zoom_in', camelCase
    # 'easeInOut' for 'ease_in_out'): a name equal to a candidate without them is that
    # candidate, before any merely similar one ('ease_out' is closer to 'easeInOut' by letters).
    squashed = {c.replace("_", "").lower(): c for c in pool}
    key = name.replace("_", "").lower()
    if key in squashed:
        return squashed[key]
    close = difflib.get_close_matches(name, pool, n=1, cutoff=cutoff)
    return close[0] if close else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A "did you mean 'x'?" hint for a misspelt name, or None when nothing is close."""
    close = closest_name(name, candidates)
    return f"did you mean '{close}'?" if close else None


def render_diagnostic(diag: Diagnostic, sources: Mapping[str, SourceFile] | None = None) -> str:
    """The diagnostic as people read it: position, message, source line, caret, hint."""
    span = diag.span
    out = [f"{span.file}:{span.line}:{span.col}: {diag.severity}[{diag.code}]: {diag.message}"]
    source = (sources or {}).get(span.file)
    text = source.line_text(span.line) if source is not None else ""
    if source is not None and text:
        text = text.expandtabs(1)
        if span.end_line == span.line:
            width = max(span.end_col - span.col, 1)
        else:
            width = max(len(text) - span.col + 1, 1)
        gutter = f"{span.line:>5}"
        out.append(f"{gutter} | {text}")
        out.append(f"{' ' * len(gutter)} | {' ' * (span.col - 1)}{'^' * width}")
    for note in diag.notes:
        out.append(f"   = note: {note}")
    if diag.hint:
        out.append(f"   = help: {diag.hint}")
    return "\n".join(out)


def render_all(diags: Iterable[Diagnostic], sources: Mapping[str, SourceFile] | None = None) -> str:
    """All diagnostics in source order, separated by blank lines, with a count at the end."""
    ordered = sorted(diags, key=Diagnostic.sort_key)
    parts = [render_diagnostic(d, sources) for d in ordered]
    errors = sum(1 for d in ordered if d.severity == "error")
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''} found")
    return "\n\n".join(parts)
