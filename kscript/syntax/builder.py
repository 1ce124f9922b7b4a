"""From the grammar's rules to the AST of `kscript.syntax.nodes`.

`Builder` has one method per grammar rule; Lark calls it as the LALR parser reduces that
rule, so the AST is made while parsing, without an intermediate parse tree. The grammar is deliberately lenient in a few places so that mistakes get precise words
instead of a generic syntax error: a bare number where a duration belongs (`scene park 4 {`)
and a film `size:` that is not `WIDTHxHEIGHT` parse fine, and this builder reports them
(E004, E005), as well as a second `film` block (E006). The same holds for the rule for
colons (a setting is `name: value`, a statement takes no colon): the old `negative "x"`
parses with warning W004, and a scene statement written with a colon (`prompt: "x"`)
parses as the statement with one error that names the fix. It collects diagnostics
instead of raising, so that one pass reports all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from lark import Token

from kscript.diagnostics import Diagnostic
from kscript.source import Span
from kscript.syntax import nodes as n

DURATION_HINT = "durations need a unit: 4s, 500ms or 96f"
# The rule for colons, in the words of every diagnostic that enforces it.
COLON_RULE = "settings take a colon (zoom: 1.2); statements (prompt, effect, transition, continue, import, let) do not"

# The words for "after what" in E004, by the rule that holds the duration.
_DURATION_PLACE = {
    "scene": ("4s", "after the scene name"),
    "at": ("2s", "after 'at'"),
    "blend": ("1s", "after 'blend'"),
    "from": ("1s", "after 'from'"),
    "to": ("3s", "after 'to'"),
    "transition": ("12f", "after the transition name"),
    "key": ("2s", "as the keyframe time"),
}


@dataclass(frozen=True, slots=True)
class BareNumber:
    """A number where a duration belongs; the parent rule words the error."""

    value: float
    span: Span


def _number(text: str) -> float:
    try:
        return float(text)
    except (ValueError, OverflowError):  # pragma: no cover - the lexer only passes numerals
        return float("nan")


def unescape(literal: str) -> str:
    """The text of a string literal: quotes removed, `\\"` and `\\\\` resolved.

    Other backslash pairs are kept as written (a prompt may well contain a backslash).
    """
    body = literal[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body) and body[i + 1] in '"\\':
            out.append(body[i + 1])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _short(literal: str) -> str:
    """A string literal as shown in a message: long ones cut to their start."""
    return literal if len(literal) <= 30 else literal[:26] + '..."'


def duration_text(value) -> str:
    """A `dur` child as written: `12f`, or the bare number `12`."""
    if isinstance(value, BareNumber):
        return f"{value.value:g}"
    return f"{value.value:g}{value.unit}"


def comment_doc(lines: list[str], line: int) -> str | None:
    """The `#` comment lines directly above 1-based `line`, without the `#`, or None."""
    docs: list[str] = []
    i = line - 2
    while i >= 0:
        stripped = lines[i].strip()
        if not stripped.startswith("#"):
            break
        docs.append(stripped[1:].strip())
        i -= 1
    if not docs:
        return None
    docs.reverse()
    return "\n".join(docs).strip() or None


@dataclass(frozen=True, slots=True)
class _Group:
    """The parenthesised list of an effect's parameters or an effect use's arguments."""

    items: tuple
    span: Span


class Builder:
    """Lark callbacks, one per rule, that make AST nodes and collect diagnostics.

    Lark runs them inside the LALR parser (`Lark(transformer=...)`), so no parse tree is
    built: that halves the time to parse a long film. Lark gives such callbacks no
    position metadata, so each node's span runs from its first child to its last; every
    terminal of the grammar is named, hence kept, so braces and parentheses count too.
    One instance serves one parser: `reset` it before each parse.
    """

    def __init__(self, path: str = "<string>", text: str = "") -> None:
        self.reset(path, text)

    def reset(self, path: str, text: str) -> None:
        self.path = path
        self.lines = text.split("\n")
        self.diagnostics: list[Diagnostic] = []
        self._film_seen: Span | None = None
        # Expressions written in parentheses: id -> the extent with the parentheses. The
        # AST keeps no node for them, but an enclosing node's span must cover them.
        self._parens: dict[int, tuple[int, int, int, int]] = {}

    # ------------------------------------------------------------------ helpers
    def span(self, children) -> Span:
        """From the start of the first child to the end of the last (None children skipped)."""
        first = last = None
        for c in children:
            if c is not None:
                first = c
                break
        for c in reversed(children):
            if c is not None:
                last = c
                break
        if first is None:  # an empty rule: only `start` can be empty
            return Span.point(self.path, 1, 1)
        if isinstance(first, Token):
            line, col = first.line, first.column
        elif id(first) in self._parens:
            line, col = self._parens[id(first)][:2]
        else:
            line, col = first.span.line, first.span.col
        if isinstance(last, Token):
            end_line, end_col = last.end_line, last.end_column
        elif id(last) in self._parens:
            end_line, end_col = self._parens[id(last)][2:]
        else:
            end_line, end_col = last.span.end_line, last.span.end_col
        return Span(self.path, line, col, end_line, end_col)

    def tspan(self, tok: Token) -> Span:
        return Span(self.path, tok.line, tok.column, tok.end_line, tok.end_column)

    def error(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, message, span, hint))

    def no_colon(self, keyword: Token, write: str) -> None:
        """A statement keyword written with a colon (`prompt:`): one error naming the fix.

        `keyword` is the PROMPT_COLON-style token, `write` the statement as it should read.
        """
        if not keyword.type.endswith("_COLON"):
            return
        word = keyword.value.rstrip(":").rstrip()
        self.error(
            "E001",
            f"'{word}' takes no colon: write {write}",
            self.tspan(keyword),
            COLON_RULE,
        )

    def as_duration(self, value, place: str) -> n.Duration | None:
        """A `dur` child as a Duration; a bare number is reported (E004) and kept in seconds."""
        if value is None or isinstance(value, n.Duration):
            return value
        example, where = _DURATION_PLACE[place]
        self.error("E004", f"expected a duration such as {example} {where}", value.span, DURATION_HINT)
        return n.Duration(value.value, "s", value.span)

    @staticmethod
    def nodes(children) -> list:
        return [c for c in children if c is not None and not isinstance(c, Token)]

    # ------------------------------------------------------------------ top level
    def start(self, children):
        items = tuple(self.nodes(children))
        last = len(self.lines)
        span = Span(self.path, 1, 1, last, len(self.lines[-1]) + 1)
        return n.Module(self.path, items, span)

    def film(self, children):
        title = unescape(children[1].value)
        settings = tuple(self.nodes(children))
        span = self.span(children)
        if self._film_seen is not None:
            self.error(
                "E006",
                "a second film block; a film has one",
                self.tspan(children[0]),
                f"merge its settings into the film block at line {self._film_seen.line}",
            )
        else:
            self._film_seen = span
        for setting in settings:
            if setting.name == "size" and not isinstance(setting.value, n.SizeLit):
                self.error(
                    "E005",
                    "expected a size such as 640x640",
                    setting.value.span,
                    "write the width and height joined by an x, without spaces: size: 640x640",
                )
        return n.FilmBlock(title, settings, span)

    def import_(self, children):
        return n.Import(unescape(children[1].value), self.span(children))

    def let(self, children):
        name = children[1]
        return n.Let(name.value, children[3], self.span(children), self.tspan(name))

    def effect_def(self, children):
        name = children[1]
        params: tuple = ()
        body = []
        for c in self.nodes(children):
            if isinstance(c, _Group):
                params = c.items
            else:
                body.append(c)
        doc = comment_doc(self.lines, children[0].line)
        return n.EffectDef(name.value, params, tuple(body), self.span(children), self.tspan(name), doc)

    def params(self, children):
        return _Group(tuple(self.nodes(children)), self.span(children))

    def param(self, children):
        name, _eq, default = children
        return n.Param(name.value, default, self.span(children))

    def scene(self, children):
        name = children[1]
        duration = self.as_duration(children[2], "scene")
        items = tuple(self.nodes(children[3:]))
        return n.Scene(name.value, duration, items, self.span(children), self.tspan(name))

    # ------------------------------------------------------------------ scene items
    def prompt(self, children):
        kw, text, _at, at, _blend, blend = children
        self.no_colon(kw, 'prompt "..."')
        return n.Prompt(
            unescape(text.value),
            self.as_duration(at, "at"),
            self.as_duration(blend, "blend"),
            self.span(children),
        )

    def negative(self, children):
        """The old `negative "text"` (film block or scene): the setting `negative:`, warned."""
        kw, text = children
        self.diagnostics.append(
            Diagnostic(
                "W004",
                f"negative is a setting and takes a colon: write negative: {_short(text.value)}",
                self.tspan(kw),
                "the old form still works; " + COLON_RULE,
                severity="warning",
            )
        )
        return n.Assign("negative", n.StringLit(unescape(text.value), self.tspan(text)), self.span(children), self.tspan(kw))

    def effect_use(self, children):
        kw, name, args, _from, start, _to, end = children
        self.no_colon(kw, f"effect {name.value}" + ("(...)" if args is not None and args.items else ""))
        return n.EffectUse(
            name.value,
            args.items if args is not None else (),
            self.as_duration(start, "from"),
            self.as_duration(end, "to"),
            self.span(children),
            self.tspan(name),
        )

    def args(self, children):
        return _Group(tuple(self.nodes(children)), self.span(children))

    def named_arg(self, children):
        return n.Arg(children[0].value, children[2], self.span(children))

    def positional_arg(self, children):
        return n.Arg(None, children[0], self.span(children))

    def continue_(self, children):
        self.no_colon(children[0], "continue")
        return n.Continue(self.span(children))

    def transition(self, children):
        kw, kind, duration = children
        self.no_colon(kw, f"transition {kind.value}" + (f" {duration_text(duration)}" if duration is not None else ""))
        return n.Transition(kind.value, self.as_duration(duration, "transition"), self.span(children), self.tspan(kind))

    def init_image(self, children):
        _kw, path = children
        return n.InitImage(unescape(path.value), self.span(children), self.tspan(path))

    def camera(self, children):
        return n.Camera(tuple(self.nodes(children)), self.span(children))

    def assign(self, children):
        key = children[0]
        name = key.value.rstrip(":").rstrip()
        name_span = Span(self.path, key.line, key.column, key.line, key.column + len(name))
        return n.Assign(name, children[1], self.span(children), name_span)

    def size(self, children):
        tok = children[0]
        width, _, height = tok.value.partition("x")
        span = self.tspan(tok)
        try:
            return n.SizeLit(int(width), int(height), span)
        except ValueError:  # more digits than Python converts: absurd anyway
            self.error("E005", "expected a size such as 640x640", span, "this size has far too many digits")
            return n.SizeLit(0, 0, span)

    def string(self, children):
        return n.StringLit(unescape(children[0].value), self.span(children))

    # ------------------------------------------------------------------ curves
    def ramp(self, children):
        start, _arrow, end, easing = children
        return n.Ramp(start, end, easing, self.span(children))

    def keys(self, children):
        span = self.span(children)
        keys = tuple(self.nodes(children))
        if not keys:
            self.error("E001", "keyframes need at least one key", span, "for example: keys { 0s: 1.0, 2s: 1.05 }")
        return n.Keys(keys, span)

    def key(self, children):
        time, _colon, value, easing = children
        return n.Key(self.as_duration(time, "key"), value, easing, self.span(children))

    def easing(self, children):
        name = children[0]
        return n.Easing(name.value, tuple(self.nodes(children[1:])), self.span(children))

    def dur(self, children):
        tok = children[0]
        if tok.type == "NUMBER":
            return BareNumber(_number(tok.value), self.tspan(tok))
        return self._duration_token(tok)

    def _duration_token(self, tok: Token) -> n.Duration:
        text = tok.value
        unit = next(u for u in ("ms", "bar", "s", "f", "b") if text.endswith(u))
        return n.Duration(_number(text[: -len(unit)]), unit, self.tspan(tok))

    # ------------------------------------------------------------------ expressions
    def if_expr(self, children):
        _if, cond, _then, then, _else, otherwise = children
        return n.IfExpr(cond, then, otherwise, self.span(children))

    def binary(self, children):
        left, op, right = children
        return n.Binary(op.value, left, right, self.span(children))

    def unary(self, children):
        op, operand = children
        return n.Unary(op.value, operand, self.span(children))

    def number(self, children):
        tok = children[0]
        return n.Number(_number(tok.value), self.tspan(tok))

    def duration(self, children):
        return self._duration_token(children[0])

    def name(self, children):
        tok = children[0]
        return n.Name(tok.value, self.tspan(tok))

    def group(self, children):
        opening, inner, closing = children
        self._parens[id(inner)] = (opening.line, opening.column, closing.end_line, closing.end_column)
        return inner

    def call(self, children):
        func = children[0]
        return n.Call(func.value, tuple(self.nodes(children[1:])), self.span(children), self.tspan(func))
