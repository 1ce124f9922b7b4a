"""Property tests for the curve evaluator (kscript.check.curve_compiler).

Ramps and keyframes hit their endpoint values; every value is finite; folding a constant
gives the same value as evaluating it per frame.
"""

from __future__ import annotations

import math

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kscript.curves.easing import EASINGS
from kscript.check.curve_compiler import CTX_P, CTX_SIZE, CTX_T, CurveCompiler, math_errors
from kscript.source import Span
from kscript.syntax import nodes as n

SP = Span("<test>", 1, 1, 1, 2)
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
easing_names = st.sampled_from(sorted(EASINGS))


def compiler() -> CurveCompiler:
    return CurveCompiler(24.0, lambda name, span: None)


def ctx(t: float = 0.0, p: float = 0.0) -> tuple:
    c = [0.0] * CTX_SIZE
    c[CTX_T] = t
    c[CTX_P] = p
    return tuple(c)


def num(x: float) -> n.Number:
    return n.Number(x, SP)


@given(a=finite, b=finite, easing=st.none() | easing_names)
def test_a_ramp_hits_its_endpoints(a, b, easing):
    node = n.Ramp(num(a), num(b), n.Easing(easing, (), SP) if easing else None, SP)
    fn = compiler().curve(node)
    tol = 1e-9 * max(1.0, abs(a), abs(b))
    assert math.isclose(fn.fn(ctx(p=0.0)), a, abs_tol=tol)
    assert math.isclose(fn.fn(ctx(p=1.0)), b, abs_tol=tol)


@given(
    points=st.lists(st.tuples(st.integers(0, 2000), finite), min_size=1, max_size=8, unique_by=lambda kv: kv[0]),
    easing=st.none() | easing_names,
    probe=st.floats(min_value=-10, max_value=100, allow_nan=False),
)
def test_keys_hit_their_values_hold_outside_and_stay_finite(points, easing, probe):
    points = sorted(points)
    keys = tuple(
        n.Key(n.Duration(float(ms), "ms", SP), num(v), n.Easing(easing, (), SP) if easing else None, SP)
        for ms, v in points
    )
    fn = compiler().curve(n.Keys(keys, SP))
    for ms, v in points:
        assert fn.fn(ctx(t=ms / 1000.0)) == v
    assert fn.fn(ctx(t=points[0][0] / 1000.0 - 1.0)) == points[0][1]
    assert fn.fn(ctx(t=points[-1][0] / 1000.0 + 1.0)) == points[-1][1]
    assert math.isfinite(fn.fn(ctx(t=probe)))


OPS = ["+", "-", "*", "/", "^", "%", "<", ">=", "==", "and", "or"]


def exprs(leaf):
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.builds(lambda op, a, b: n.Binary(op, a, b, SP), st.sampled_from(OPS), inner, inner),
            st.builds(lambda a: n.Unary("-", a, SP), inner),
            st.builds(lambda c, a, b: n.IfExpr(c, a, b, SP), inner, inner, inner),
            st.builds(lambda f, a: n.Call(f, (a,), SP, SP), st.sampled_from(["sin", "abs", "floor", "sqrt", "tri"]), inner),
        ),
        max_leaves=12,
    )


def substitute(node, value: float):
    """The same expression with `t` replaced by a number."""
    if isinstance(node, n.Name):
        return num(value)
    if isinstance(node, n.Binary):
        return n.Binary(node.op, substitute(node.left, value), substitute(node.right, value), SP)
    if isinstance(node, n.Unary):
        return n.Unary(node.op, substitute(node.operand, value), SP)
    if isinstance(node, n.IfExpr):
        return n.IfExpr(substitute(node.cond, value), substitute(node.then, value), substitute(node.otherwise, value), SP)
    if isinstance(node, n.Call):
        return n.Call(node.func, tuple(substitute(a, value) for a in node.args), SP, SP)
    return node


leaves = st.one_of(st.floats(-100, 100, allow_nan=False).map(num), st.just(n.Name("t", SP)))


@settings(max_examples=300)
@given(expr=exprs(leaves), t=st.floats(0, 10, allow_nan=False))
def test_folding_agrees_with_per_frame_evaluation(expr, t):
    reported = []
    live = CurveCompiler(24.0, lambda name, span: None, report=reported.append).expr(expr)
    try:
        per_frame = live.fn(ctx(t=t))
        if not math.isfinite(per_frame):
            raise ArithmeticError
    except math_errors():
        per_frame = None
    if reported:  # the expression's constant parts failed already: its value is a stand-in
        per_frame = None
    folded_c = CurveCompiler(24.0, lambda name, span: None, report=reported.append)
    before = len(reported)
    folded = folded_c.expr(substitute(expr, t))
    assert folded.is_const
    if len(reported) > before:  # folding found a maths error: per frame must fail too
        assert per_frame is None, [d.message for d in reported[before:]]
        assert {d.code for d in reported[before:]} == {"E032"}
        return
    assume(per_frame is not None)
    assert math.isclose(folded.const, per_frame, rel_tol=1e-12, abs_tol=1e-12)


def test_a_time_independent_expression_is_folded():
    expr = n.Binary("*", num(2), n.Call("sin", (n.Binary("/", n.Name("pi", SP), num(2), SP),), SP, SP), SP)
    fn = compiler().expr(expr)
    assert fn.is_const and fn.const == 2.0
    assert not compiler().expr(n.Name("t", SP)).is_const


def caret_and_pow_errors(text: str) -> list[str]:
    from kscript.compile import compile_source
    from kscript.errors import ScriptErrors

    try:
        compile_source(f'film "f" {{ fps: 4 }}\nscene s 1s {{\n  prompt "p"\n  x: {text}\n}}\n', "f.kscene")
    except ScriptErrors as err:
        return [f"{d.code}: {d.message}" for d in err.diagnostics]
    return []


def test_caret_is_pow_with_the_same_domain_rule_and_words():
    """`x ^ y` is `pow(x, y)`: (-2) ^ 0.5 is E032 in kscript's words, not Python's "math
    domain error", and the same words as pow's, folded or per frame."""
    words = "pow(-2, 0.5): a negative number to a fractional power is not a real number"
    assert caret_and_pow_errors("(-2) ^ 0.5") == caret_and_pow_errors("pow(-2, 0.5)") == [
        f"E032: this expression has no finite value: {words}"
    ]
    per_frame = caret_and_pow_errors("(t - 2) ^ 0.5")
    assert per_frame == caret_and_pow_errors("pow(t - 2, 0.5)") == [
        "E032: x has no finite value on frame 0 (0s) of scene 's': "
        "pow(-2, 0.5): a negative number to a fractional power is not a real number"
    ]
    assert caret_and_pow_errors("0 ^ -1") == caret_and_pow_errors("pow(0, -1)") != []
    assert caret_and_pow_errors("2 ^ 3 - 8") == []


def test_argument_counts_come_from_the_function_table():
    from kscript.curves.functions import FUNCTIONS

    for name, builtin in FUNCTIONS.items():
        wrong = builtin.min_args - 1 if builtin.min_args > 1 else (builtin.max_args or 0) + 1
        call = f"{name}({', '.join(['1'] * wrong)})"
        assert caret_and_pow_errors(call) == [f"E016: '{name}' takes {builtin.arity_text()}, not {wrong}"], call
