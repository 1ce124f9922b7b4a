"""Easings: the promises every easing keeps, and the shapes of the named ones.

A keyframe must land on its value to the last bit, so e(0) and e(1) are exact; values in
between are finite; every family except back, elastic and bounce never turns back.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from kscript.curves import easing as E
from kscript.curves.easing import (
    EASING_DOCS,
    EASINGS,
    OVERSHOOTING,
    bezier,
    easing_names,
    get_easing,
    in_out,
    reverse,
)

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
anything = st.floats(allow_nan=True, allow_infinity=True)

FAMILIES = ("sine", "quad", "cubic", "quart", "quint", "expo", "circ", "back", "elastic", "bounce")
BOUNCING = {f"ease_{k}_bounce" for k in ("in", "out", "in_out")}
MONOTONE = sorted(set(EASINGS) - OVERSHOOTING - BOUNCING)


# ----------------------------------------------------------------------------- the registry


def test_registry_has_every_family_in_three_kinds_and_the_short_names():
    expected = {"linear", "step", "ease_in", "ease_out", "ease_in_out"}
    expected |= {f"ease_{kind}_{family}" for family in FAMILIES for kind in ("in", "out", "in_out")}
    assert set(EASINGS) == expected
    assert easing_names() == sorted(expected | {"bezier"})


CUBIC = {
    "ease_in": lambda x: x**3,
    "ease_out": lambda x: 1 - (1 - x) ** 3,
    "ease_in_out": lambda x: 4 * x**3 if x < 0.5 else 1 - (-2 * x + 2) ** 3 / 2,
}


def test_short_names_are_the_cubic_curves():
    for short, formula in CUBIC.items():
        for x in (0.1, 0.3, 0.5, 0.7, 0.9):
            assert EASINGS[short](x) == EASINGS[f"{short}_cubic"](x)
            assert EASINGS[short](x) == pytest.approx(formula(x), abs=1e-12)
            assert getattr(E, short)(x) == pytest.approx(formula(x), abs=1e-12)  # the module's own name too


def test_every_name_has_one_line_of_doc():
    for name in easing_names():
        doc = EASING_DOCS[name]
        assert doc and "\n" not in doc and doc[0].isupper() or doc.startswith("bezier("), name


def test_overshooting_names_the_back_and_elastic_families_only():
    assert OVERSHOOTING == {f"ease_{k}_{f}" for f in ("back", "elastic") for k in ("in", "out", "in_out")}


# ----------------------------------------------------------------------------- the promises


@pytest.mark.parametrize("name", sorted(EASINGS))
def test_endpoints_are_exact(name):
    e = EASINGS[name]
    assert e(0.0) == 0.0 and type(e(0.0)) is float
    assert e(1.0) == 1.0 and type(e(1.0)) is float
    assert e(0) == 0.0 and e(1) == 1.0  # ints, as a literal in a script may arrive


@pytest.mark.parametrize("name", sorted(EASINGS))
@given(x=anything)
def test_input_is_clamped_and_nan_counts_as_zero(name, x):
    e = EASINGS[name]
    y = e(x)
    if math.isnan(x) or x <= 0.0:
        assert y == 0.0
    elif x >= 1.0:
        assert y == 1.0
    else:
        assert math.isfinite(y)


@pytest.mark.parametrize("name", sorted(EASINGS))
@given(x=unit)
def test_values_are_finite_and_bounded(name, x):
    y = EASINGS[name](x)
    assert math.isfinite(y)
    if name in OVERSHOOTING:
        assert -0.5 < y < 1.5  # overshoot, but of a sensible size
    else:
        assert 0.0 <= y <= 1.0


@pytest.mark.parametrize("name", MONOTONE)
@given(a=unit, b=unit)
def test_non_overshooting_families_are_monotone(name, a, b):
    lo, hi = min(a, b), max(a, b)
    e = EASINGS[name]
    assert e(lo) <= e(hi) + 1e-12


@pytest.mark.parametrize("name", [n for n in sorted(EASINGS) if n.startswith("ease_in_out")] + ["linear"])
@given(x=unit)
def test_in_out_easings_are_symmetric(name, x):
    e = EASINGS[name]
    assert e(1.0 - x) == pytest.approx(1.0 - e(x), abs=1e-12)


@pytest.mark.parametrize("name", sorted(OVERSHOOTING))
def test_overshooting_easings_really_overshoot(name):
    ys = [EASINGS[name](i / 1000) for i in range(1001)]
    assert min(ys) < 0.0 or max(ys) > 1.0


def test_bounce_turns_back_but_stays_inside():
    ys = [E.ease_out_bounce(i / 1000) for i in range(1001)]
    assert any(b < a for a, b in zip(ys, ys[1:]))
    assert 0.0 <= min(ys) and max(ys) <= 1.0


# ----------------------------------------------------------------------------- shapes and exact values


def test_step_holds_until_the_end_of_the_segment():
    assert E.step(0.0) == 0.0
    assert E.step(0.5) == 0.0
    assert E.step(math.nextafter(1.0, 0.0)) == 0.0
    assert E.step(1.0) == 1.0


@pytest.mark.parametrize(
    ("name", "x", "y"),
    [
        ("linear", 0.3, 0.3),
        ("ease_in_quad", 0.5, 0.25),
        ("ease_out_quad", 0.5, 0.75),
        ("ease_in_cubic", 0.5, 0.125),
        ("ease_out_cubic", 0.5, 0.875),
        ("ease_in_quart", 0.5, 0.0625),
        ("ease_in_quint", 0.5, 0.03125),
        ("ease_in_out_quad", 0.25, 0.125),
        ("ease_in_out_cubic", 0.25, 0.0625),
        ("ease_in_out", 0.5, 0.5),
        ("ease_in_sine", 0.5, 1.0 - math.sqrt(0.5)),
        ("ease_out_sine", 0.5, math.sqrt(0.5)),
        ("ease_in_out_sine", 0.25, (1.0 - math.sqrt(0.5)) / 2.0),
        ("ease_in_circ", 0.6, 0.2),  # 1 - sqrt(1 - 0.36)
        ("ease_out_circ", 0.4, 0.8),  # sqrt(1 - 0.36)
        ("ease_in_expo", 0.5, (2.0**-5 - 2.0**-10) / (1.0 - 2.0**-10)),
        ("ease_out_bounce", 1.0 / 2.75, 1.0),  # the first landing
        ("ease_out_bounce", 2.0 / 2.75, 1.0),  # the second landing
        ("ease_in_out_expo", 0.5, 0.5),
    ],
)
def test_known_values(name, x, y):
    assert EASINGS[name](x) == pytest.approx(y, abs=1e-12)


def test_back_pulls_back_about_ten_percent():
    assert min(E.ease_in_back(i / 1000) for i in range(1001)) == pytest.approx(-0.0997, abs=5e-4)
    assert max(E.ease_out_back(i / 1000) for i in range(1001)) == pytest.approx(1.0997, abs=5e-4)


@pytest.mark.parametrize("name", sorted(set(EASINGS) - {"step"}))
def test_no_jump_at_either_end(name):
    # easings.net's expo and elastic jump by up to 2**-10 at the ends; ours start from 0.
    # (circ has a vertical tangent at one end, so it approaches as sqrt(2 d), hence 1e-5.)
    e = EASINGS[name]
    assert abs(e(1e-12)) < 1e-5
    assert abs(1.0 - e(1.0 - 1e-12)) < 1e-5


# ----------------------------------------------------------------------------- combinators


@pytest.mark.parametrize("family", FAMILIES)
@given(x=unit)
def test_out_is_the_reverse_of_in(family, x):
    e_in, e_out = EASINGS[f"ease_in_{family}"], EASINGS[f"ease_out_{family}"]
    assert reverse(e_in)(x) == pytest.approx(e_out(x), abs=1e-9)


@pytest.mark.parametrize("family", [f for f in FAMILIES if f not in ("back", "elastic")])
@given(x=unit)
def test_in_out_joins_in_and_its_reverse(family, x):
    # back and elastic use their own constants for in_out (as easings.net does).
    e_in, e_io = EASINGS[f"ease_in_{family}"], EASINGS[f"ease_in_out_{family}"]
    assert in_out(e_in)(x) == pytest.approx(e_io(x), abs=1e-9)


def test_combinators_keep_exact_endpoints():
    for e in (reverse(E.ease_in_back), in_out(E.ease_in_elastic)):
        assert e(0.0) == 0.0 and e(1.0) == 1.0 and e(-3) == 0.0 and e(7) == 1.0


# ----------------------------------------------------------------------------- bezier

coordinate = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
free = st.floats(min_value=-2.0, max_value=3.0, allow_nan=False)


@given(x1=coordinate, y1=free, x2=coordinate, y2=free)
def test_bezier_endpoints_are_exact(x1, y1, x2, y2):
    e = bezier(x1, y1, x2, y2)
    assert e(0.0) == 0.0 and e(1.0) == 1.0


@given(x1=coordinate, y1=free, x2=coordinate, y2=free, t=unit)
def test_bezier_follows_its_curve(x1, y1, x2, y2, t):
    """e(x(t)) = y(t) for the curve's own parametrisation, where x moves with t."""

    def x_of(s):
        return 3 * (1 - s) ** 2 * s * x1 + 3 * (1 - s) * s * s * x2 + s**3

    def y_of(s):
        return 3 * (1 - s) ** 2 * s * y1 + 3 * (1 - s) * s * s * y2 + s**3

    slope = 3 * (1 - t) ** 2 * x1 + 6 * (1 - t) * t * (x2 - x1) + 3 * t * t * (1 - x2)
    assume(slope > 0.05 and 0.0 < t < 1.0)
    e = bezier(x1, y1, x2, y2)
    assert e(x_of(t)) == pytest.approx(y_of(t), abs=1e-7)


