"""Syntax errors in words.

Lark reports an error as a parser state: the token it got and the set of terminal names
it could have taken. People need "expected a duration such as 4s after the scene name".
`describe` reads three things and picks the wording from them:

- the *expected set*, matched against the groups below (a scene item, a top-level item,
  the start of an expression ...);
- the *enclosing block*: the innermost `{` or `(` still open on the parser's value stack
  (a token stays there until its rule is reduced), with the keyword and name that opened
  it, for "missing '}' to close the scene 'park' opened at line 3";
- the *previous token*, for "after the scene name", "after 'prompt'".

No Lark terminal name ever reaches a message: every name used is in `_WORDS`, and a
terminal that is not falls back to "something else".
"""

from __future__ import annotations

from dataclasses import dataclass

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from kscript.diagnostics import Diagnostic
from kscript.source import Span
from kscript.syntax import nodes as n
from kscript.syntax import printer
from kscript.syntax.builder import COLON_RULE

# AST nodes that end a value: a name or number right after one lacks an operator.
_VALUE_NODES = (n.Number, n.Duration, n.Name, n.Unary, n.Binary, n.IfExpr, n.Call)

TOP_LEVEL = frozenset({"FILM", "IMPORT", "LET", "EFFECT", "SCENE"})
SCENE_ITEMS = frozenset({"PROMPT", "NEGATIVE", "EFFECT", "KEY", "CONTINUE", "TRANSITION", "CAMERA", "IMAGE"})
EXPR_START = frozenset({"NUMBER", "DURATION", "NAME", "LPAR", "MINUS", "PLUS"})
OPERATORS = frozenset(
    {"PLUS", "MINUS", "STAR", "SLASH", "PERCENT", "CARET", "COMPARE", "AND", "OR"}
)

# Each keyword with the statement it belongs to: the "why" of "'to' is a keyword".
_KEYWORD_USE = {
    "FILM": 'film "Title" { ... }',
    "IMPORT": 'import "file.kscene"',
    "LET": "let wobble = ...",
    "EFFECT": "effect zoom_in from 1s to 3s",
    "SCENE": "scene park 4s { ... }",
    "PROMPT": 'prompt "..." at 2s blend 1s',
    "NEGATIVE": 'negative: "..."',
    "AT": 'prompt "..." at 2s',
    "BLEND": 'prompt "..." at 2s blend 1s',
    "FROM": "effect zoom_in from 1s to 3s",
    "TO": "effect zoom_in from 1s to 3s",
    "CONTINUE": "continue",
    "TRANSITION": "transition crossfade 12f",
    "CAMERA": "camera { zoom: keys { 0s: 1, 2s: 1.5 } }",
    "KEYS": "keys { 0s: 1.0, 2s: 1.05 }",
    "IF": "if c then a else b",
    "THEN": "if c then a else b",
    "ELSE": "if c then a else b",
    "AND": "a and b",
    "OR": "a or b",
    "NOT": "not a",
}
_KEYWORDS = frozenset(_KEYWORD_USE)
# Top-level statements and how they read, for "'let' takes no colon: write let wobble = ...".
# (A scene's statements with a colon are tokens of their own: the builder words those.)
_STATEMENT_FORM = {
    "film": 'film "Title" { ... }',
    "import": 'import "moves.kscene"',
    "let": "let wobble = ...",
    "effect": "effect drift(speed = 1) { ... }",
    "scene": "scene park 4s { ... }",
}
# Words people write as a unit after a number (`4sec`, `2min`), for "unknown unit".
_UNIT_WORDS = frozenset(
    {"sec", "secs", "second", "seconds", "m", "min", "mins", "minute", "minutes", "h", "hr", "hour",
     "hours", "fr", "frame", "frames", "msec", "msecs", "millis", "us", "ns", "ss", "sek", "t"}
)
SCENE_ITEM_WORDS = ("a scene item (prompt, effect, continue, transition, image, or a setting such as zoom: or "
                    "negative:)")
TOP_WORDS = "film, import, let, effect or scene"

