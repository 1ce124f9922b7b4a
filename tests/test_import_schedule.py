"""Deforum's schedules: reading (two dialects), Deforum's interpolation, numexpr maths and
its translation into kscript expressions.

The reference interpolation (`reference_series`) is written from Deforum's documented
behaviour (animation_key_frames.py `get_inbetweens`); these tests pin that behaviour with
values worked out by hand. The translation tests compile the kscript expression and
compare the plan's per-frame values with our evaluator of the numexpr expression.
"""

from __future__ import annotations

import math

import pytest

from kscript.compile import compile_source
from kscript.importers import numexpr_lang as nx
from kscript.importers.schedule import ScheduleError, parse_schedule, reference_series


def series(text: str, frames: int = 10, seed: float = 7, dialect: str = "a1111") -> list[float]:
    return reference_series(parse_schedule("s", text, frames, seed, dialect), frames, seed)  # type: ignore[arg-type]


def close(a: list[float], b: list[float], tol: float = 1e-9) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= tol * (1 + abs(y)) for x, y in zip(a, b))


# ---------------------------------------------------------------- interpolation


def test_number_keys_interpolate_linearly_and_hold_after_the_last():
    assert close(series("0:(0), 4:(2)", 8), [0, 0.5, 1, 1.5, 2, 2, 2, 2])


def test_the_first_key_holds_before_it_and_says_deforum_needs_frame_0():
    sched = parse_schedule("s", "3:(5), 5:(7)", 7, 0)
    assert close(reference_series(sched, 7, 0), [5, 5, 5, 5, 6, 7, 7])
    assert any("frame 0" in n for n in sched.notes)


def test_an_expression_key_is_evaluated_on_every_frame_until_the_next_key():
    # frames 0..3 are t*t; frame 4 is a number key: a jump, then a hold
    assert close(series("0:(t**2), 4:(1)", 6), [0, 1, 4, 9, 1, 1])


def test_a_number_key_ramps_to_the_expression_value_at_the_expressions_key():
    # 0 at frame 0, expression 10*t from frame 4: the ramp aims at 40 (its value at frame 4)
    assert close(series("0:(0), 4:(10*t)", 6), [0, 10, 20, 30, 40, 50])


def test_an_expression_without_t_is_a_constant_that_holds_until_a_jump():
    # `1e1` is not a number to Deforum (its check_is_number), so it is an expression key:
    # it holds up to the next key, which comes in with a jump rather than a ramp
    assert close(series("0:(1e1), 4:(0)", 6), [10, 10, 10, 10, 0, 0])


def test_keys_at_or_past_max_frames_are_dropped():
    sched = parse_schedule("s", "0:(0), 4:(4), 10:(100)", 5, 0)
    assert [k.frame for k in sched.keys] == [0, 4]
    assert any("dropped" in n for n in sched.notes)


def test_frames_may_be_expressions_of_max_f_and_s_quoted_or_not():
    sched = parse_schedule("s", '0:(s), 1:(-1), "max_f-2":(-1), max_f-1:(s)', 10, 3)
    assert [k.frame for k in sched.keys] == [0, 1, 7, 8]  # max_f = 9, the last frame's index
    assert close(reference_series(sched, 10, 3), [3, -1, -1, -1, -1, -1, -1, -1, 3, 3])


def test_a_frame_expression_is_truncated_like_int():
    sched = parse_schedule("s", "0:(0), max_f/2:(1)", 10, 0)  # 9 / 2 = 4.5 -> 4
    assert [k.frame for k in sched.keys] == [0, 4]


def test_nan_frames_are_filled_linearly_from_their_neighbours_as_deforum_does():
    # sqrt(t - 2) is NaN on frames 0, 1: the first valid value (frame 2) holds before it
    assert close(series("0:(sqrt(t-2))", 5), [0, 0, 0, 1, math.sqrt(2)])
    # cos(t)**0.9 is NaN where cos is negative: those frames lie on the line between the
    # last frame before them and the first after
    vals = series("0:(cos(t)**0.9)", 8)
    raw = [math.cos(t) ** 0.9 if math.cos(t) >= 0 else math.nan for t in range(8)]
    assert vals[0] == raw[0] and vals[1] == raw[1] and vals[5] == raw[5]
    a, b = raw[1], raw[5]
    assert close(vals[2:5], [a + (b - a) * k / 4 for k in (1, 2, 3)])


def test_a_later_entry_for_the_same_frame_wins():
    assert series("0:(1), 0:(2)", 2) == [2, 2]


# ---------------------------------------------------------------- dialects


def test_malformed_double_colon_is_read_differently_by_the_two_dialects():
    a = parse_schedule("s", "0: 0: (t*2)", 4, 0, "a1111")
    n = parse_schedule("s", "0: 0: (t*2)", 4, 0, "notebook")
    assert reference_series(a, 4, 0) == [0, 0, 0, 0]  # the extension reads the value '0'
    assert reference_series(n, 4, 0) == [0, 2, 4, 6]  # the notebook finds `0: (t*2)`
    assert any("colons" in note for note in a.notes)


def test_trailing_comma_tolerated_by_both_and_noted_for_the_extension():
    a = parse_schedule("s", "0:(1), 2:(3),", 4, 0, "a1111")
    n = parse_schedule("s", "0:(1), 2:(3),", 4, 0, "notebook")
    assert reference_series(a, 4, 0) == reference_series(n, 4, 0) == [1, 2, 3, 3]
    assert any("trailing" in note for note in a.notes)


