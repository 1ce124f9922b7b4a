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
