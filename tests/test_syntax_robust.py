"""Any text at all gives a Module or ScriptErrors: never another exception.

Random text, and mutations of real films (characters and tokens deleted, inserted,
swapped), are the inputs a person produces mid-edit in `kscript watch`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

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
            assert re.fullmatch(r"E00[1-9]", diag.code)
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


def test_deep_nesting_is_reported_not_crashed():
    parses_or_reports("let a = " + "(" * 5000 + "1" + ")" * 5000)
    parses_or_reports("let a = " + "-" * 5000 + "1")
    parses_or_reports("let a = " + "(" * 5000)


def test_huge_numbers_and_sizes():
    parses_or_reports('film "x" { size: ' + "9" * 5000 + "x" + "9" * 5000 + " }")
    parses_or_reports("let a = " + "9" * 5000 + "\nscene a " + "9" * 400 + "s { prompt \"x\" }")