_WORDS = {
    "FILM": "'film'",
    "IMPORT": "'import'",
    "LET": "'let'",
    "EFFECT": "'effect'",
    "SCENE": "'scene'",
    "PROMPT": "'prompt'",
    "NEGATIVE": "'negative'",
    "AT": "'at'",
    "BLEND": "'blend'",
    "FROM": "'from'",
    "TO": "'to'",
    "CONTINUE": "'continue'",
    "TRANSITION": "'transition'",
    "CAMERA": "'camera'",
    "IMAGE": "'image'",
    "KEYS": "'keys'",
    "IF": "'if'",
    "THEN": "'then'",
    "ELSE": "'else'",
    "AND": "'and'",
    "OR": "'or'",
    "NOT": "'not'",
    "KEY": "a name with a colon such as zoom:",
    "NAME": "a name",
    "SIZE": "a size such as 640x640",
    "DURATION": "a duration such as 2s",
    "NUMBER": "a number",
    "STRING": 'a string in double quotes',
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "COLON": "':'",
    "EQUAL": "'='",
    "ARROW": "'->'",
    "COMPARE": "a comparison",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "STAR": "'*'",
    "SLASH": "'/'",
    "PERCENT": "'%'",
    "CARET": "'^'",
    "$END": "the end of the file",
}

_BLOCK_NAMES = {"FILM": "film block", "SCENE": "scene", "EFFECT": "effect", "KEYS": "keyframes"}


@dataclass(frozen=True, slots=True)
class Block:
    """The innermost open `{` or `(` when the error happened."""

    opener: Token  # the '{' or '(' token
    keyword: Token | None  # FILM, SCENE, EFFECT, KEYS, or the NAME of a call / effect use
    name: str | None  # the scene's or effect's name

    @property
    def closer(self) -> str:
        return "}" if self.opener.type == "LBRACE" else ")"

    def words(self) -> str:
        kind = self.keyword.type if self.keyword is not None else None
        if self.opener.type == "LBRACE":
            what = _BLOCK_NAMES.get(kind or "", "block")
            if self.name and kind in ("SCENE", "EFFECT"):
                what += f" '{self.name}'"
            return what
        if self.keyword is not None and self.keyword.type == "NAME":
            return f"'(' of {self.keyword.value}("
        return "'('"


def describe(err: UnexpectedInput, text: str, path: str) -> tuple[Diagnostic, int | None, bool]:
    """Word a Lark error.

    Returns the diagnostic, the offset in `text` where the error is (None at the end of
    the file: nothing left to recover), and whether that offset starts a top-level item
    that parsing can resume from (a `scene` where a `}` was missing).
    """
    stack = value_stack(err)
    block = _open_block(stack)
    prev = _previous_token(stack)
    if isinstance(err, UnexpectedCharacters):
        return _bad_character(err, text, path), err.pos_in_stream, False
    if isinstance(err, UnexpectedEOF):  # pragma: no cover - LALR reports '$END' tokens instead
        return _end_of_file(set(err.expected), block, prev, text, path), None, False
    assert isinstance(err, UnexpectedToken)
    token = err.token
    expected = accepted(err)
    if token.type == "$END":
        return _end_of_file(expected, block, prev, text, path), None, False
    span = _token_span(token, path)
    pos = token.start_pos
    at_sync = token.type in ("SCENE", "FILM", "LET", "IMPORT") or (token.type == "EFFECT" and _context(block) == "top")

    # Something that cannot be inside the open block: the block was not closed.
    if block is not None and _closes_block_early(token, block, expected):
        diag = Diagnostic(
            "E001",
            f"missing '{block.closer}' to close the {block.words()} opened at line {block.opener.line}",
            span,
            f"add '{block.closer}' before this",
        )
        return diag, pos, at_sync

    missing = _missing_at_line_end(token, expected, block, prev, path, text)
    if missing is not None:
        return missing, pos, at_sync

    known = _by_example(err, token, text)
    if known is not None:
        code, message, hint = known
        return Diagnostic(code, message, span, hint), pos, at_sync

    code, message, hint = _unexpected(token, expected, block, prev, stack, text)
    return Diagnostic(code, message, span, hint), pos, at_sync


def _context(block: Block | None) -> str:
    """Where the parser was: top, film, scene, effect, keys or paren."""
    if block is None:
        return "top"
    if block.opener.type == "LPAR":
        return "paren"
    kind = block.keyword.type if block.keyword is not None else ""
    return {"FILM": "film", "SCENE": "scene", "EFFECT": "effect", "KEYS": "keys"}.get(kind, "top")


