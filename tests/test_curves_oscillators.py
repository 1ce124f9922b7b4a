"""Oscillators: period 1, documented ranges, in step with sin(2*pi*x); noise fixed forever."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kscript.curves.errors import CurveMathError
from kscript.curves.oscillators import _SNAP_ULPS, lattice_value, noise, pulse, saw, square, tri

x_values = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False)
small_steps = st.floats(min_value=0.0, max_value=1e-3, allow_nan=False)
widths = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


def _distance_to(x: float, jumps: tuple[float, ...]) -> float:
    p = x - math.floor(x)
    return min(min(abs(p - j), abs(p - j - 1.0), abs(p - j + 1.0)) for j in jumps)


# ----------------------------------------------------------------------------- period 1


@given(x=x_values)
def test_tri_is_periodic(x):
    assert tri(x + 1.0) == pytest.approx(tri(x), abs=1e-9)
    assert tri(x - 3.0) == pytest.approx(tri(x), abs=1e-9)


@given(x=x_values)
def test_saw_and_square_are_periodic_away_from_their_jumps(x):
    # At a jump, x + 1 may round to the other side of it; that is float rounding, not period.
    assume(_distance_to(x, (0.0, 0.5)) > 1e-6)
    assert saw(x + 1.0) == pytest.approx(saw(x), abs=1e-9)
    assert square(x + 1.0) == square(x)


@given(x=x_values, w=widths)
def test_pulse_is_periodic_away_from_its_edges(x, w):
    assume(_distance_to(x, (0.0, w)) > 1e-6)
    assert pulse(x + 1.0, w) == pulse(x, w)


# ----------------------------------------------------------------------------- ranges


@given(x=x_values)
def test_ranges_hold(x):
    assert -1.0 <= tri(x) <= 1.0
    assert -1.0 <= saw(x) < 1.0
    assert square(x) in (-1.0, 1.0)
    assert pulse(x, 0.3) in (0.0, 1.0)
    assert -1.0 <= noise(x) <= 1.0


@given(x=st.floats(min_value=-1e15, max_value=1e15, allow_nan=False))
def test_ranges_hold_far_from_zero(x):
    assert -1.0 <= tri(x) <= 1.0
    assert -1.0 <= saw(x) < 1.0
    assert -1.0 <= noise(x) <= 1.0


@given(x=x_values)
def test_tri_has_the_sign_of_sin(x):
    s = math.sin(2.0 * math.pi * x)
    assume(abs(s) > 1e-6)
    assert (tri(x) > 0) == (s > 0)


@given(x=x_values)
def test_square_is_the_sign_of_tri_and_of_sin(x):
    assume(_distance_to(x, (0.0, 0.5)) > 1e-6)
    assert square(x) == (1.0 if tri(x) > 0 else -1.0)
    assert square(x) == (1.0 if math.sin(2.0 * math.pi * x) > 0 else -1.0)


@given(x=x_values)
def test_saw_plus_one_over_two_is_the_fraction_of_the_period(x):
    fraction = x - math.floor(x)
    # -1e-300 is at the start of a period, and so is a hair (_SNAP_ULPS ulps) below a whole number.
    fraction = 0.0 if fraction >= 1.0 - _SNAP_ULPS * math.ulp(x) else fraction
    assert (saw(x) + 1.0) / 2.0 == pytest.approx(fraction, abs=1e-9)


# ----------------------------------------------------------------------------- known values


@pytest.mark.parametrize(
    ("x", "expected"), [(0.0, 0.0), (0.125, 0.5), (0.25, 1.0), (0.5, 0.0), (0.75, -1.0), (1.0, 0.0), (-0.25, -1.0)]
)
def test_tri_values(x, expected):
    assert tri(x) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize(
    ("x", "expected"), [(0.0, -1.0), (0.25, -0.5), (0.5, 0.0), (0.75, 0.5), (1.0, -1.0), (-0.5, 0.0)]
)
def test_saw_values(x, expected):
    assert saw(x) == expected


@pytest.mark.parametrize(
    ("x", "expected"), [(0.0, 1.0), (0.49, 1.0), (0.5, -1.0), (0.99, -1.0), (1.0, 1.0), (-0.25, -1.0)]
)
def test_square_values(x, expected):
    assert square(x) == expected


@pytest.mark.parametrize(
    ("x", "width", "expected"),
    [
        (0.1, 0.2, 1.0),
        (0.2, 0.2, 0.0),  # the edge belongs to the part that starts there
        (0.3, 0.2, 0.0),
        (1.1, 0.2, 1.0),
        (0.5, 0.0, 0.0),  # width 0: never on
        (0.999, 1.0, 1.0),  # width 1: always on
        (0.4, 7.0, 1.0),  # widths beyond 0..1 saturate
        (0.0, -1.0, 0.0),
    ],
)
def test_pulse_values(x, width, expected):
    assert pulse(x, width) == expected


def test_tiny_negative_x_is_the_start_of_a_period_not_its_end():
    # x - floor(x) rounds to 1.0 for x = -1e-20; the phase must still be 0.
    assert saw(-1e-20) == -1.0
    assert tri(-1e-20) == pytest.approx(0.0, abs=1e-15)
    assert square(-1e-20) == 1.0


# ----------------------------------------------------------------------------- jumps land on their frame
# A script times a wave by seconds or frames; its jumps must fall on the frame they name,
# although f / fps / period rounds (1.1 and 3.3 have no exact binary value). Frames are
# computed the way the compiler does: t = f / fps, then t / period.

fps_values = st.integers(min_value=1, max_value=240)
frames_per_period = st.integers(min_value=1, max_value=400)


def _x(f: int, fps: int, period_frames: int, as_written: bool) -> float:
    """x = t / period on frame f; the period written in seconds (`1.1s`) or in frames (`11f`)."""
    period = float(f"{period_frames / fps:.15g}") if as_written else period_frames / fps
    return (f / fps) / period


@settings(deadline=None)
@given(fps=fps_values, n=frames_per_period, periods=st.integers(1, 60), as_written=st.booleans())
def test_saw_is_minus_one_on_every_frame_that_starts_a_period(fps, n, periods, as_written):
    assume(n / fps == float(f"{n / fps:.15g}") or not as_written)  # a period a script can write exactly
    for k in range(periods):
        assert saw(_x(k * n, fps, n, as_written)) == -1.0
        if n > 1:  # the frame before a jump is the top of the ramp, never past it
            assert saw(_x(k * n + n - 1, fps, n, as_written)) == pytest.approx(1.0 - 2.0 / n, abs=1e-9)


@settings(deadline=None)  # a few thousand calls per example: slow on a loaded machine, not hung
@given(fps=fps_values, n=frames_per_period, data=st.data())
def test_pulse_is_on_for_the_same_frames_in_every_period(fps, n, data):
    """pulse(t / P, m / n) with a period of n frames is on for exactly m frames, every period."""
    m = data.draw(st.integers(0, n))
    width = m / n
    for k in (0, 1, 2, 7, 29, 1000):
        on = [pulse(_x(k * n + i, fps, n, False), width) for i in range(n)]
        assert on == [1.0] * m + [0.0] * (n - m), (k, on)


@settings(deadline=None)
@given(fps=fps_values, half=st.integers(1, 200))
def test_square_turns_on_the_frame_of_each_half_period(fps, half):
    n = 2 * half
    for k in (0, 1, 2, 7, 19, 1000):
        values = [square(_x(k * n + i, fps, n, False)) for i in range(n)]
        assert values == [1.0] * half + [-1.0] * half


def test_the_issue_cases():
    """saw(t / 1.1s) at 10 fps on frames 33 and 66; pulse(t / 1s, 0.2) at 10 fps, 10 seconds."""
    assert [saw((f / 10) / 1.1) for f in (0, 11, 22, 33, 44, 55, 66, 77)] == [-1.0] * 8
    per_second = [sum(pulse((f / 10) / 1.0, 0.2) for f in range(s * 10, s * 10 + 10)) for s in range(10)]
    assert per_second == [2.0] * 10


def test_the_issue_cases_through_the_language():
    from kscript.compile import compile_source

    plan = compile_source(
        'film "j" {\n  size: 64x64\n  fps: 10\n}\n'
        'scene s 10s {\n  prompt "p"\n  strength: 0.3 + 0.2 * pulse(t / 1s, 0.2)\n  guidance: 5 + saw(t / 1.1s)\n}\n'
    )
    on = [fr.scene_frame for fr in plan.frames if fr.strength == 0.5]
    assert on == [f for s in range(10) for f in (s * 10, s * 10 + 1)]
    assert [plan.frames[f].guidance for f in (33, 66, 99)] == [4.0, 4.0, 4.0]


@given(x=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), d=st.floats(min_value=1e-7, max_value=0.5))
def test_the_snap_never_moves_a_value_that_is_not_at_a_jump(x, d):
    """Away from a jump (further than a billionth of a period) the waves are the plain formula."""
    assume(_distance_to(x, (0.0, 0.5, d)) > 1e-9)
    p = x - math.floor(x)
    assert saw(x) == 2.0 * p - 1.0
    assert square(x) == (1.0 if p < 0.5 else -1.0)
    assert pulse(x, d) == (1.0 if p < d else 0.0)


# ----------------------------------------------------------------------------- noise


def test_noise_at_whole_numbers_is_the_lattice_value():
    for k in range(-50, 50):
        assert noise(float(k)) == lattice_value(k)
        assert noise(k) == lattice_value(k)


def test_noise_is_pinned_forever():
    # Changing noise would silently change every film that uses it (and every cache key):
    # these values are the contract. Recompute them only with a deliberate, announced change.
    assert noise(0.0) == pytest.approx(0.16549932300561743, abs=1e-15)
    assert noise(1.0) == pytest.approx(0.32178253069357154, abs=1e-15)
    assert noise(-1.0) == pytest.approx(0.381154017922132, abs=1e-15)
    assert noise(2.5) == pytest.approx(-0.09671043391425271, abs=1e-15)
    assert noise(3.0, 1) == pytest.approx(-0.23091480390035724, abs=1e-15)


def test_noise_is_the_same_in_another_process_with_another_hash_seed():
    code = "from kscript.curves import noise; print(repr([noise(x / 7) for x in range(-20, 20)]))"
    here = repr([noise(x / 7) for x in range(-20, 20)])
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == here


@given(x=x_values, d=small_steps)
def test_noise_is_continuous(x, d):
    # Slope is at most 15/8 (the quintic's) times the largest step between lattice values (2).
    assert abs(noise(x + d) - noise(x)) <= 3.75 * d + 1e-12


@given(x=x_values)
def test_noise_is_deterministic(x):
    first = noise(x)
    lattice_value.cache_clear()  # the cache must not be what makes it repeat
    assert noise(x) == first


def test_noise_joins_are_smooth():
    # Slope at a whole number from either side is ~0 (quintic smoothstep).
    h = 1e-6
    for k in range(-5, 5):
        assert abs(noise(k + h) - noise(k)) < 1e-9
        assert abs(noise(k) - noise(k - h)) < 1e-9


def test_lattice_values_look_random():
    values = [lattice_value(k) for k in range(-5000, 5000)]
    assert all(-1.0 <= v < 1.0 for v in values)
    assert abs(sum(values) / len(values)) < 0.03
    assert min(values) < -0.99 and max(values) > 0.99
    assert len(set(values)) == len(values)
    # Neighbours are unrelated: correlation of v(k) with v(k+1) near zero.
    mean = sum(values) / len(values)
    num = sum((a - mean) * (b - mean) for a, b in zip(values, values[1:]))
    den = sum((a - mean) ** 2 for a in values)
    assert abs(num / den) < 0.05


def test_noise_streams_are_independent():
    a = [noise(k, 0) for k in range(200)]
    b = [noise(k, 1) for k in range(200)]
    assert sum(x == y for x, y in zip(a, b)) == 0
    assert noise(0.5, 2.7) == noise(0.5, 2)  # the stream is a whole number


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("fn", [tri, saw, square, noise])
@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_not_finite_input_is_a_curve_math_error(fn, bad):
    with pytest.raises(CurveMathError, match=r"of a value that is not finite"):
        fn(bad)


def test_pulse_with_a_width_that_is_not_finite_is_an_error():
    with pytest.raises(CurveMathError, match="pulse width is not finite"):
        pulse(0.5, math.nan)