@given(x1=coordinate, y1=coordinate, x2=coordinate, y2=coordinate, a=unit, b=unit)
def test_bezier_with_y_in_unit_range_is_monotone(x1, y1, x2, y2, a, b):
    e = bezier(x1, y1, x2, y2)
    lo, hi = min(a, b), max(a, b)
    assert e(lo) <= e(hi) + 1e-7


@given(x=unit)
def test_bezier_on_the_diagonal_is_linear(x):
    assert bezier(0, 0, 1, 1)(x) == pytest.approx(x, abs=1e-12)
    assert bezier(0.3, 0.3, 0.6, 0.6)(x) == pytest.approx(x, abs=1e-12)


@given(x=unit)
def test_css_ease_in_out_is_a_symmetric_s_curve(x):
    e = bezier(0.42, 0, 0.58, 1)
    assert e(1.0 - x) == pytest.approx(1.0 - e(x), abs=1e-9)
    assert e(x) == pytest.approx(E.ease_in_out_sine(x), abs=0.03)  # close to the sine S


def _reference_bezier(x1, y1, x2, y2, p):
    """Plain bisection on the parametric curve, 200 halvings: slow, simple, independent."""
    lo, hi = 0.0, 1.0
    for _ in range(200):
        t = (lo + hi) / 2
        x = 3 * (1 - t) ** 2 * t * x1 + 3 * (1 - t) * t * t * x2 + t**3
        lo, hi = (t, hi) if x < p else (lo, t)
    t = (lo + hi) / 2
    return 3 * (1 - t) ** 2 * t * y1 + 3 * (1 - t) * t * t * y2 + t**3