def _closes_block_early(token: Token, block: Block, expected: set[str]) -> bool:
    if token.type in expected:
        return False
    ctx = _context(block)
    if token.type in ("SCENE", "FILM", "LET", "IMPORT"):
        return True
    if ctx == "paren":
        # Nothing that starts an item or closes a brace can be inside parentheses.
        return token.type in ("KEY", "RBRACE", "PROMPT", "NEGATIVE", "EFFECT", "CONTINUE", "TRANSITION")
    if ctx in ("film", "effect", "keys"):
        return token.type in ("PROMPT", "NEGATIVE", "CONTINUE", "TRANSITION") or (
            token.type == "EFFECT" and ctx != "effect"
        )
    return False


# ----------------------------------------------------------------------------- by example

# Error states known by example, after Lark's `match_examples`: each label's snippets fail
# in the LALR state that the label's wording is for, so the table says in kscene what the
# state is, whatever numbers the grammar's analysis gives it. (Lark's own method compares
# whole parser states, stack depth included: `effect e(to` would then match only after as
# many items as the snippet has.) tests/golden/errors/syntax_keyword_parameter.kscene shows
# each wording; tests/test_syntax_errors.py holds every snippet to its label.
EXAMPLES: dict[str, tuple[str, ...]] = {
    # Where an effect definition's parameter name belongs.
    "parameter": ("effect e(to = 1) { x: 1 }", "effect e(a, to = 1) { x: 1 }"),
    # Where an effect use's argument (`name = value` or a value) belongs.
    "argument": ("scene s 1s { effect e(to = 1) }", "scene s 1s { effect e(1, to = 1) }"),
}

_learned: dict[int, str] = {}  # LALR state -> label


def learn_examples(parse) -> None:
    """Parse the snippets of `EXAMPLES` once per process, keeping the state each fails in.

    `parse` is the parser's own parse function; the caller holds the parser's lock and
    resets the builder afterwards (the snippets run through it like any text).
    """
    if _learned:
        return
    for label, snippets in EXAMPLES.items():
        for snippet in snippets:
            try:
                parse(snippet)
            except UnexpectedToken as err:
                _learned.setdefault(_state_number(err), label)
            else:  # pragma: no cover - guarded by tests/test_syntax_errors.py
                raise AssertionError(f"example {snippet!r} parses")


def example_label(err: UnexpectedInput) -> str | None:
    """The label of `EXAMPLES` whose snippets fail in the state `err` failed in."""
    return _learned.get(_state_number(err))


def _state_number(err: UnexpectedInput) -> int | None:
    """The LALR state an error happened in (Lark 1.2+ gives a ParserState, older an int)."""
    state = getattr(err, "state", None)
    return getattr(state, "position", state)


def _by_example(err: UnexpectedToken, token: Token, text: str):
    """The wording for an error in a state that `EXAMPLES` names, or None."""
    label = example_label(err)
    if label == "parameter" and token.type in _KEYWORDS:
        return "E001", f"'{token.value}' is a keyword, so it cannot name a parameter", _keyword_hint(token)
    if label == "argument" and token.type in _KEYWORDS and _followed_by(text, token, "="):
        return "E001", f"'{token.value}' is a keyword, so no parameter can be named '{token.value}'", _keyword_hint(token)
    return None


_SCENE_ONLY = frozenset(
    {"PROMPT", "NEGATIVE", "CONTINUE", "TRANSITION", "KEY", "PROMPT_COLON", "CONTINUE_COLON", "TRANSITION_COLON"}
)


def _key_word(token: Token) -> str:
    """The name of a name-with-colon token: `let` for `let:`."""
    return str(token.value).rstrip(":").rstrip()


def _keyword_hint(token: Token, naming: bool = True) -> str:
    """Why a keyword cannot be a name: it is a word of a statement, in the whole file."""
    word = token.value
    why = (
        f"kscript reads keywords as the words of its statements everywhere in a file "
        f"('{word}' as in {_KEYWORD_USE[token.type]}), so none can be a name"
    )
    return why + (f"; choose another, such as {word}_value" if naming else "")


