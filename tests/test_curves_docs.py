"""docs/curves.md stays true: its tables are compared with what the code computes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from kscript.curves import EASING_DOCS, EASINGS, FUNCTIONS, saw, square, tri

DOC = (Path(__file__).resolve().parent.parent / "docs" / "curves.md").read_text(encoding="utf-8")


def _cell(v: float) -> str:
    return str(int(v)) if v in (0.0, 1.0) else f"{v:.3f}".rstrip("0").rstrip(".")


@pytest.mark.parametrize("name", list(EASINGS))
def test_every_easing_has_its_row_with_current_values(name):
    e = EASINGS[name]
    row = f"| `{name}` | {EASING_DOCS[name]} | " + " | ".join(_cell(e(x)) for x in (0, 0.25, 0.5, 0.75, 1)) + " |"
    assert row in DOC


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_every_function_is_listed(name):
    b = FUNCTIONS[name]
    assert f"`{b.signature}`" in DOC or f"`{name}(" in DOC


def test_oscillator_value_table():
    lines = {}
    for line in DOC.splitlines():
        words = line.split()
        if words[:1] in (["tri"], ["saw"], ["square"], ["sin"]) and len(words) >= 9:
            lines[words[0]] = words[1:9]
    xs = [i / 8 for i in range(8)]
    for name, fn in (("tri", tri), ("saw", saw), ("square", square), ("sin", lambda x: math.sin(2 * math.pi * x))):
        assert [float(v) for v in lines[name]] == pytest.approx([fn(x) for x in xs], abs=0.005), name


def test_bezier_is_documented():
    assert "### `bezier(x1, y1, x2, y2)`" in DOC