@pytest.mark.parametrize(
    "points",
    [(0.25, 0.1, 0.25, 1.0), (0.42, 0.0, 1.0, 1.0), (0.0, 0.0, 0.58, 1.0), (0.68, -0.55, 0.265, 1.55)],
    ids=["css-ease", "css-ease-in", "css-ease-out", "overshoot"],
)
def test_bezier_matches_a_reference_solution(points):
    e = bezier(*points)
    for i in range(1, 40):
        p = i / 40
        assert e(p) == pytest.approx(_reference_bezier(*points, p), abs=1e-9)
    assert bezier(0.25, 0.1, 0.25, 1.0)(0.5) == pytest.approx(0.8024033876, abs=1e-9)  # CSS `ease` at half time


def test_bezier_with_flat_ends_uses_bisection_and_stays_accurate():
    e = bezier(0.0, 0.0, 1.0, 1.0)  # diagonal shortcut
    assert e(0.5) == 0.5
    e = bezier(1.0, 0.0, 0.0, 1.0)  # x'(t) = 0 at t = 0.5: Newton cannot go there
    assert e(0.5) == pytest.approx(0.5, abs=1e-6)
    assert e(1.0 - 0.3) == pytest.approx(1.0 - e(0.3), abs=1e-6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1.5, 0, 0.5, 1), "bezier x1 must be between 0 and 1 (got 1.5)"),
        ((0.5, 0, -0.1, 1), "bezier x2 must be between 0 and 1 (got -0.1)"),
        ((0.5, float("nan"), 0.5, 1), "bezier y1 must be a finite number (got nan)"),
        ((0.5, 0, 0.5, float("inf")), "bezier y2 must be a finite number (got inf)"),
        ((0.5, "a", 0.5, 1), "bezier y1 must be a number (got 'a')"),
    ],
)
def test_bezier_rejects_bad_control_points_with_a_readable_message(args, message):
    with pytest.raises(ValueError) as info:
        bezier(*args)
    assert str(info.value).startswith(message)


# ----------------------------------------------------------------------------- get_easing


def test_get_easing_finds_named_and_parametric_easings():
    assert get_easing("ease_in_out_sine") is EASINGS["ease_in_out_sine"]
    e = get_easing("bezier", (0.42, 0, 0.58, 1))
    assert e(0.5) == pytest.approx(0.5, abs=1e-12)
    assert get_easing("bezier", [0.42, 0, 0.58, 1])(0.2) == e(0.2)


def test_get_easing_unknown_name_is_a_key_error():
    with pytest.raises(KeyError):
        get_easing("ease_inout")
    with pytest.raises(KeyError):
        get_easing("Linear")


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("linear", (1,), "easing 'linear' takes no arguments (got 1)"),
        ("bezier", (), "bezier(x1, y1, x2, y2) needs 4 numbers (got 0)"),
        ("bezier", (0.1, 0.2, 0.3), "bezier(x1, y1, x2, y2) needs 4 numbers (got 3)"),
        ("bezier", (2, 0, 0.5, 1), "bezier x1 must be between 0 and 1 (got 2)"),
    ],
)
def test_get_easing_bad_arguments_are_value_errors(name, args, message):
    with pytest.raises(ValueError) as info:
        get_easing(name, args)
    assert str(info.value).startswith(message)