def _followed_by(text: str, token: Token, what: str) -> bool:
    end = token.end_pos if token.end_pos is not None else token.start_pos + len(token.value)
    return text[end:].lstrip(" \t").startswith(what)


# ----------------------------------------------------------------------------- the cases

_CONTEXT_WORDS = {
    "top": TOP_WORDS,
    "scene": SCENE_ITEM_WORDS,
    "film": "a film setting such as fps: 24, or '}' to close the film block",
    "effect": "a channel such as zoom: 1.01, or '}' to close the effect",
    "keys": "a keyframe such as 2s: 1.0, or '}' to close the keyframes",
}
# A terminal in the expected set that shows the parser could take the next item here.
_CONTEXT_MARK = {"top": "SCENE", "scene": "PROMPT", "film": "KEY", "effect": "KEY", "keys": "DURATION"}


def _unexpected(token: Token, expected: set[str], block: Block | None, prev: Token | None, stack, text: str):
    shown = _show(token)
    ctx = _context(block)

    # `4sec`, `2min`: a number glued to a unit-like word is a duration with a wrong unit.
    glued = token.type == "NAME" and bool(token.start_pos) and text[token.start_pos - 1 : token.start_pos].isdigit()
    if glued and token.value.lower() in _UNIT_WORDS:
        return "E004", f"unknown unit '{token.value}'; expected a duration such as 4s", "durations need a unit: 4s, 500ms or 96f"
    after_value = bool(stack) and isinstance(stack[-1], _VALUE_NODES)

    # `a < b < c`: the grammar has one comparison per operand pair, as the docs say.
    chained = _chained_comparison(token, stack)
    if chained is not None:
        return chained

    # A duration was due.
    if expected and expected <= {"DURATION", "NUMBER"}:
        example, where = _duration_place(prev, block)
        return "E004", f"expected a duration such as {example} {where}", "durations need a unit: 4s, 500ms or 96f"

    # `size: 640 x 640` and friends.
    if ctx == "film" and _last_key(stack) == "size" and isinstance(stack[-1], _VALUE_NODES):
        return "E005", "expected a size such as 640x640", "write the width and height joined by an x, without spaces"

    # Right after a keyword that needs a particular next thing.
    if prev is not None:
        after = _after_keyword(prev, expected, token, block)
        if after is not None:
            return after

    # The next item of the enclosing block was possible here.
    mark = _CONTEXT_MARK.get(ctx)
    if mark is not None and mark in expected:
        hint = None
        if token.type == "NAME" and ctx == "scene" and not after_value:
            hint = f"to set a channel, put a colon after its name: {token.value}: ..."
        elif token.type == "NAME" and ctx in ("film", "effect") and not after_value:
            hint = f"put a colon after the name: {token.value}: ..."
        elif glued:
            hint = f"a number cannot have letters glued to it: remove '{token.value}'"
        elif token.type in ("NUMBER", "NAME", "DURATION", "LPAR") and after_value:
            hint = "an operator such as + or * may be missing"
        elif token.type == "STRING" and ctx == "scene":
            hint = 'a prompt starts with the word prompt: prompt "..."'
        elif ctx == "top" and token.type == "RBRACE":
            hint = "this '}' closes nothing; remove it"
        elif ctx == "top" and token.type in ("KEY", "EFFECT_COLON") and _key_word(token) in _STATEMENT_FORM:
            word = _key_word(token)
            return "E001", f"'{word}' takes no colon: write {_STATEMENT_FORM[word]}", COLON_RULE
        elif ctx == "top" and token.type in _SCENE_ONLY:
            hint = "scene items go inside a scene: scene NAME 4s { ... }"
        return "E001", f"unexpected {shown} here; expected {_CONTEXT_WORDS[ctx]}", hint

    if EXPR_START <= expected:
        words = "a value" if "STRING" in expected else "an expression"
        hint = None
        if token.type == "KEY":
            hint = f"a value is missing before {shown}"
        elif token.type in _KEYWORDS:
            hint = _keyword_hint(token, naming=False)
        elif token.type in ("RBRACE", "RPAR", "COMMA"):
            hint = "a value is missing here"
        elif prev is not None and prev.value == "*" and token.value == "*":
            hint = "a power is written with ^ (1.5 ^ 2) or pow(1.5, 2); ** is Python's and Deforum's"
        elif prev is not None and prev.type in OPERATORS:
            hint = f"a value is missing after '{prev.value}'"
        return "E001", f"unexpected {shown} here; expected {words}", hint

    if ctx == "paren" and "RPAR" in expected:
        words = "',' or ')'" if "COMMA" in expected else "')'"
        hint = None
        if prev is not None and prev.type == "NAME" and token.type in ("NUMBER", "DURATION", "NAME"):
            hint = f"to name an argument, write {prev.value} = {token.value}"
        elif "COMMA" in expected and token.type == "NAME":
            hint = "a ',' may be missing before it"
        elif token.type in ("NUMBER", "NAME", "DURATION", "LPAR"):
            hint = "an operator such as + or * may be missing"
        return "E001", f"unexpected {shown} here; expected {words}", hint

    hint = "if c then a else b" if expected == {"ELSE"} or expected == {"THEN"} else None
    if expected == {"TO"}:
        hint = "an effect window reads: from 1s to 3s"
    return "E001", f"unexpected {shown} here; expected {_list_words(expected)}", hint


