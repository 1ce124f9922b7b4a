"""Broken scripts and the exact diagnostics they get (tests/golden/errors/check_*.kscene).

Each fixture is checked *and* compiled the way `kscript check` does, and the rendered
diagnostics are compared with the sibling .txt file. Fixtures may import helpers from
tests/golden/errors/lib/ (not fixtures themselves). `pytest --update-goldens` rewrites
the .txt files; review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kscript.compile import compile_file
from kscript.errors import ScriptErrors

ERRORS = Path(__file__).parent / "golden" / "errors"
FIXTURES = sorted(ERRORS.glob("check_*.kscene"))


def diagnostics_text(name: str) -> str:
    with pytest.raises(ScriptErrors) as exc:
        compile_file(name)
    return exc.value.render() + "\n"


def test_there_are_enough_fixtures():
    assert len(FIXTURES) >= 25


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_broken_script_diagnostics(path, golden, monkeypatch):
    # Paths in diagnostics are as the user typed them: run from the fixtures' folder.
    monkeypatch.chdir(ERRORS)
    golden(path.with_suffix(".txt"), diagnostics_text(path.name))


def test_issue_example_text(monkeypatch):
    """The diagnostic of issue 2, letter for letter (the fixture puts it on line 13), with
    `zom_in` for its `zoomin`, now an alias of zoom_in."""
    monkeypatch.chdir(ERRORS)
    text = diagnostics_text("check_unknown_effect.kscene")
    assert (
        "check_unknown_effect.kscene:13:10: error[E012]: unknown effect 'zom_in'\n"
        "   13 |   effect zom_in\n"
        "      |          ^^^^^^\n"
        "   = help: did you mean 'zoom_in'?"
    ) in text


def test_all_errors_of_a_file_come_out_together(monkeypatch):
    monkeypatch.chdir(ERRORS)
    with pytest.raises(ScriptErrors) as exc:
        compile_file("check_many_errors.kscene")
    codes = sorted(d.code for d in exc.value.diagnostics)
    assert codes == ["E010", "E012", "E018", "E023", "E023", "E025", "E027"]


def test_errors_of_imported_files_come_with_their_sources(monkeypatch):
    monkeypatch.chdir(ERRORS)
    with pytest.raises(ScriptErrors) as exc:
        compile_file("check_errors_in_import.kscene")
    files = {d.span.file for d in exc.value.diagnostics}
    assert files == {"check_errors_in_import.kscene", "lib/broken_moves.kscene"}
    assert set(exc.value.sources) >= files


@pytest.mark.parametrize("written, meant", [("easeInOut", "ease_in_out"), ("EaseOut", "ease_out"),
                                            ("easeinout", "ease_in_out")])
def test_a_camel_case_easing_is_taken_for_its_snake_case_name(written, meant):
    """'easeInOut' (as After Effects and CSS spell it) is 'ease_in_out' with its separators
    and case changed, so the hint names that one, not 'ease_out', which is closer by letters."""
    from kscript.compile import compile_source

    with pytest.raises(ScriptErrors) as exc:
        compile_source(f'scene s 1s {{\n  prompt "p"\n  zoom: keys {{ 0s: 1, 1s: 1.2 {written} }}\n}}\n')
    assert f"did you mean '{meant}'?" in exc.value.render()


@pytest.mark.parametrize("film", [
    'scene s 1s {\n  prompt "p"\n  zoom: "0:(1.02), 12:(1.05)"\n}\n',
    'effect e() {\n  zoom: "0:(1.02)"\n}\nscene s 1s {\n  prompt "p"\n  effect e\n}\n',
])
def test_a_quoted_schedule_as_a_channel_says_how_to_write_a_curve(film):
    """A Deforum schedule pasted in quotes is E024 with help that shows kscript's curve and
    names the importer, in a scene and in an effect."""
    from kscript.compile import compile_source

    with pytest.raises(ScriptErrors) as exc:
        compile_source(film)
    (diag,) = exc.value.diagnostics
    assert diag.code == "E024" and "without quotes" in diag.hint and "kscript import deforum" in diag.hint
