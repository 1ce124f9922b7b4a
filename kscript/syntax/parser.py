"""Text to AST: the one place that runs Lark.

`parse_source` parses, builds the AST and collects every syntax diagnostic it reliably
can: after an error it parses again with the broken item blanked out, or from the next
top-level item (`kscript.syntax.recovery` decides), so one run reports the errors of
many items with exact positions. Any input gives a `Module` or raises `ScriptErrors`;
nothing else escapes (the property tests hold us to it).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import threading
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedInput

from kscript.diagnostics import Diagnostic
from kscript.errors import ScriptErrors, read_film
from kscript.source import SourceFile, Span, without_bom
from kscript.syntax import messages, recovery
from kscript.syntax.builder import BareNumber, Builder
from kscript.syntax import nodes as n
from kscript.syntax.nodes import Module

MAX_ERRORS = 25



@functools.cache
def grammar_text() -> str:
    """The grammar, read from the installed package `kscript.grammar`."""
    return resources.files("kscript.grammar").joinpath("kscene.lark").read_text(encoding="utf-8")


_BUILDER = Builder()
# One parser and one builder (the parser's callbacks) per process: parses take turns.
_LOCK = threading.RLock()


@functools.cache
def lark_parser() -> Lark:
    """The LALR parser, built once per process (about 40 ms), building the AST as it parses.

    The builder runs as Lark's internal transformer, so no parse tree is made; Lark's
    `propagate_positions` only annotates trees, so it is off, and spans come from the
    tokens instead (see `Builder.span`).
    """
    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="basic",
        transformer=_BUILDER,
        propagate_positions=False,
        maybe_placeholders=True,
        cache=_cache_file(),
    )


def _cache_file() -> str | bool:
    """Where Lark keeps its analysis of the grammar: a process then starts ~10x faster.

    In the user's own cache folder, not Lark's default in the shared temp folder: the
    file is unpickled, so nobody else may write it. The file records a hash of the
    grammar, so an edited grammar is analysed afresh; a torn or unreadable file is too.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "kscript"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False  # no cache: build the parser each time (about 60 ms)
    return str(folder / f"kscene-grammar-py{sys.version_info[0]}{sys.version_info[1]}.lark-cache")


def parse_source(text: str, path: str = "<string>") -> Module:
    """Parse kscene `text` read from `path` (used in spans and messages).

    A leading byte-order mark (a file read as plain "utf-8" keeps it) is skipped: it is
    not part of the script, and line 1's columns count from the first real character.

    Returns:
        The module, with the parser's warnings (W004) in `Module.warnings`.

    Raises:
        ScriptErrors: with every syntax diagnostic found (warnings too) and `sources` set
            to this file.
    """
    path = str(path)
    text = without_bom(text)
    module, diagnostics = parse_collecting(text, path)
    warnings = tuple(d for d in diagnostics if d.severity == "warning")
    if len(warnings) < len(diagnostics) or module is None:
        if not diagnostics:  # pragma: no cover - defensive: a failed parse always says why
            diagnostics = [Diagnostic("E001", "syntax error", Span.point(path, 1, 1))]
        err = ScriptErrors(diagnostics, {path: SourceFile(path, text)})
        # The top-level items that did parse (see parse_collecting), for a caller that wants
        # to read on: the imports of a file with a syntax error can still be checked.
        err.partial = module  # type: ignore[attr-defined]
        raise err
    return dataclasses.replace(module, warnings=warnings) if warnings else module


def parse_file(path: str | Path) -> Module:
    """Read (`kscript.errors.read_film`) and parse a kscene file.

    Raises:
        UsageError: the file does not exist or cannot be read.
        ScriptErrors: the file has syntax errors, or is not UTF-8 text (E007).
    """
    source = read_film(path)
    return parse_source(source.text, source.path)


def parse_collecting(text: str, path: str) -> tuple[Module | None, list[Diagnostic]]:
    """The Module and all diagnostics found.

    With diagnostics, the Module holds the top-level items that parsed, the broken items
    inside them left out (it is None only for input too deeply nested to read at all).
    """
    try:
        with _LOCK:
            return _parse(text, path)
    except RecursionError:
        # Only absurd nesting gets here (thousands of parentheses): the builder recurses.
        return None, [
            Diagnostic(
                "E001",
                "this file nests expressions too deeply to read",
                Span.point(path, 1, 1),
                "split the expression into lets",
            )
        ]


def _parse(text: str, path: str) -> tuple[Module | None, list[Diagnostic]]:
    parser = lark_parser()
    messages.learn_examples(parser.parse)
    builder = _BUILDER
    builder.reset(path, text)
    diagnostics: list[Diagnostic] = []
    module: Module | None = None
    offset = 0
    blanked: list[tuple[int, int]] = []
    whole: dict[tuple[str, Span], n.TopItem] = {}  # top-level items that parsed, by place
    while len(diagnostics) < MAX_ERRORS:
        chunk = recovery.blank(text, offset, blanked)
        try:
            built = parser.parse(chunk)
        except UnexpectedInput as err:
            # Items completed before the error were built (and checked) already; the
            # header of a scene left open was not.
            stack = messages.value_stack(err)
            _check_open_scene_header(builder, stack)
            for item in _top_items(stack):
                whole.setdefault((type(item).__name__, item.span), item)
            diag, error_pos, at_sync = messages.describe(err, text, path)
            diagnostics.append(diag)
            if error_pos is None:
                break
            # The block could have closed before a token that starts its line: the item
            # before it is whole, and the broken one starts at the error.
            line_head = text[text.rfind("\n", 0, error_pos) + 1 : error_pos]
            item_done = not line_head.strip() and "RBRACE" in messages.accepted(err)
            restart = recovery.plan(text, stack, error_pos, at_sync, offset, blanked, item_done)
            if restart is None:
                break
            offset = restart.start
            if restart.blank is not None:
                blanked.append(restart.blank)
            continue
        except LarkError as err:  # pragma: no cover - Lark raises UnexpectedInput for bad input
            diagnostics.append(Diagnostic("E001", f"syntax error ({err.__class__.__name__})", Span.point(path, 1, 1)))
            break
        if not diagnostics:
            module = built
        else:
            for item in built.items:
                whole.setdefault((type(item).__name__, item.span), item)
        break
    if diagnostics:
        items = sorted(whole.values(), key=lambda i: (i.span.line, i.span.col))
        module = n.Module(path, tuple(items), Span(path, 1, 1, 1, 1))
    # A block parsed again after an error rebuilds its good items: report each finding once.
    return module, list(dict.fromkeys(builder.diagnostics + diagnostics))


_TOP_TYPES = (n.FilmBlock, n.Import, n.Let, n.EffectDef, n.Scene)


def _top_items(stack: list) -> list:
    """The top-level items the parser finished before an error (on its value stack)."""
    found = []
    for item in stack:
        if isinstance(item, _TOP_TYPES):
            found.append(item)
        elif isinstance(item, Tree) and item.data.startswith("__start_star"):
            found.extend(c for c in item.children if isinstance(c, _TOP_TYPES))
    return found


def _check_open_scene_header(builder: Builder, stack: list) -> None:
    """Report `scene park 4 {` (E004) in a scene whose parse an error cut short."""
    for i in range(2, len(stack)):
        if isinstance(stack[i], BareNumber) and _is_token(stack[i - 2], "SCENE"):
            builder.as_duration(stack[i], "scene")


def _is_token(item, kind: str) -> bool:
    return isinstance(item, Token) and item.type == kind