def _chained_comparison(token: Token, stack: list):
    """A second comparison right after `a < b`: say that comparisons do not chain."""
    if token.type != "COMPARE" or len(stack) < 3:
        return None
    left, first, middle = stack[-3], stack[-2], stack[-1]
    if not (_is_token(first, "COMPARE") and isinstance(left, _VALUE_NODES) and isinstance(middle, _VALUE_NODES)):
        return None
    shown = printer.expr(n.Binary(first.value, left, middle, left.span))
    before = f"'{shown}'" if len(shown) <= 30 else "another comparison"
    return (
        "E001",
        f"comparisons do not chain: '{token.value}' cannot follow {before}",
        f"write two comparisons joined by 'and': (a {first.value} b) and (b {token.value} c)",
    )


def _is_token(item, kind: str) -> bool:
    return isinstance(item, Token) and item.type == kind


# Tokens that start the next item or close the block: one of these on a line below a
# value's place means the value was left out, not that it is this token.
_NEXT_ITEM = SCENE_ITEMS | TOP_LEVEL | {"KEY", "RBRACE", "RPAR"}


def _missing_at_line_end(
    token: Token, expected: set[str], block: Block | None, prev: Token | None, path: str, text: str = ""
) -> Diagnostic | None:
    """A value, duration or string left out at the end of a line.

    `angle:` with `coherence: lab` on the next line is a value missing after `angle:`; the
    caret goes just past `angle:`, on its line, and the help names what came instead. For
    an expression this holds only when the token below starts the next item or closes the
    block (`1 +` and `* 2` below is more likely a slip at the `*`); a duration or a
    string is missing after its keyword whatever follows.
    """
    end_line = (prev.end_line or prev.line) if prev is not None else None
    if prev is None or end_line is None or token.line is None or token.line <= end_line:
        return None
    if EXPR_START <= expected and token.type in _NEXT_ITEM:
        code, message = "E001", f"expected {'a value' if 'STRING' in expected else 'an expression'} after {_show_before(prev, text)}"
    elif expected and expected <= {"DURATION", "NUMBER"}:
        example, where = _duration_place(prev, block)
        code, message = "E004", f"expected a duration such as {example} {where}"
    elif expected == {"STRING"} and prev.type in _STRING_AFTER:
        code, message = "E001", f"expected {_STRING_AFTER[prev.type]}"
    else:
        return None
    span = Span.point(path, end_line, prev.end_column or prev.column + len(str(prev.value)))
    return Diagnostic(code, message, span, f"found {_show(token)} on line {token.line}")


_STRING_AFTER = {
    "FILM": 'the film\'s title in double quotes, e.g. film "My film" {',
    "PROMPT": "the prompt text in double quotes after 'prompt'",
    "NEGATIVE": "the negative prompt in double quotes after 'negative'",
    "IMPORT": "the path of a file in double quotes after 'import'",
}


