"""Error recovery: where to parse on from after a syntax error, to report the next one.

Lark's LALR parser stops at the first error. To find more, the parser module parses the
text again with parts of it blanked out (replaced by spaces, newlines kept, so every
position stays exact). This module decides which parts:

- **Item level.** An error inside a `film`, `scene` or `effect` block blanks the item it
  is in — from the item's first token to the next line that starts another item of that
  block (`prompt`, `negative`, `effect`, `continue`, `transition`, `name:`, or a bare
  name where the line before does not continue an expression) or to the block's
  closing `}` — and the block is parsed again from its start. Braces inside the
  item are matched, so a broken `keys { ... }` spread over lines goes as a whole. The
  next error of the same scene is then found too.
- **Top level.** Otherwise parsing resumes at the next line that starts a top-level item
  (`scene`, `let`, `import`, `film`, or an `effect` definition), everything before it
  blanked.

Both only ever move forward, so recovery ends; a cap on the number of errors bounds it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lark import Token, Tree

# Lines where parsing can start afresh after an error: they begin a top-level item.
_TOP_SYNC = re.compile(r"^[ \t]*(?:(?:scene|film|import|let)\b|effect\b[^\n#]*\{)", re.MULTILINE)
_TOP_KEYWORD_LINE = re.compile(r"[ \t]*(?:scene|film|import|let)\b")
_ITEM_START = {
    "SCENE": re.compile(r"[ \t]*(?:(?:prompt|negative|effect|continue|transition)\b|[A-Za-z_]\w*[ \t]*:)"),
    "FILM": re.compile(r"[ \t]*[A-Za-z_]\w*[ \t]*:"),
    "EFFECT": re.compile(r"[ \t]*[A-Za-z_]\w*[ \t]*:"),
}
# A line starting with a name begins a (perhaps broken: `zoom 1.02`) item, unless the
# line before it ends in a way that continues an expression onto it.
_LOOSE_START = re.compile(r"[ \t]*[A-Za-z_]\w*")
_CONTINUED = re.compile(r"(?:[-+*/%^<>=,(:]|->|\b(?:and|or|not|if|then|else))[ \t]*$")
_STRING_OR_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"?|#[^\n]*')


def _continues(text: str, start: int, newline: int) -> bool:
    """Whether the line ending at `newline` leaves an expression open for the next line."""
    line_start = max(text.rfind("\n", 0, newline) + 1, start)
    code = _STRING_OR_COMMENT.sub(lambda m: '""' if m.group(0).startswith('"') else "", text[line_start:newline])
    return bool(_CONTINUED.search(code.rstrip()))


@dataclass(frozen=True, slots=True)
class Restart:
    """Parse again from `start` (everything before it blanked), with `blank` also blanked."""

    start: int
    blank: tuple[int, int] | None = None


class Offsets:
    """Line/column to character offset, for AST nodes that carry only a `Span`."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def of(self, line: int, col: int) -> int:
        return self.starts[min(max(line, 1), len(self.starts)) - 1] + col - 1


def plan(
    text: str,
    stack: list,
    error_pos: int,
    at_top_keyword: bool,
    after: int,
    blanked: list[tuple[int, int]],
    item_done: bool = False,
) -> Restart | None:
    """Where to parse on from after an error at `error_pos`; None when nothing is left.

    `stack` is the parser's value stack at the error, `at_top_keyword` says the error is a
    top-level keyword inside an open block (a missing `}`: resume right there), `after` is
    where the failed parse started and `blanked` what is blanked already: a restart must
    move past `after` or blank something new. `item_done` says the tokens before the error
    make a whole item (the block could have closed there), so the broken item starts at
    the error itself.
    """
    offsets = Offsets(text)
    if not at_top_keyword:
        item = _item_restart(text, stack, error_pos, offsets, item_done)
        if item is not None and (item.start > after or (item.blank is not None and item.blank not in blanked)):
            return item
    start = error_pos if at_top_keyword else error_pos + 1
    resume = next_top_level(text, start, after)
    return Restart(resume) if resume is not None else None


def next_top_level(text: str, start: int, after: int) -> int | None:
    """The first top-level keyword at the start of a line, at or after `start` and past `after`."""
    line_start = text.rfind("\n", 0, start) + 1
    for match in _TOP_SYNC.finditer(text, line_start):
        keyword_pos = match.end() - len(match.group(0).lstrip(" \t"))
        if keyword_pos >= start and keyword_pos > after:
            return keyword_pos
    return None


def _item_restart(text: str, stack: list, error_pos: int, offsets: Offsets, item_done: bool) -> Restart | None:
    block = _enclosing_block(stack)
    if block is None:
        return None
    keyword_index, brace_index = block
    kind = stack[keyword_index].type
    item_start = None if item_done else _partial_item_start(stack, brace_index, offsets)
    if item_start is None or item_start > error_pos:
        item_start = error_pos
    end = _item_end(text, item_start, error_pos, _ITEM_START[kind])
    if end <= item_start:
        return None
    return Restart(stack[keyword_index].start_pos, (item_start, end))


def _enclosing_block(stack: list) -> tuple[int, int] | None:
    """Stack indices of the keyword and '{' of the innermost open film, scene or effect block."""
    depth = 0
    for i in range(len(stack) - 1, -1, -1):
        item = stack[i]
        if not isinstance(item, Token):
            continue
        if item.type == "RBRACE":
            depth += 1
        elif item.type == "LBRACE":
            if depth:
                depth -= 1
                continue
            for j in range(i - 1, -1, -1):
                other = stack[j]
                if isinstance(other, Token) and other.type in ("SCENE", "FILM", "EFFECT", "KEYS"):
                    if other.type == "KEYS":
                        break  # a keys block: look further out
                    return j, i
                if isinstance(other, Token) and other.type == "LBRACE":
                    break
    return None


def _partial_item_start(stack: list, brace_index: int, offsets: Offsets) -> int | None:
    """The offset of the first token of the item the error is in (after the completed ones)."""
    for item in stack[brace_index + 1 :]:
        if isinstance(item, Tree):  # the completed items of the block, gathered by Lark
            continue
        if isinstance(item, Token):
            if item.type == "COMMA":
                continue
            return item.start_pos
        span = getattr(item, "span", None)
        if span is not None:
            return offsets.of(span.line, span.col)
    return None


def _item_end(text: str, start: int, error_pos: int, item_start: re.Pattern[str]) -> int:
    """Where the broken item ends: the next line starting an item, or the block's '}'."""
    depth = 0
    i = start
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] not in '"\n':
                j += 2 if text[j] == "\\" else 1
            i = j + 1 if j < n and text[j] == '"' else j
            continue
        if ch == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                return i  # the block's own closing brace
            depth -= 1
        elif ch == "\n" and depth == 0:
            line = i + 1
            match = (
                item_start.match(text, line)
                or _TOP_KEYWORD_LINE.match(text, line)
                or (not _continues(text, start, i) and _LOOSE_START.match(text, line))
            )
            # The next item may begin on the error's own token (a `)` was missing before it).
            if match and line + len(match.group(0)) - len(match.group(0).lstrip(" \t")) >= error_pos:
                return line
        i += 1
    return n


def blank(text: str, before: int, ranges: list[tuple[int, int]]) -> str:
    """`text` with [0, before) and each range turned into spaces, newlines kept."""
    if not before and not ranges:
        return text
    chars = list(text)
    for lo, hi in [(0, before)] + ranges:
        for k in range(max(lo, 0), min(hi, len(chars))):
            if chars[k] != "\n":
                chars[k] = " "
    return "".join(chars)
