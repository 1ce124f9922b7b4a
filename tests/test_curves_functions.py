"""Built-in functions: the registry, arities, values, and the one error they may raise.

The policy under test: for any numbers at all, a built-in returns a finite float or raises
`CurveMathError` with a readable sentence, never another exception, never inf or NaN.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kscript.curves import CONSTANTS, FUNCTIONS, Builtin, CurveMathError
from kscript.curves import functions as F
from kscript.curves.functions import call

ARITIES = {
    "sin": (1, 1),
    "cos": (1, 1),
    "tan": (1, 1),
    "abs": (1, 1),
    "min": (2, None),
    "max": (2, None),
    "clamp": (3, 3),
    "lerp": (3, 3),
    "floor": (1, 1),
    "ceil": (1, 1),
    "round": (1, 1),
    "sqrt": (1, 1),
    "exp": (1, 1),
    "log": (1, 2),
    "pow": (2, 2),
    "tri": (1, 1),
    "saw": (1, 1),
    "square": (1, 1),
    "pulse": (2, 2),
    "noise": (1, 2),
}


# ----------------------------------------------------------------------------- the registry


def test_registry_has_exactly_the_language_functions():
    assert set(FUNCTIONS) == set(ARITIES)


@pytest.mark.parametrize("name", sorted(ARITIES))
def test_arities(name):
    b = FUNCTIONS[name]
    assert (b.min_args, b.max_args) == ARITIES[name]
    assert b.name == name
    assert b.signature.startswith(f"{name}(")
    assert b.doc and "\n" not in b.doc


def test_builtin_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        FUNCTIONS["sin"].name = "cos"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "text", "yes", "no"),
    [
        ("sin", "1 argument", [1], [0, 2]),
        ("pow", "2 arguments", [2], [1, 3]),
        ("log", "1 or 2 arguments", [1, 2], [0, 3]),
        ("max", "2 or more arguments", [2, 3, 10], [0, 1]),
        ("clamp", "3 arguments", [3], [2, 4]),
    ],
)
def test_arity_in_words_and_accepts(name, text, yes, no):
    b = FUNCTIONS[name]
    assert b.arity_text() == text
    assert all(b.accepts(n) for n in yes)
    assert not any(b.accepts(n) for n in no)


def test_arity_text_for_a_wider_range():
    assert Builtin("f", 1, 4, abs, "").arity_text() == "1 to 4 arguments"


def test_call_checks_the_number_of_arguments():
    with pytest.raises(CurveMathError, match=r"^clamp\(x, lo, hi\) takes 3 arguments \(got 2\)$"):
        call("clamp", (1.0, 2.0))
    with pytest.raises(KeyError):
        call("sine", (1.0,))


def test_constants():
    assert CONSTANTS == {"pi": math.pi, "e": math.e}


# ----------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("sin", (math.pi / 2,), 1.0),
        ("cos", (0.0,), 1.0),
        ("tan", (math.pi / 4,), 1.0),
        ("abs", (-2.5,), 2.5),
        ("min", (3.0, -1.0, 2.0), -1.0),
        ("max", (3.0, -1.0, 2.0), 3.0),
        ("clamp", (5.0, 0.0, 1.0), 1.0),
        ("clamp", (-5.0, 0.0, 1.0), 0.0),
        ("clamp", (0.25, 0.0, 1.0), 0.25),
        ("clamp", (7.0, 2.0, 2.0), 2.0),
        ("lerp", (2.0, 4.0, 0.5), 3.0),
        ("lerp", (2.0, 4.0, 1.5), 5.0),  # t is not clamped
        ("floor", (-1.5,), -2.0),
        ("ceil", (-1.5,), -1.0),
        ("round", (2.5,), 3.0),
        ("round", (-2.5,), -3.0),
        ("round", (0.49999999999999994,), 0.0),
        ("round", (1.4,), 1.0),
        ("sqrt", (9.0,), 3.0),
        ("sqrt", (0.0,), 0.0),
        ("exp", (0.0,), 1.0),
        ("log", (math.e,), 1.0),
        ("log", (8.0, 2.0), 3.0),
        ("log", (0.01, 10.0), -2.0),
        ("pow", (2.0, 10.0), 1024.0),
        ("pow", (-2.0, 3.0), -8.0),
        ("pow", (0.0, 0.0), 1.0),
        ("pow", (4.0, 0.5), 2.0),
        ("tri", (0.25,), 1.0),
        ("saw", (0.5,), 0.0),
        ("square", (0.75,), -1.0),
        ("pulse", (0.1, 0.25), 1.0),
    ],
)
def test_values(name, args, expected):
    result = call(name, args)
    assert type(result) is float
    assert result == pytest.approx(expected, abs=1e-12)


@given(a=st.floats(-1e6, 1e6), b=st.floats(-1e6, 1e6))
def test_lerp_lands_exactly_on_its_ends(a, b):
    assert F.FUNCTIONS["lerp"].fn(a, b, 0.0) == a
    assert F.FUNCTIONS["lerp"].fn(a, b, 1.0) == b


@given(x=st.floats(-1e12, 1e12))
def test_round_goes_to_a_nearest_whole_number(x):
    r = call("round", (x,))
    assert r.is_integer() and abs(r - x) <= 0.5
    assert call("round", (-x,)) == -r or r == 0.0


def test_results_are_floats_not_ints():
    for name, args in [("floor", (2.7,)), ("ceil", (2.1,)), ("round", (2.2,)), ("min", (1, 2)), ("clamp", (1, 0, 3))]:
        assert type(call(name, args)) is float, name


# ----------------------------------------------------------------------------- errors for people


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("sqrt", (-1.0,), "sqrt of a negative number (-1)"),
        ("sqrt", (-0.25,), "sqrt of a negative number (-0.25)"),
        ("log", (0.0,), "log of zero (it goes to minus infinity)"),
        ("log", (-2.0,), "log of a negative number (-2)"),
        ("log", (8.0, 1.0), "log base must be positive and not 1 (got 1)"),
        ("log", (8.0, -2.0), "log base must be positive and not 1 (got -2)"),
        ("exp", (1000.0,), "exp(1000) is too large to represent (exp works up to about 709)"),
        ("pow", (10.0, 400.0), "pow(10, 400) is too large to represent"),
        ("pow", (0.0, -1.0), "pow(0, -1): zero to a negative power is infinite"),
        ("pow", (-8.0, 0.5), "pow(-8, 0.5): a negative number to a fractional power is not a real number"),
        ("clamp", (0.5, 2.0, 1.0), "clamp's lower bound 2 is above its upper bound 1"),
        ("lerp", (1e308, -1e308, 2.0), "lerp(1e+308, -1e+308, 2) is too large to represent"),
        ("sin", (math.inf,), "sin of a value that is not finite (infinity)"),
        ("abs", (-math.inf,), "abs of a value that is not finite (-infinity)"),
        ("floor", (math.nan,), "floor of a value that is not finite (not a number)"),
        ("max", (1.0, math.nan), "max of a value that is not finite (not a number)"),
        ("tri", (math.inf,), "tri of a value that is not finite (infinity)"),
        ("noise", (1.0, math.inf), "noise of a value that is not finite (infinity)"),
    ],
)
def test_domain_errors_are_readable(name, args, message):
    with pytest.raises(CurveMathError) as info:
        call(name, args)
    assert str(info.value) == message


def test_curve_math_error_is_a_value_error():
    assert issubclass(CurveMathError, ValueError)


def test_tan_near_a_pole_is_large_not_an_error():
    assert abs(call("tan", (math.pi / 2,))) > 1e15


any_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 709.8, 1e308, -1e308, 5e-324]),
)


@pytest.mark.parametrize("name", sorted(ARITIES))
@given(data=st.data())
def test_only_finite_floats_or_curve_math_errors(name, data):
    b = FUNCTIONS[name]
    count = data.draw(st.integers(b.min_args, b.max_args if b.max_args is not None else b.min_args + 3))
    args = data.draw(st.lists(any_number, min_size=count, max_size=count))
    try:
        result = b.fn(*args)
    except CurveMathError as err:
        assert str(err) and "Traceback" not in str(err)
        return
    assert type(result) is float
    assert math.isfinite(result)