def _after_keyword(prev: Token, expected: set[str], token: Token, block: Block | None):
    shown = _show(token)
    kind = prev.type.removesuffix("_COLON")  # `prompt:` is read as `prompt` (and reported)
    if "STRING" in expected and len(expected) == 1:
        what = _STRING_AFTER.get(kind, "a string in double quotes")
        return "E001", f"expected {what}", None
    if expected == {"NAME"}:
        what = {
            "SCENE": "a scene name after 'scene'",
            "LET": "a name after 'let'",
            "EFFECT": "an effect name after 'effect'",
            "TRANSITION": "a transition such as crossfade after 'transition'",
        }.get(kind)
        if what is not None:
            hint = _keyword_hint(token) if token.type in _KEYWORDS else None
            if kind == "SCENE" and token.type == "KEY":  # `scene park: 4s {`
                hint = f"a scene's name takes no colon: scene {_key_word(token)} 4s {{ ... }}"
            return "E001", f"unexpected {shown} here; expected {what}", hint
    if kind == "NAME" and expected == {"EQUAL"}:
        return "E001", f"unexpected {shown} here; expected '=' after the name in a let", "let name = value"
    if "COLON" in expected and kind in ("DURATION", "NUMBER") and _context(block) == "keys":
        return "E001", f"unexpected {shown} here; expected ':' after the keyframe time", "keys { 0s: 1.0, 2s: 1.05 }"
    return None


def _end_of_file(expected: set[str], block: Block | None, prev: Token | None, text: str, path: str) -> Diagnostic:
    span = _end_span(text, path)
    if block is not None:
        return Diagnostic(
            "E002",
            f"missing '{block.closer}' to close the {block.words()} opened at line {block.opener.line}",
            span,
            f"the file ends before the matching '{block.closer}'",
        )
    if expected and expected <= {"DURATION", "NUMBER"}:
        example, where = _duration_place(prev, block)
        return Diagnostic("E002", f"unexpected end of file; expected a duration such as {example} {where}", span)
    return Diagnostic("E002", f"unexpected end of file; expected {_list_words(expected)}", span)


def _bad_character(err: UnexpectedCharacters, text: str, path: str) -> Diagnostic:
    pos = err.pos_in_stream
    ch = text[pos] if 0 <= pos < len(text) else ""
    line, col = err.line, err.column
    if ch == '"':
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        width = max(end - pos, 1)
        return Diagnostic(
            "E003",
            "unterminated string",
            Span(path, line, col, line, col + width),
            'close it with " on the same line; a string cannot span lines',
        )
    hint = None
    if ch == "'":
        hint = 'strings use double quotes: "like this"'
    elif ch in "\u201c\u201d\u201e\u00ab\u00bb\u2018\u2019":
        hint = 'curly quotes (from a word processor?): strings use straight double quotes "like this"'
    elif ch.isspace():
        hint = "an unusual space character (a non-breaking space?): replace it with a plain space"
    elif ch.isalpha():
        hint = "names use the letters a-z and A-Z, digits and _"
    elif ch == ";":
        hint = "items are separated by new lines; no ';' needed"
    shown = ch if ch.isprintable() and not ch.isspace() else repr(ch)[1:-1]
    quoted = f'"{shown}"' if shown == "'" else f"'{shown}'"
    return Diagnostic("E003", f"unexpected character {quoted}", Span(path, line, col, line, col + 1), hint)


# ----------------------------------------------------------------------------- helpers


def accepted(err: UnexpectedToken) -> set[str]:
    """The terminals the parser could really take here.

    `err.expected` is the LALR state's lookahead set, which merges the followers of every
    context that shares the state (after a duration: the next scene item as well as `to`).
    The interactive parser tries each terminal on a copy of the parser instead: exact.
    """
    ip = getattr(err, "interactive_parser", None)
    if ip is not None:
        accepted = set(ip.accepts())
        if accepted:
            return accepted
    return set(err.expected or ())


def value_stack(err: UnexpectedInput) -> list:
    ip = getattr(err, "interactive_parser", None)
    state = getattr(ip, "parser_state", None) or getattr(err, "state", None)
    stack = getattr(state, "value_stack", None)
    return list(stack) if stack else []


