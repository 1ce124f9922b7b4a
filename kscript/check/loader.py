"""Reading a film and everything it imports, and the standard effects.

Import paths are relative to the importing file. Each file is read (`SourceFile.read`) and
parsed once (a file imported twice is the same file); a missing file is E020 naming the
path tried, a file that is not UTF-8 text E007 at its first bad byte; a file that imports
itself, directly or not, is E021 showing the chain. Syntax errors of one file
do not stop the others from being read: all diagnostics of all files come out together.

Only `.kscene` files are imported (E020 otherwise, before the file is opened): a
diagnostic quotes the line it points at, and `import "/etc/shadow"` must not print root's
password hash, in the terminal or on the watch page (#9.8). A symlink counts by what it
leads to. `SourceFile.read` reads regular files within the size limit only, and each parsed
file is held to `kscript.limits` (E034) before it is checked: an absurd input is refused
before it costs time or memory.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

from kscript.diagnostics import Diagnostic
from kscript.errors import ScriptErrors, not_utf8_diagnostic
from kscript import limits
from kscript.source import MISSING, NotUTF8, SourceFile, Span, Unreadable, without_bom
from kscript.syntax import nodes as n

SCRIPT_SUFFIX = ".kscene"

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
        problems = over_limits(module)
        if problems:  # neither checked nor followed: refused before it costs more
            out.diagnostics.extend(problems)
            return None, None
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
    except (OSError, RuntimeError, ValueError):  # a loop, a NUL character
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
            refused = _refuse_import(imp, target, len(chain))
            if refused is not None:
                out.diagnostics.append(refused)
                continue
            try:
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
                        f"imported file not found: '{imp.path}'" if err.reason.startswith(MISSING)
                        else f"cannot import '{imp.path}': {err.reason}",
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


def beside(path: str, text: str) -> str:
    """The path of a file the film at `path` names (`image "photo.png"`, `audio:`): relative
    to the film's folder, as the film's own path was given (relative to the working folder),
    so that a plan names no machine. The checker reads the file at this path, and watch mode
    watches it (`named_files`)."""
    base = os.path.dirname(path) if path != "<string>" else ""
    return os.path.normpath(os.path.join(base, text))


def named_files(files: LoadedFiles, path: str) -> list[str]:
    """Every file the loaded film at `path` depends on: the files read (the film, the
    imports found), and the soundtrack and init images its main file names, resolved as the
    checker resolves them (`beside`), whether or not they exist.

    What watch mode follows, after a good check and a failed one alike: a picture that is
    missing on the first check (E038) is watched, so creating it rebuilds. The first
    `audio:` of the film block counts (as the checker takes it); images of imported files'
    scenes do not (those scenes are ignored, W002).
    """
    out = list(files.sources)
    main = files.modules[0] if files.modules and files.modules[0].path == path else None
    if main is None:
        return out
    for film in main.films[:1]:
        audio = next((a for a in film.settings if a.name == "audio"), None)
        if audio is not None and isinstance(audio.value, n.StringLit) and audio.value.value.strip():
            out.append(beside(path, audio.value.value))
    for scene in main.scenes:
        for item in scene.items:
            if isinstance(item, n.InitImage) and item.path.strip():
                out.append(beside(path, item.path))
    return list(dict.fromkeys(out))


def _refuse_import(imp: n.Import, target: str, depth: int) -> Diagnostic | None:
    """E020 for an import that is not a `.kscene` file (checked before opening it, and on
    what a symlink leads to), E034 for a chain of imports deeper than the limit."""
    hint = "import paths are relative to the file that imports them"
    if depth >= limits.MAX_IMPORT_DEPTH:
        return Diagnostic("E034", f"imports nest more than {limits.MAX_IMPORT_DEPTH} files deep", imp.span,
                          hint="import the shared files from the film itself, not each from the one before")
    if "\0" in imp.path:
        return Diagnostic("E020", "cannot import a path with a NUL character in it", imp.span, hint=hint)
    if not imp.path:
        return Diagnostic("E020", "imported file not found: ''", imp.span, notes=("the import path is empty",), hint=hint)
    if not target.lower().endswith(SCRIPT_SUFFIX):
        return Diagnostic("E020", f"cannot import '{imp.path}': only {SCRIPT_SUFFIX} files can be imported", imp.span,
                          hint=f"an import brings in the lets and effects of another {SCRIPT_SUFFIX} file")
    if os.path.islink(target):
        real = _identity(target)
        if os.path.exists(real) and not real.lower().endswith(SCRIPT_SUFFIX):
            return Diagnostic("E020", f"cannot import '{imp.path}': it is a link to a file that is not a "
                              f"{SCRIPT_SUFFIX} file", imp.span, hint=hint)
    return None


def over_limits(module: n.Module) -> list[Diagnostic]:
    """E034 for each way a parsed file exceeds `kscript.limits`: too many items or scenes,
    a string literal too long. Cheap: it looks at the top-level items and their direct
    values only (strings are never nested deeper)."""
    out: list[Diagnostic] = []
    if len(module.items) > limits.MAX_ITEMS:
        out.append(Diagnostic("E034", f"this file has {len(module.items):,} top-level items; a file may have at most "
                              f"{limits.MAX_ITEMS:,}", file_span(module.path), hint="split it into files that import each other"))
        return out
    scenes = module.scenes
    if len(scenes) > limits.MAX_SCENES:
        out.append(Diagnostic("E034", f"this film has {len(scenes):,} scenes; a film may have at most {limits.MAX_SCENES:,}",
                              scenes[limits.MAX_SCENES].name_span))

    def string(text: str, span: Span, what: str) -> None:
        if len(text) > limits.MAX_STRING_CHARS:
            out.append(Diagnostic("E034", f"this {what} is {len(text):,} characters long; a string may have at most "
                                  f"{limits.MAX_STRING_CHARS:,}", Span(span.file, span.line, span.col, span.line, span.col + 1),
                                  hint="text encoders read the first few hundred characters of a prompt"))

    def settings(assigns) -> None:
        for a in assigns:
            if isinstance(getattr(a, "value", None), n.StringLit):
                string(a.value.value, a.value.span, "string")

    for film in module.films:
        string(film.title, film.span, "title")
        settings(film.settings)
    for imp in module.imports:
        string(imp.path, imp.span, "import path")
    for scene in scenes:
        for item in scene.items:
            if isinstance(item, n.Prompt):
                string(item.text, item.span, "prompt")
        settings(scene.items)
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
