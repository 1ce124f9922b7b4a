"""docs/language.md stays true to the code: every standard effect, every error code, and
every kscene example in it parses."""

from __future__ import annotations

import re
from pathlib import Path

from kscript.diagnostics import CODES
from kscript.syntax import parse_source

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")


def test_every_standard_effect_is_in_the_docs():
    names = set()
    for path in (ROOT / "stdlib_effects").glob("*.kscene"):
        names |= {e.name for e in parse_source(path.read_text(encoding="utf-8"), path.name).effects}
    documented = set(re.findall(r"^\| `(\w+)` \|", DOC, re.MULTILINE))
    assert names - documented == set()


def test_every_error_code_is_in_the_docs():
    documented = set(re.findall(r"^\| (E\d{3}) \|", DOC, re.MULTILINE))
    assert {code for code in CODES if code.startswith("E")} == documented
    assert "W001" in DOC and "W002" in DOC  # the warnings, in prose


def test_kscene_examples_in_the_docs_parse():
    blocks = re.findall(r"```kscene\n(.*?)```", DOC, re.DOTALL)
    assert len(blocks) >= 5
    for block in blocks:
        parse_source(block, "docs.kscene")