def _open_block(stack: list) -> Block | None:
    """The innermost open brace or parenthesis, with what opened it."""
    depth = 0
    for i in range(len(stack) - 1, -1, -1):
        item = stack[i]
        if isinstance(item, Token) and item.type in ("RBRACE", "RPAR"):
            depth += 1  # closed, but not reduced yet: LALR reduces on the next token
        elif isinstance(item, Token) and item.type in ("LBRACE", "LPAR") and depth:
            depth -= 1
        elif isinstance(item, Token) and item.type in ("LBRACE", "LPAR"):
            keyword: Token | None = None
            name: str | None = None
            for j in range(i - 1, -1, -1):
                other = stack[j]
                if not isinstance(other, Token):
                    continue
                if other.type in _BLOCK_NAMES:
                    keyword = other
                    if j + 1 < len(stack) and isinstance(stack[j + 1], Token) and stack[j + 1].type == "NAME":
                        name = stack[j + 1].value
                    break
                if item.type == "LPAR" and other.type == "NAME" and j == i - 1:
                    keyword = other
                    break
                if item.type == "LPAR":
                    break
            return Block(item, keyword, name)
    return None


def _previous_token(stack: list) -> Token | None:
    """The token just before the error, when the last thing shifted is a token."""
    if stack and isinstance(stack[-1], Token):
        return stack[-1]
    return None


def _last_key(stack: list) -> str | None:
    for item in reversed(stack):
        if isinstance(item, Token):
            if item.type == "KEY":
                return item.value.rstrip(":").strip()
            if item.type in ("LBRACE", "RBRACE"):
                return None
    return None


def _duration_place(prev: Token | None, block: Block | None) -> tuple[str, str]:
    kind = prev.type if prev is not None else None
    if kind == "NAME" and block is None:
        return "4s", "after the scene name"
    if kind == "AT":
        return "2s", "after 'at'"
    if kind == "BLEND":
        return "1s", "after 'blend'"
    if kind == "FROM":
        return "1s", "after 'from'"
    if kind == "TO":
        return "3s", "after 'to'"
    if kind == "NAME":
        return "12f", "after the transition name"
    return "2s", "here"


def _show_before(prev: Token, text: str) -> str:
    """`prev` as the user reads it: a lone ':' with what it ends (a key's `'0s:'`)."""
    if prev.value != ":" or prev.line is None or not text:
        return _show(prev)
    lines = text.splitlines()
    if not 1 <= prev.line <= len(lines):
        return _show(prev)
    end = (prev.end_column or prev.column + 1) - 1
    head = lines[prev.line - 1][:end].strip().split(",")[-1].split("{")[-1].strip()
    return f"'{head}'" if 1 < len(head) <= 30 else _show(prev)


def _show(token: Token) -> str:
    kind = token.type
    if kind == "$END":
        return "end of file"
    value = str(token.value)
    if kind == "STRING":  # already in its double quotes
        return value if len(value) <= 30 else value[:26] + '..."'
    if len(value) > 30:
        value = value[:27] + "..."
    return f"'{value}'"


def _list_words(expected: set[str]) -> str:
    names = set(expected)
    ops = names & OPERATORS
    if ops and len(names - ops) > 0:
        names -= ops
        names.add("__OPERATOR")
    if "KEY" in names and "NAME" in names:
        names.discard("KEY")
    words = []
    for name in sorted(names, key=_order):
        if name == "__OPERATOR":
            words.append("an operator")
        else:
            words.append(_WORDS.get(name, "something else"))
    words = list(dict.fromkeys(words))
    if not words:
        return "something else"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


_ORDER = [
    "KEY", "NAME", "NUMBER", "DURATION", "SIZE", "STRING", "LBRACE", "LPAR", "EQUAL", "COLON",
    "ARROW", "__OPERATOR", "COMMA", "RPAR", "RBRACE",
]


def _order(name: str) -> tuple[int, str]:
    return (_ORDER.index(name) if name in _ORDER else len(_ORDER), name)


def _token_span(token: Token, path: str) -> Span:
    line = token.line or 1
    col = token.column or 1
    end_line = token.end_line or line
    end_col = token.end_column or col + 1
    if end_line != line:
        end_line, end_col = line, col + 1
    return Span(path, line, col, end_line, max(end_col, col + 1))


def _end_span(text: str, path: str) -> Span:
    """A one-character span just past the last non-blank character of the file."""
    stripped = text.rstrip()
    if not stripped:
        return Span.point(path, 1, 1)
    line = stripped.count("\n") + 1
    col = len(stripped) - (stripped.rfind("\n") + 1) + 1
    return Span.point(path, line, col)
