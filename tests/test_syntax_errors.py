"""Broken scripts and the exact words kscript says about them.

Each `tests/golden/errors/syntax_*.kscene` is a script with syntax errors; its sibling
`.txt` holds the diagnostics as the CLI prints them. `pytest --update-goldens` rewrites
the `.txt` files; review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kscript.diagnostics import render_all
from kscript.errors import ScriptErrors
from kscript.syntax import parse_source

GOLDEN = Path(__file__).resolve().parent / "golden" / "errors"
CASES = sorted(GOLDEN.glob("syntax_*.kscene"))


def test_there_are_enough_broken_scripts():
    assert len(CASES) >= 12


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_syntax_error_text(case: Path, golden):
    with pytest.raises(ScriptErrors) as info:
        parse_source(case.read_text(encoding="utf-8"), case.name)
    err = info.value
    assert set(err.sources) == {case.name}
    golden(case.with_suffix(".txt"), render_all(err.diagnostics, err.sources) + "\n")


def test_the_chained_comparison_hint_is_valid_kscene():
    """The help of syntax_chained_comparison ("(a < b) and (b < c)") checks and compiles."""
    from kscript.compile import compile_source

    plan = compile_source(
        'film "f" { size: 64x64 }\n'
        "scene s 2s {\n"
        '  prompt "s"\n'
        "  turn: (1 < 2) and (2 < 3)\n"
        "  zoom: 1 + 0.01 * (if (0.5s <= t) and (t < 1.5s) then 1 else 0)\n"
        "}\n"
    )
    assert plan.frames


# ----------------------------------------------------------------------------- the rule for colons


def _diagnostics(text: str):
    with pytest.raises(ScriptErrors) as info:
        parse_source(text, "c.kscene")
    return [(d.code, d.message, d.span.line, d.span.col) for d in info.value.diagnostics]


SCENE = 'film "f" {{ size: 64x64 }}\nscene s 2s {{\n  prompt "p"\n  {item}\n}}\n'


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ('prompt: "a park"', "'prompt' takes no colon: write prompt \"...\""),
        ('prompt: "rain" at 1s blend 500ms', "'prompt' takes no colon: write prompt \"...\""),
        ("effect: zoom_in", "'effect' takes no colon: write effect zoom_in"),
        ("effect: zoom_in(rate = 2) from 0s to 1s", "'effect' takes no colon: write effect zoom_in(...)"),
        ("transition: crossfade 12f", "'transition' takes no colon: write transition crossfade 12f"),
        ("transition: cut", "'transition' takes no colon: write transition cut"),
        ("continue:", "'continue' takes no colon: write continue"),
    ],
)
def test_a_statement_written_with_a_colon_is_one_error_naming_the_fix(item, message):
    """Not "unknown scene setting 'prompt'" plus "scene has no prompt": one error, the fix."""
    assert _diagnostics(SCENE.format(item=item)) == [("E001", message, 4, 3)]


@pytest.mark.parametrize(
    ("line", "message"),
    [("let: a = 1", "'let' takes no colon: write let wobble = ..."),
     ('import: "moves.kscene"', "'import' takes no colon: write import \"moves.kscene\"")],
)
def test_a_top_level_statement_with_a_colon_names_the_fix(line, message):
    assert _diagnostics('film "f" { size: 64x64 }\n' + line + "\n") == [("E001", message, 2, 1)]


FILM_NEGATIVE = 'film "f" {{\n  {n}\n}}\nscene s 2s {{\n  prompt "p"\n}}\n'
SCENE_NEGATIVE = 'film "f" {{ }}\nscene s 2s {{\n  prompt "p"\n  {n}\n}}\n'


@pytest.mark.parametrize(("text", "line"), [(FILM_NEGATIVE, 2), (SCENE_NEGATIVE, 4)], ids=["film", "scene"])
def test_negative_without_a_colon_still_reads_with_warning_w004(text, line):
    """Films written before the rule keep working: the AST of `negative: "..."`, warned."""
    from kscript.syntax.printer import to_source

    old = parse_source(text.format(n='negative "blurry"'), "c.kscene")
    new = parse_source(text.format(n='negative: "blurry"'), "c.kscene")
    assert to_source(old) == to_source(new) and 'negative: "blurry"' in to_source(old)
    assert new.warnings == ()
    (warning,) = old.warnings
    assert (warning.code, warning.severity, warning.span.line, warning.span.col) == ("W004", "warning", line, 3)
    assert warning.message == 'negative is a setting and takes a colon: write negative: "blurry"'


def test_the_old_negative_gives_the_same_plan_and_checks_with_exit_0(tmp_path, capsys):
    from kscript.cli import main
    from kscript.compile import compile_source

    old = 'film "f" {\n  size: 64x64\n  negative "blurry"\n}\nscene s 1s {\n  prompt "p"\n  negative "people"\n}\n'
    new = old.replace('negative "', 'negative: "')
    assert compile_source(old).to_json() == compile_source(new).to_json()
    film = tmp_path / "old.kscene"
    film.write_text(old, encoding="utf-8")
    assert main(["check", str(film)]) == 0
    err = capsys.readouterr().err
    assert err.count("warning[W004]") == 2 and "error" not in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("effect push(to = 1) {\n  x: 1\n}\n", "'to' is a keyword, so it cannot name a parameter"),
        ("effect push(a, from) {\n  x: a\n}\n", "'from' is a keyword, so it cannot name a parameter"),
        ('scene s 1s {\n  prompt "p"\n  effect zoom_in(at = 1)\n}\n', "'at' is a keyword, so no parameter can be named 'at'"),
    ],
)
def test_a_keyword_as_a_parameter_name_says_it_is_a_keyword_and_why(text, message):
    with pytest.raises(ScriptErrors) as info:
        parse_source(text, "k.kscene")
    (diag,) = info.value.diagnostics
    assert diag.message == message
    assert "kscript reads keywords as the words of its statements everywhere in a file" in diag.hint


def test_each_example_snippet_fails_in_the_state_of_its_label():
    """The example table of kscript.syntax.messages: each snippet is a broken script whose
    error state the label words; two labels never share a state."""
    from lark.exceptions import UnexpectedToken

    from kscript.syntax import messages
    from kscript.syntax.parser import _BUILDER, _LOCK, lark_parser

    parse_source("let a = 1")  # learns the examples
    states: dict[int, str] = {}
    with _LOCK:
        for label, snippets in messages.EXAMPLES.items():
            for snippet in snippets:
                _BUILDER.reset("<example>", snippet)
                with pytest.raises(UnexpectedToken) as info:
                    lark_parser().parse(snippet)
                assert messages.example_label(info.value) == label, snippet
                assert states.setdefault(messages._state_number(info.value), label) == label


def test_each_example_label_is_shown_by_a_golden_fixture():
    """The golden fixtures show every wording the example table selects, as users see it."""
    shown = "".join(p.read_text(encoding="utf-8") for p in GOLDEN.glob("syntax_*.txt"))
    words = {"parameter": "is a keyword, so it cannot name a parameter", "argument": "so no parameter can be named"}
    from kscript.syntax import messages

    assert set(words) == set(messages.EXAMPLES)
    for label, text in words.items():
        assert text in shown, label


def test_a_python_power_says_how_kscript_writes_one():
    """`1.5 ** 2` (Python's and Deforum's power) is an error whose help names `^` and `pow`,
    not "a value is missing after '*'"; the help's own form compiles."""
    from kscript.compile import compile_source

    with pytest.raises(ScriptErrors) as info:
        parse_source('scene s 1s {\n  prompt "p"\n  zoom: 1.5 ** 2\n}\n', "p.kscene")
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.span.line, diag.span.col) == ("E001", 3, 14)
    assert "written with ^ (1.5 ^ 2) or pow(1.5, 2)" in diag.hint
    compile_source('scene s 1s {\n  prompt "p"\n  zoom: 1.5 ^ 2\n  x: pow(1.5, 2)\n}\n')


def test_a_colon_after_a_scene_name_says_the_scene_takes_none():
    with pytest.raises(ScriptErrors) as info:
        parse_source('scene park: 4s {\n  prompt "p"\n}\n', "p.kscene")
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.span.line, diag.span.col) == ("E001", 1, 7)
    assert diag.hint == "a scene's name takes no colon: scene park 4s { ... }"
