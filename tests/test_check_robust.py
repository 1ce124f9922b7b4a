"""Any script, however broken, gives diagnostics or a plan: never another exception.

The parser's own fuzzing lives with the parser; here valid films are mutated so that
they still parse but break the checker's and compiler's assumptions: odd numbers (zero,
negative, huge), swapped names, lines dropped or doubled.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kscript.compile import compile_source
from kscript.errors import ScriptErrors

BASE = '''film "fuzz" {
  size: 128x128
  fps: 12
  seed: 5
  strength: 0.4
}
let wobble = 0.8 * sin(2 * pi * t / 3s)
let twice = wobble * 2
effect drift(speed = 1.5, sway = 0) {
  x: speed
  angle: sway * sin(2 * pi * t / 2s)
}
scene park 2s {
  prompt "a park"
  effect zoom_in
  strength: 0.45 -> 0.3 ease_in_out
}
scene street 2s {
  prompt "a street"
  prompt "the same street at sunrise" at 1s blend 500ms
  negative: "people"
  zoom: keys { 0s: 1.0, 1s: 1.03 ease_out, 2s: 1.0 }
  effect drift(speed = 2) from 500ms to 1500ms
  transition crossfade 6f
}
scene sea 24f {
  continue
  prompt "stormy sea"
  angle: twice
  cadence: 2
  steps: 20
}
'''

NUMBERS = ["0", "-1", "1e308", "0.0001", "99999", "2.5", "-0.5", "1e-9", "7"]
NAMES = ["t", "f", "u", "dur", "wobble", "twice", "speed", "sway", "zoom", "x", "nope", "pi", "fps"]
NUMBER_RE = re.compile(r"(?<![\w.])\d+(\.\d+)?(?![\w.])")
NAME_RE = re.compile(r"\b(t|wobble|twice|speed|sway|pi)\b")


@st.composite
def mutated(draw):
    lines = BASE.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["number", "name", "drop", "dup"]))
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        if kind == "number":
            spots = list(NUMBER_RE.finditer(line))
            if spots:
                m = spots[draw(st.integers(0, len(spots) - 1))]
                lines[i] = line[: m.start()] + draw(st.sampled_from(NUMBERS)) + line[m.end():]
        elif kind == "name":
            spots = list(NAME_RE.finditer(line))
            if spots:
                m = spots[draw(st.integers(0, len(spots) - 1))]
                lines[i] = line[: m.start()] + draw(st.sampled_from(NAMES)) + line[m.end():]
        elif kind == "drop":
            del lines[i]
        else:
            lines.insert(i, line)
    return "\n".join(lines) + "\n"


def test_the_base_film_compiles():
    assert len(compile_source(BASE).frames) == 72


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(src=mutated())
def test_mutated_films_give_a_plan_or_diagnostics(src):
    try:
        plan = compile_source(src)
    except ScriptErrors as err:
        assert err.diagnostics
        err.render()  # rendering never fails either
    else:
        assert plan.frames


def test_a_very_long_chain_of_lets_compiles_it_is_not_too_deep():
    """Check and compile run with room for deep nesting (`kscript.limits.deep_call`, #9.5):
    1,500 lets deep is long, not absurd. Only nesting past `limits.RECURSION_LIMIT` is
    "too deep" (tests/test_hostile_files.py), and a file holds at most `MAX_ITEMS` lets."""
    lets = "let a0 = t\n" + "".join(f"let a{i} = a{i - 1} + 1\n" for i in range(1, 1500))
    plan = compile_source(lets + 'film "f" { fps: 10 }\nscene s 1s {\n  prompt "p"\n  strength: (a1499 - 1499) * 0.1 + 0.4\n}\n')
    assert [round(fr.strength, 6) for fr in plan.frames[:3]] == [0.4, 0.41, 0.42]


def test_a_chain_of_a_hundred_lets_is_fine():
    """The depth limit above is far from what a film needs: 100 lets deep compiles."""
    lets = "let a0 = t\n" + "".join(f"let a{i} = a{i - 1} + 1\n" for i in range(1, 100))
    plan = compile_source(lets + 'film "f" { fps: 10 }\nscene s 1s {\n  prompt "p"\n  strength: (a99 - 99) * 0.1 + 0.4\n}\n')
    assert [round(fr.strength, 6) for fr in plan.frames[:3]] == [0.4, 0.41, 0.42]
