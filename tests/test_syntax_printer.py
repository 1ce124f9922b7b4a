"""Printing and parsing are inverses: parse(print(ast)) == ast, spans aside.

Random expression trees are printed and parsed back, so the printer's parentheses and
the grammar's precedence (including -2^2 = -(2^2) and right-associative ^) must agree on
every tree; every shipped kscene file goes through print and parse unchanged.
"""

from __future__ import annotations

import os
from dataclasses import fields, is_dataclass
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kscript.source import Span
from kscript.syntax import nodes as n
from kscript.syntax import parse_source
from kscript.syntax.printer import expr as print_expr
from kscript.syntax.printer import to_source

ROOT = Path(__file__).resolve().parent.parent
HERE = Span("p.kscene", 1, 1, 1, 2)
FILES = sorted((ROOT / "examples").glob("*.kscene")) + [ROOT / "tests" / "fixtures" / "issue_film.kscene"]
FILES += [Path(str(e)) for e in resources.files("kscript.stdlib_effects").iterdir() if e.name.endswith(".kscene")]


def shape(node):
    """A node without its spans (nor a module's warnings, which are not compared), for comparing trees."""
    if isinstance(node, tuple):
        return tuple(shape(c) for c in node)
    if not is_dataclass(node):
        return node
    return (type(node).__name__,) + tuple(
        (f.name, shape(getattr(node, f.name))) for f in fields(node) if f.compare and not f.name.endswith("span")
    )


names = st.sampled_from(["t", "u", "f", "dur", "wobble", "speed", "x1", "_a", "bezier"])
numbers = st.one_of(st.integers(0, 10**6).map(float), st.floats(0, 1e20, allow_nan=False, allow_infinity=False))
durations = st.builds(
    lambda v, unit: n.Duration(v, unit, HERE),
    st.one_of(st.integers(0, 500).map(float), st.integers(0, 10**5).map(lambda i: i / 1000)),
    st.sampled_from(["s", "ms", "f"]),
)
leaves = st.one_of(
    numbers.map(lambda v: n.Number(v, HERE)),
    durations,
    names.map(lambda x: n.Name(x, HERE)),
)
binary_ops = st.sampled_from(["+", "-", "*", "/", "%", "^", "<", "<=", ">", ">=", "==", "!=", "and", "or"])


def _extend(children):
    return st.one_of(
        st.builds(lambda op, a: n.Unary(op, a, HERE), st.sampled_from(["-", "+", "not"]), children),
        st.builds(lambda op, a, b: n.Binary(op, a, b, HERE), binary_ops, children, children),
        st.builds(lambda c, a, b: n.IfExpr(c, a, b, HERE), children, children, children),
        st.builds(
            lambda f, args: n.Call(f, tuple(args), HERE, HERE),
            st.sampled_from(["sin", "clamp", "noise"]),
            st.lists(children, max_size=3),
        ),
    )


expressions = st.recursive(leaves, _extend, max_leaves=12)


@settings(max_examples=int(os.environ.get("KSCRIPT_FUZZ_EXAMPLES", "200")), deadline=None)
@given(expressions)
def test_expressions_print_and_parse_back(e):
    text = print_expr(e)
    parsed = parse_source(f"let v = {text}", "p.kscene").lets[0].value
    assert shape(parsed) == shape(e), text


@settings(max_examples=int(os.environ.get("KSCRIPT_FUZZ_EXAMPLES", "60")), deadline=None)
@given(
    expressions,
    expressions,
    st.sampled_from([None, "ease_out", "bezier"]),
    st.lists(st.tuples(durations, expressions, st.sampled_from([None, "step", "ease_in_out_back"])), min_size=1, max_size=4),
    st.text(alphabet=st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=20),
)
def test_scenes_print_and_parse_back(a, b, ease, keys, prompt):
    def easing(name):
        if name is None:
            return None
        args = tuple(n.Number(v, HERE) for v in (0.4, 0, 0.2, 1)) if name == "bezier" else ()
        return n.Easing(name, args, HERE)

    scene = n.Scene(
        "s1",
        n.Duration(4.0, "s", HERE),
        (
            n.Prompt(prompt, None, None, HERE),
            n.Prompt(prompt + "!", n.Duration(2.0, "s", HERE), n.Duration(500.0, "ms", HERE), HERE),
            n.Assign("zoom", n.Ramp(a, b, easing(ease), HERE), HERE, HERE),
            n.Assign("x", n.Keys(tuple(n.Key(t, v, easing(k), HERE) for t, v, k in keys), HERE), HERE, HERE),
            n.EffectUse("drift", (n.Arg(None, a, HERE), n.Arg("speed", b, HERE)), n.Duration(1, "s", HERE), n.Duration(3, "s", HERE), HERE, HERE),
            n.Continue(HERE),
            n.Transition("crossfade", n.Duration(12, "f", HERE), HERE, HERE),
        ),
        HERE,
        HERE,
    )
    module = n.Module("p.kscene", (scene,), HERE)
    assert shape(parse_source(to_source(module), "p.kscene")) == shape(module)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_shipped_files_print_and_parse_back(path):
    module = parse_source(path.read_text(encoding="utf-8"), "f.kscene")
    again = parse_source(to_source(module), "f.kscene")
    assert shape(again) == shape(module)
    assert to_source(again) == to_source(module)  # printing is a fixed point