def test_the_notebook_reads_whole_frames_only():
    n = parse_schedule("s", "0:(1), max_f:(3)", 4, 0, "notebook")
    assert [k.frame for k in n.keys] == [0]
    assert any("not an entry" in note for note in n.notes)


def test_a_comma_inside_where_is_rejoined_and_noted_for_the_extension():
    sched = parse_schedule("s", "0:(where(t>2, 1, 5))", 5, 0, "a1111")
    assert reference_series(sched, 5, 0) == [5, 5, 5, 1, 1]
    assert any("comma" in note for note in sched.notes)


def test_unknown_names_and_bad_syntax_are_errors():
    with pytest.raises(ScheduleError, match="unknown name 'pi'"):
        parse_schedule("s", "0:(sin(pi*t))", 4, 0)
    with pytest.raises(ScheduleError, match="max_f"):
        parse_schedule("s", "0:(max_f)", 4, 0, "notebook")  # the notebook knows t only
    with pytest.raises(ScheduleError):
        parse_schedule("s", "0:(1 +)", 4, 0)
    with pytest.raises(ScheduleError, match="no entry"):
        parse_schedule("s", "", 4, 0)


# ---------------------------------------------------------------- numexpr maths


@pytest.mark.parametrize(
    "expr, t, want",
    [
        ("2**3**2", 0, 512.0),  # right-associative power
        ("-2**2", 0, -4.0),  # the sign binds looser than **
        ("2**-1", 0, 0.5),
        ("7 % 3 + 7 / 2", 0, 4.5),
        ("-7 % 3", 0, 2.0),  # the sign of the divisor, as numpy
        ("(t > 2) ^ (t > 4)", 3, 1.0),  # ^ is exclusive or
        ("(t > 2) ^ (t > 4)", 5, 0.0),
        ("(t > 2) & (t < 4) | (t == 9)", 9, 1.0),
        ("~(t > 2)", 3, 0.0),
        ("where(t < 2, 10, 20)", 1, 10.0),
        ("arctan2(1, 1)", 0, math.pi / 4),
        ("log10(1000) + log1p(0) + expm1(0)", 0, 3.0),
        ("sinh(1) - cosh(1)", 0, -math.exp(-1)),
        ("floor(2.5) + ceil(2.5) + abs(-1)", 0, 6.0),
        ("sqrt(-1)", 0, math.nan),
        ("log(0)", 0, -math.inf),
        ("1 / 0", 0, math.inf),
    ],
)
def test_numexpr_semantics(expr, t, want):
    v = nx.evaluate(nx.parse(expr), {"t": t})
    if math.isnan(want):
        assert math.isnan(v)
    else:
        assert v == pytest.approx(want)


def test_caret_between_numbers_is_flagged_as_xor_not_power():
    assert any("exclusive or" in m for m in nx.check_logic(nx.parse("t^2")))
    assert nx.check_logic(nx.parse("(t > 1) ^ (t > 2)")) == []


def test_chained_comparisons_like_deforum_users_write_are_errors():
    with pytest.raises(nx.ExprError, match="chained"):
        nx.parse("t > 5 & t < 9")  # Python reads t > (5 & t) < 9


@pytest.mark.parametrize(
    "expr, kscript",
    [
        ("1.0025+0.002*sin(1.25*3.14*t/30)", "1.0025 + 0.002 * sin(1.25 * 3.14 * F / 30)"),
        ("-2**2", "-2 ^ 2"),
        ("(1+t)**0.5", "(1 + F) ^ 0.5"),
        ("where(t>5, 1, 2)*3", "(if F > 5 then 1 else 2) * 3"),
        ("(t>1)&(t<5)", "F > 1 and F < 5"),
        ("log10(t+1)", "log(F + 1, 10)"),
        ("a-(b-c)", "a - (b - c)"),
        (".5*t", "0.5 * F"),
    ],
)
def test_translation_reads_like_kscript(expr, kscript):
    names = {"t": "F", "a": "a", "b": "b", "c": "c"}
    assert nx.to_kscript(nx.parse(expr), names) == kscript


def test_functions_kscript_lacks_are_untranslatable():
    with pytest.raises(nx.Untranslatable, match="arctan"):
        nx.to_kscript(nx.parse("arctan(t)"), {"t": "F"})


TRANSLATED = [
    "10 + 5*sin(t/3)",
    "where((t>3)&(t<7), 20, 10 + t % 4)",
    "10 + 2**(t/4)",
    "30 - abs(t - 5)**1.5",
    "10 + log10(t+1) + log1p(t) + sqrt(t)",
    "10 + sinh(t/10) + cosh(t/10) + expm1(t/10) + arcsinh(t) + arctanh(t/20)",
    "10 + floor(t/3) - ceil(t/4) + exp(-t)",
    "20 + 5*((t > 2) ^ (t > 6)) - 3*~(t > 4)",
    "10 + (t // 3)",
    "10 + cos(t)*tan(t/10)",
]


@pytest.mark.parametrize("expr", TRANSLATED)
def test_translated_expression_gives_the_same_value_on_every_frame(expr):
    """guidance is in the same unit in both, so this checks the translation alone."""
    node = nx.parse(expr)
    text = nx.to_kscript(node, {"t": "F"})
    film = f'film "x" {{ size: 64x64 fps: 10 }}\nscene a 12f {{ prompt "p" guidance: {text} }}\n'
    plan = compile_source(film)
    got = [fr.guidance for fr in plan.frames]
    want = [nx.evaluate(node, {"t": float(f)}) for f in range(12)]
    assert close(got, [round(w, 6) for w in want], 1e-6)
