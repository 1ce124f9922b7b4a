"""Reading a film and everything it imports, and the standard effects.

Import paths are relative to the importing file. Each file is read (`SourceFile.read`) and
parsed once (a file imported twice is the same file); a missing file is E020 naming the
path tried, a file that is not UTF-8 text E007 at its first bad byte; a file that imports
itself, directly or not, is E021 showing the chain. Syntax errors of one file
do not stop the others from being read: all diagnostics of all files come out together.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

from kscript.diagnostics import Diagnostic
from kscript.errors import ScriptErrors, not_utf8_diagnostic
from kscript.source import MISSING, NotUTF8, SourceFile, Span, Unreadable, without_bom
from kscript.syntax import nodes as n

STDLIB_PACKAGE = "kscript.stdlib_effects"


@dataclass
class LoadedFiles:
    """The modules of one film, the main one first, in the order they were read."""

    modules: list[n.Module] = field(default_factory=list)
    sources: dict[str, SourceFile] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def _parse(text: str, path: str, out: LoadedFiles) -> tuple[n.Module | None, n.Module | None]:
    """The file's module (None when it has syntax errors) and the module whose imports to
    follow: on syntax errors, the items that did parse, so that the errors of the files
    it imports are reported in the same run too."""
    from kscript.syntax import parse_source

    text = without_bom(text)  # the text shown with diagnostics is the text parsed
    out.sources[path] = SourceFile(path, text)
    try:
        module = parse_source(text, path)
        out.diagnostics.extend(module.warnings)
        return module, module
    except ScriptErrors as err:
        out.diagnostics.extend(err.diagnostics)
        for key, src in err.sources.items():
            out.sources.setdefault(key, src)
        partial = getattr(err, "partial", None)
        return None, partial if isinstance(partial, n.Module) else None


def _identity(path: str) -> str:
    try:
        return str(Path(path).resolve())
    except (OSError, RuntimeError):
        return os.path.abspath(path)


def load_files(text: str, path: str) -> LoadedFiles:
    """Parse the film's text and, recursively, the files it imports."""
    out = LoadedFiles()
    seen: dict[str, str] = {}  # identity -> display path

    def visit(text: str, display: str, chain: list[tuple[str, str]]) -> None:
        module, followed = _parse(text, display, out)
        if module is not None:
            out.modules.append(module)
        if followed is None:
            return
        base = os.path.dirname(display) if display != "<string>" else ""
        for imp in followed.imports:
            target = os.path.normpath(os.path.join(base, imp.path)) if imp.path else imp.path
            ident = _identity(target)
            chain_ids = [c[0] for c in chain]
            if ident in chain_ids:
                start = chain_ids.index(ident)
                names = [c[1] for c in chain[start:]] + [target]
                out.diagnostics.append(
                    Diagnostic(
                        "E021",
                        f"import cycle: {' -> '.join(names)}",
                        imp.span,
                        hint="a file cannot import itself, directly or through other files; "
                        "move what both need into a third file",
                    )
                )
                continue
            if ident in seen:
                continue
            try:
                if not imp.path:
                    raise Unreadable(target, MISSING)
                source = SourceFile.read(target)
            except NotUTF8 as err:
                seen[ident] = target
                out.sources[target] = err.source
                out.diagnostics.append(not_utf8_diagnostic(err))
                continue
            except Unreadable as err:
                out.diagnostics.append(
                    Diagnostic(
                        "E020",
                        f"imported file not found: '{imp.path}'",
                        imp.span,
                        notes=(f"looked for {target} ({err.reason})",),
                        hint="import paths are relative to the file that imports them",
                    )
                )
                continue
            seen[ident] = target
            visit(source.text, target, chain + [(ident, target)])

    ident = _identity(path) if path != "<string>" else "<string>"
    seen[ident] = path
    visit(text, path, [(ident, path)])
    return out


@functools.lru_cache(maxsize=1)
def standard_modules() -> tuple[tuple[n.Module, ...], tuple[SourceFile, ...], tuple[Diagnostic, ...]]:
    """The standard effect files, parsed once per process.

    Returns:
        The modules (sorted by file name), their sources (paths shown as
        ``<stdlib>/name.kscene``), and any diagnostics (a broken standard file is a bug in
        kscript, but it is reported like any other instead of crashing).
    """
    from importlib import resources

    out = LoadedFiles()
    try:
        root = resources.files(STDLIB_PACKAGE)
        entries = sorted((e for e in root.iterdir() if e.name.endswith(".kscene")), key=lambda e: e.name)
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        entries = []
    for entry in entries:
        display = f"<stdlib>/{entry.name}"
        module, _ = _parse(entry.read_text(encoding="utf-8-sig"), display, out)
        if module is not None:
            out.modules.append(module)
    return tuple(out.modules), tuple(out.sources.values()), tuple(out.diagnostics)


def file_span(path: str) -> Span:
    return Span(path, 1, 1, 1, 2)
