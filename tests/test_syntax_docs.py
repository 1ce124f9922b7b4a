"""docs/language.md stays true to the code: every standard effect, every error and warning
code, and every kscene example in it checks and compiles to a plan, warning-free."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kscript.compile import compile_film
from kscript.diagnostics import CODES
from kscript.source import SourceFile
from kscript.syntax import parse_source

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")


def test_every_standard_effect_is_in_the_docs():
    names = set()
    for path in (ROOT / "stdlib_effects").glob("*.kscene"):
        names |= {e.name for e in parse_source(path.read_text(encoding="utf-8"), path.name).effects}
    documented = set(re.findall(r"^\| `(\w+)` \|", DOC, re.MULTILINE))
    assert names - documented == set()


def test_every_error_and_warning_code_is_in_the_docs():
    documented = set(re.findall(r"^\| ([EW]\d{3}) \|", DOC, re.MULTILINE))
    assert set(CODES) == documented


def test_every_warning_code_the_code_emits_is_in_the_table():
    """The codes written in kscript's sources (`"W004"`) are the table's: none forgotten."""
    used = set()
    for path in (ROOT / "kscript").rglob("*.py"):
        used |= set(re.findall(r'"(W\d{3})"', path.read_text(encoding="utf-8")))
    assert used and used <= set(CODES)


# A fragment without scenes (a film block, lets, an effect) is checked as the top of a film.
_SCENE = '\nscene docs 1s {\n  prompt "docs"\n}\n'


def _kscene_blocks() -> list[str]:
    blocks = re.findall(r"```kscene\n(.*?)```", DOC, re.DOTALL)
    assert len(blocks) >= 5
    return blocks


@pytest.mark.parametrize("index", range(len(re.findall(r"```kscene\n", DOC))))
def test_kscene_examples_in_the_docs_check_and_compile(index, monkeypatch):
    """Each example is a film (imports found in examples/, as the text says) that
    compiles to a plan without an error or a warning: the docs teach no old forms."""
    block = _kscene_blocks()[index]
    monkeypatch.chdir(ROOT)
    text = block if re.search(r"^scene\s", block, re.MULTILINE) else block + _SCENE
    compiled = compile_film(SourceFile("examples/docs.kscene", text))
    assert compiled.plan is not None and compiled.plan.frames
    assert compiled.program.warnings == []
