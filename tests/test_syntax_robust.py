"""Any text at all gives a Module or ScriptErrors: never another exception.

Random text, and mutations of real films (characters and tokens deleted, inserted,
swapped), are the inputs a person produces mid-edit in `kscript watch`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kscript.diagnostics import render_all
from kscript.errors import ScriptErrors
from kscript.syntax import nodes as n
from kscript.syntax import parse_source

ROOT = Path(__file__).resolve().parent.parent
FILMS = [ROOT / "tests" / "fixtures" / "issue_film.kscene"] + sorted((ROOT / "examples").glob("*.kscene"))
TEXTS = [p.read_text(encoding="utf-8") for p in FILMS]
TOKENS = [
    "film", "scene", "effect", "let", "import", "prompt", "negative", "at", "blend", "from", "to",
    "continue", "transition", "keys", "if", "then", "else", "and", "or", "not", "{", "}", "(", ")",
    ",", ":", "=", "->", "^", "-", "+", "*", "/", "%", "<=", "==", "4s", "96f", "500ms", "1.5",
    "640x640", '"text"', '"', "#", "\n", "zoom:", "x", "bezier(", "ease_in", "1e-3", ".5", "\\",
]
_TOKEN_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"|[A-Za-z_]\w*:?|\d[\w.]*|->|<=|>=|==|!=|\S')

# KSCRIPT_FUZZ_EXAMPLES=5000 for a long hunt; the suite's default stays quick.
SETTINGS = settings(
    max_examples=int(os.environ.get("KSCRIPT_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def parses_or_reports(text: str) -> None:
    try:
        module = parse_source(text, "fuzz.kscene")
    except ScriptErrors as err:
        assert err.diagnostics, "ScriptErrors without a diagnostic"
        for diag in err.diagnostics:
            assert diag.span.line >= 1 and diag.span.col >= 1
            # Syntax errors are E001-E009; the one syntax warning is W004 (the old `negative "x"`).
            assert re.fullmatch(r"E00[1-9]", diag.code) or (diag.code, diag.severity) == ("W004", "warning")
            # No Lark terminal names in the words people read (unless the script wrote them).
            for word in re.findall(r"\b(?:LBRACE|RBRACE|LPAR|RPAR|NAME|KEY|DURATION|NUMBER|STRING|__ANON\w*)\b", diag.message):
                assert word in text, diag.message
        render_all(err.diagnostics, err.sources)  # renders without raising
    else:
        assert isinstance(module, n.Module)


@SETTINGS
@given(st.text(max_size=300))
def test_random_text(text):
    parses_or_reports(text)


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=60), st.sampled_from([" ", "\n", ""]))
def test_random_token_soup(tokens, sep):
    parses_or_reports(sep.join(tokens))


@SETTINGS
@given(
    st.sampled_from(TEXTS),
    st.lists(st.tuples(st.sampled_from(["delete", "insert", "swap"]), st.integers(0, 10**6), st.text(max_size=3)), min_size=1, max_size=4),
)
def test_character_mutations_of_films(text, edits):
    for kind, where, chars in edits:
        i = where % (len(text) + 1)
        if kind == "delete":
            text = text[:i] + text[i + 1 :]
        elif kind == "insert":
            text = text[:i] + chars + text[i:]
        elif i + 1 < len(text):
            text = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    parses_or_reports(text)


@SETTINGS
@given(
    st.sampled_from(TEXTS),
    st.lists(st.tuples(st.sampled_from(["delete", "insert", "swap", "duplicate"]), st.integers(0, 10**6), st.sampled_from(TOKENS)), min_size=1, max_size=4),
)
def test_token_mutations_of_films(text, edits):
    tokens = _TOKEN_RE.findall(text)
    for kind, where, token in edits:
        i = where % (len(tokens) + 1)
        if kind == "delete" and i < len(tokens):
            del tokens[i]
        elif kind == "insert":
            tokens.insert(i, token)
        elif kind == "duplicate" and i < len(tokens):
            tokens.insert(i, tokens[i])
        elif i + 1 < len(tokens):
            tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
    parses_or_reports(" ".join(tokens))


def test_deep_nesting_parses_to_the_tree_it_writes():
    """The LALR parser and the builder use no recursion: depth costs nothing at parse time."""
    (let,) = parse_source("let a = " + "(" * 5000 + "1" + ")" * 5000).items
    assert let.value == n.Number(1.0, let.value.span)  # parentheses make no node
    assert (let.value.span.col, let.value.span.end_col) == (5009, 5010)

    (let,) = parse_source("let a = " + "-" * 5000 + "1").items
    depth, node = 0, let.value
    while isinstance(node, n.Unary):
        assert node.op == "-"
        depth, node = depth + 1, node.operand
    assert (depth, node.value) == (5000, 1.0)


def test_deep_unclosed_nesting_is_one_error_at_the_end():
    with pytest.raises(ScriptErrors) as info:
        parse_source("let a = " + "(" * 5000, "deep.kscene")
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.message) == ("E002", "missing ')' to close the '(' opened at line 1")
    assert (diag.span.line, diag.span.col) == (1, 5009)


def test_huge_numbers_and_sizes():
    """Absurd digits parse to what they say (inf) or are one E005: the checker judges ranges."""
    with pytest.raises(ScriptErrors) as info:
        parse_source('film "x" { size: ' + "9" * 5000 + "x" + "9" * 5000 + " }")
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.hint) == ("E005", "this size has far too many digits")

    let, scene = parse_source("let a = " + "9" * 5000 + "\nscene a " + "9" * 400 + 's { prompt "x" }').items
    assert let.value.value == float("inf")
    assert (scene.duration.value, scene.duration.unit) == (float("inf"), "s")
