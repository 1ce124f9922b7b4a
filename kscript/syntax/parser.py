"""Text to AST: the one place that runs Lark.

`parse_source` parses, builds the AST and collects every syntax diagnostic it reliably
can: after an error it skips to the next line that starts a top-level item (`scene`,
`let`, `import`, `film`, or an `effect` definition) and parses on from there, with the
skipped text blanked out but its newlines kept, so positions stay exact. Any input gives a
`Module` or raises `ScriptErrors`; nothing else escapes (the property tests hold us to it).
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedInput

from kscript.diagnostics import Diagnostic
from kscript.errors import ScriptErrors, UsageError
from kscript.source import SourceFile, Span
from kscript.syntax import messages
from kscript.syntax.builder import Builder
from kscript.syntax.nodes import Module

MAX_ERRORS = 25

# Lines where parsing can start afresh after an error: they begin a top-level item.
_SYNC = re.compile(r"^[ \t]*(?:(?:scene|film|import|let)\b|effect\b[^\n#]*\{)", re.MULTILINE)


@functools.cache
def grammar_text() -> str:
    """The grammar, read from the installed package `kscript.grammar`."""
    return resources.files("kscript.grammar").joinpath("kscene.lark").read_text(encoding="utf-8")


@functools.cache
def lark_parser() -> Lark:
    """The LALR parser, built once per process (about 40 ms)."""
    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="basic",
        propagate_positions=True,
        maybe_placeholders=True,
    )


def parse_source(text: str, path: str = "<string>") -> Module:
    """Parse kscene `text` read from `path` (used in spans and messages).

    Raises:
        ScriptErrors: with every syntax diagnostic found and `sources` set to this file.
    """
    path = str(path)
    module, diagnostics = parse_collecting(text, path)
    if diagnostics or module is None:
        if not diagnostics:  # pragma: no cover - defensive: a failed parse always says why
            diagnostics = [Diagnostic("E001", "syntax error", Span.point(path, 1, 1))]
        raise ScriptErrors(diagnostics, {path: SourceFile(path, text)})
    return module


def parse_file(path: str | Path) -> Module:
    """Read and parse a kscene file.

    Raises:
        UsageError: the file does not exist or cannot be read as UTF-8 text.
        ScriptErrors: the file has syntax errors.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}", "check the path; kscene files usually end in .kscene") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder, not a kscene file") from None
    except UnicodeDecodeError as err:
        raise UsageError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror or err}") from None
    return parse_source(text, str(path))


def parse_collecting(text: str, path: str) -> tuple[Module | None, list[Diagnostic]]:
    """The Module (None when the text does not parse) and all diagnostics found."""
    try:
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
    builder = Builder(path, text)
    diagnostics: list[Diagnostic] = []
    module: Module | None = None
    offset = 0
    while len(diagnostics) < MAX_ERRORS:
        chunk = text if offset == 0 else _blank_before(text, offset)
        try:
            tree = parser.parse(chunk)
        except UnexpectedInput as err:
            # The items completed before the error still get the builder's checks.
            _build_completed(builder, err)
            diag, error_pos, at_sync = messages.describe(err, text, path)
            diagnostics.append(diag)
            if error_pos is None:
                break
            resume = _next_sync(text, error_pos if at_sync else error_pos + 1, offset)
            if resume is None:
                break
            offset = resume
            continue
        except LarkError as err:  # pragma: no cover - Lark raises UnexpectedInput for bad input
            diagnostics.append(Diagnostic("E001", f"syntax error ({err.__class__.__name__})", Span.point(path, 1, 1)))
            break
        built = builder.transform(tree)
        if offset == 0:
            module = built
        break
    return module, builder.diagnostics + diagnostics


_TOP_RULES = frozenset({"film", "import_", "let", "effect_def", "scene"})


def _build_completed(builder: Builder, err: UnexpectedInput) -> None:
    """Run the builder over what the parser finished before `err`, for its diagnostics."""
    state = getattr(getattr(err, "interactive_parser", None), "parser_state", None) or getattr(err, "state", None)
    stack = list(getattr(state, "value_stack", None) or ())
    for i, item in enumerate(stack):
        if not isinstance(item, Tree):
            continue
        if item.data in _TOP_RULES:
            builder.transform(item)
        elif item.data.startswith("__start_star"):
            for child in item.children:
                if isinstance(child, Tree) and child.data in _TOP_RULES:
                    builder.transform(child)
        elif item.data == "dur" and i >= 2 and _is_token(stack[i - 2], "SCENE"):
            # The header of the scene the error is in: `scene park 4 {`.
            builder.as_duration(builder.transform(item), "scene")


def _is_token(item, kind: str) -> bool:
    return isinstance(item, Token) and item.type == kind


def _blank_before(text: str, offset: int) -> str:
    """`text` with everything before `offset` turned into spaces, newlines kept."""
    head = re.sub(r"[^\n]", " ", text[:offset])
    return head + text[offset:]


def _next_sync(text: str, start: int, after: int) -> int | None:
    """The start of the first top-level line at or after `start` (and past `after`)."""
    # A sync line must start at or after the line of `start`.
    line_start = text.rfind("\n", 0, start) + 1
    for match in _SYNC.finditer(text, line_start):
        keyword_pos = match.end() - len(match.group(0).lstrip(" \t"))
        if keyword_pos >= start and keyword_pos > after:
            return keyword_pos
    return None
