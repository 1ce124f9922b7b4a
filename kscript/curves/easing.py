"""Easing functions: how a value travels from one key to the next.

An easing maps progress through a segment, a number in [0, 1], to how far the value has
gone, also 0 at the start and 1 at the end. The compiler evaluates
``start + (end - start) * easing(progress)`` per frame and per channel, so these are plain
functions of one float using only `math` (no numpy: the compiler stays light, and a film
of 50 000 frames calls them millions of times).

Every easing here holds these promises, which the property tests check:

* ``e(0) == 0.0`` and ``e(1) == 1.0`` exactly, and the input is clamped to [0, 1]
  (a NaN counts as 0), so a keyframe lands on its value to the last bit;
* every value is finite;
* the ``back`` and ``elastic`` families overshoot (go below 0 or above 1) in between, and
  ``bounce`` turns back on itself; every other named easing is monotone non-decreasing.

The families follow https://easings.net (Robert Penner's equations) with one change:
``expo`` and the envelope of ``elastic`` are rescaled so they are continuous at their ends
(easings.net's jump by up to 2**-10 at 0 and 1; ours differ from theirs by less than 0.001
anywhere).

Names: ``EASINGS`` is the registry of named easings (``ease_in_out_sine`` …), ``bezier``
builds a CSS ``cubic-bezier`` easing, ``get_easing(name, args)`` is the one front door the
compiler uses, and ``EASING_DOCS`` has one line per name for listings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from bisect import bisect_right
from functools import lru_cache

__all__ = [
    "Easing",
    "EASINGS",
    "EASING_DOCS",
    "OVERSHOOTING",
    "PARAMETRIC_EASINGS",
    "bezier",
    "easing_names",
    "get_easing",
    "reverse",
    "in_out",
]

Easing = Callable[[float], float]

_HALF_PI = math.pi / 2.0

# Each function below clamps its own input in its first two lines instead of being wrapped
# by a decorator: a wrapper doubles the cost of a call, and these run per frame per channel.


# ----------------------------------------------------------------------------- basic


def linear(x: float) -> float:
    """Constant speed from start to end."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    return x


def step(x: float) -> float:
    """Hold the start value, jump to the end value at the segment's very end (0 for x < 1, 1 at x = 1)."""
    return 1.0 if x >= 1.0 else 0.0


# ----------------------------------------------------------------------------- sine


def ease_in_sine(x: float) -> float:
    """Start slowly, speed up along a quarter sine wave (gentlest of the eases)."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    return 1.0 - math.cos(x * _HALF_PI)


def ease_out_sine(x: float) -> float:
    """Start at speed, settle gently along a quarter sine wave."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    return math.sin(x * _HALF_PI)


def ease_in_out_sine(x: float) -> float:
    """Slow at both ends along half a cosine wave; the smoothest gentle S-curve."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    return (1.0 - math.cos(math.pi * x)) / 2.0


# ----------------------------------------------------------------------------- powers


def ease_in_quad(x: float) -> float:
    """Start slowly, accelerate: x squared."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    return x * x


def ease_out_quad(x: float) -> float:
    """Start at speed, decelerate: the mirror of ease_in_quad."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    y = 1.0 - x
    return 1.0 - y * y


def ease_in_out_quad(x: float) -> float:
    """Accelerate through the first half, decelerate through the second (quadratic)."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x < 0.5:
        return 2.0 * x * x
    y = 2.0 - 2.0 * x
    return 1.0 - y * y / 2.0


def ease_in_cubic(x: float) -> float:
    """Start slowly, accelerate: x cubed."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    return x * x * x


def ease_out_cubic(x: float) -> float:
    """Start at speed, decelerate: the mirror of ease_in_cubic."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    y = 1.0 - x
    return 1.0 - y * y * y


def ease_in_out_cubic(x: float) -> float:
    """Accelerate through the first half, decelerate through the second (cubic)."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x < 0.5:
        return 4.0 * x * x * x
    y = 2.0 - 2.0 * x
    return 1.0 - y * y * y / 2.0


def ease_in_quart(x: float) -> float:
    """Start slowly, accelerate hard: x to the fourth."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    y = x * x
    return y * y


def ease_out_quart(x: float) -> float:
    """Start fast, brake hard: the mirror of ease_in_quart."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    y = 1.0 - x
    y *= y
    return 1.0 - y * y


def ease_in_out_quart(x: float) -> float:
    """Accelerate, then decelerate, with a steeper middle than cubic (quartic)."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x < 0.5:
        y = x * x
        return 8.0 * y * y
    y = 2.0 - 2.0 * x
    y *= y
    return 1.0 - y * y / 2.0


def ease_in_quint(x: float) -> float:
    """Start very slowly, accelerate very hard: x to the fifth."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    y = x * x
    return y * y * x


def ease_out_quint(x: float) -> float:
    """Start very fast, brake very hard: the mirror of ease_in_quint."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    z = 1.0 - x
    y = z * z
    return 1.0 - y * y * z


def ease_in_out_quint(x: float) -> float:
    """Accelerate, then decelerate, with a very steep middle (quintic)."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x < 0.5:
        y = x * x
        return 16.0 * y * y * x
    z = 2.0 - 2.0 * x
    y = z * z
    return 1.0 - y * y * z / 2.0


# ----------------------------------------------------------------------------- expo

# easings.net's expo is 2**(10x - 10), which is 2**-10 (not 0) at x = 0. Rescaling by the
# constants below makes it start at exactly 0 and end at exactly 1 without a jump.
_EXPO_LOW = 2.0**-10
_EXPO_SCALE = 1.0 / (1.0 - _EXPO_LOW)


def ease_in_expo(x: float) -> float:
    """Almost still, then a sudden exponential rush at the end (2 to the power 10x, rescaled)."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    return (2.0 ** (10.0 * x - 10.0) - _EXPO_LOW) * _EXPO_SCALE


def ease_out_expo(x: float) -> float:
    """A sudden exponential rush at the start, then almost still: the mirror of ease_in_expo."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    return (1.0 - 2.0 ** (-10.0 * x)) * _EXPO_SCALE


def ease_in_out_expo(x: float) -> float:
    """Almost still at both ends with an exponential rush through the middle."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x < 0.5:
        return (2.0 ** (20.0 * x - 10.0) - _EXPO_LOW) * _EXPO_SCALE / 2.0
    return 1.0 - (2.0 ** (10.0 - 20.0 * x) - _EXPO_LOW) * _EXPO_SCALE / 2.0


# ----------------------------------------------------------------------------- circ


def ease_in_circ(x: float) -> float:
    """Slow start, steep finish along a quarter circle."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    return 1.0 - math.sqrt(1.0 - x * x)


def ease_out_circ(x: float) -> float:
    """Steep start, slow finish along a quarter circle."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    y = 1.0 - x
    return math.sqrt(1.0 - y * y)


def ease_in_out_circ(x: float) -> float:
    """Two quarter circles: slow ends, a near-vertical middle."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x < 0.5:
        y = 2.0 * x
        return (1.0 - math.sqrt(1.0 - y * y)) / 2.0
    y = 2.0 - 2.0 * x
    return (1.0 + math.sqrt(1.0 - y * y)) / 2.0


# ----------------------------------------------------------------------------- back

_BACK = 1.70158  # Penner's constant: about 10% overshoot
_BACK3 = _BACK + 1.0
_BACK_IO = _BACK * 1.525


def ease_in_back(x: float) -> float:
    """Pull back a little (about 10% below the start), then go (overshoots)."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    return _BACK3 * x * x * x - _BACK * x * x


def ease_out_back(x: float) -> float:
    """Go past the end by about 10%, then settle back onto it (overshoots)."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    y = x - 1.0
    return 1.0 + _BACK3 * y * y * y + _BACK * y * y


def ease_in_out_back(x: float) -> float:
    """Pull back at the start and overshoot at the end, about 10% each (overshoots)."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x < 0.5:
        y = 2.0 * x
        return y * y * ((_BACK_IO + 1.0) * y - _BACK_IO) / 2.0
    y = 2.0 * x - 2.0
    return (y * y * ((_BACK_IO + 1.0) * y + _BACK_IO) + 2.0) / 2.0


# ----------------------------------------------------------------------------- elastic

# The wobble's envelope is expo's, rescaled the same way so that it starts from exactly
# zero: easings.net's elastic jumps by up to 2**-11 at its ends.
_ELASTIC = 2.0 * math.pi / 3.0
_ELASTIC_IO = 2.0 * math.pi / 4.5


def ease_in_elastic(x: float) -> float:
    """Wind up with growing springy wobbles around the start, then snap to the end (overshoots)."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    amplitude = (2.0 ** (10.0 * x - 10.0) - _EXPO_LOW) * _EXPO_SCALE
    return -amplitude * math.sin((10.0 * x - 10.75) * _ELASTIC)


def ease_out_elastic(x: float) -> float:
    """Snap past the end, then wobble onto it like a spring (overshoots)."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    amplitude = (2.0 ** (-10.0 * x) - _EXPO_LOW) * _EXPO_SCALE
    return amplitude * math.sin((10.0 * x - 0.75) * _ELASTIC) + 1.0


def ease_in_out_elastic(x: float) -> float:
    """Springy wobbles at both ends around a fast middle (overshoots)."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    s = math.sin((20.0 * x - 11.125) * _ELASTIC_IO)
    if x < 0.5:
        return -(2.0 ** (20.0 * x - 10.0) - _EXPO_LOW) * _EXPO_SCALE * s / 2.0
    return (2.0 ** (10.0 - 20.0 * x) - _EXPO_LOW) * _EXPO_SCALE * s / 2.0 + 1.0


# ----------------------------------------------------------------------------- bounce

_BOUNCE_N = 7.5625
_BOUNCE_D = 2.75


def _bounce_out(x: float) -> float:
    # Four parabolic arcs, each touching 1, of shrinking height (Penner's bounce).
    if x < 1.0 / _BOUNCE_D:
        return _BOUNCE_N * x * x
    if x < 2.0 / _BOUNCE_D:
        x -= 1.5 / _BOUNCE_D
        return _BOUNCE_N * x * x + 0.75
    if x < 2.5 / _BOUNCE_D:
        x -= 2.25 / _BOUNCE_D
        return _BOUNCE_N * x * x + 0.9375
    x -= 2.625 / _BOUNCE_D
    return _BOUNCE_N * x * x + 0.984375


def ease_in_bounce(x: float) -> float:
    """Small hops off the start that grow until the value leaves for the end (stays within 0..1)."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    return 1.0 - _bounce_out(1.0 - x)


def ease_out_bounce(x: float) -> float:
    """Fall onto the end and bounce on it a few times, like a dropped ball (stays within 0..1)."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    return _bounce_out(x)


def ease_in_out_bounce(x: float) -> float:
    """Bounce off the start, then bounce onto the end (stays within 0..1)."""
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x < 0.5:
        return (1.0 - _bounce_out(1.0 - 2.0 * x)) / 2.0
    return (1.0 + _bounce_out(2.0 * x - 1.0)) / 2.0


# ----------------------------------------------------------------------------- the short names


def ease_in(x: float) -> float:
    """Start slowly and accelerate (the same curve as ease_in_cubic)."""
    return ease_in_cubic(x)


def ease_out(x: float) -> float:
    """Start at speed and decelerate (the same curve as ease_out_cubic)."""
    return ease_out_cubic(x)


def ease_in_out(x: float) -> float:
    """Slow at both ends, fastest in the middle (the same curve as ease_in_out_cubic)."""
    return ease_in_out_cubic(x)


# The registry maps the short names straight to the cubic functions (one call, not two);
# the wrappers above exist for their docstrings and for direct use.


# ----------------------------------------------------------------------------- combinators


def reverse(easing: Easing) -> Easing:
    """The mirror image of an easing: ``reverse(ease_in_quad)`` is ``ease_out_quad``.

    Returns ``x -> 1 - easing(1 - x)``, so what was slow at the start is slow at the end.
    Endpoints stay exact because the wrapped easing's are.
    """

    def reversed_easing(x: float) -> float:
        if not x > 0.0:
            return 0.0
        if x >= 1.0:
            return 1.0
        return 1.0 - easing(1.0 - x)

    return reversed_easing


def in_out(easing: Easing) -> Easing:
    """Run an ``ease_in`` curve over the first half and its mirror over the second.

    ``in_out(ease_in_quad)`` is ``ease_in_out_quad``; the result passes through 0.5 at 0.5
    and is symmetric: ``e(1 - x) == 1 - e(x)``.
    """

    def in_out_easing(x: float) -> float:
        if not x > 0.0:
            return 0.0
        if x >= 1.0:
            return 1.0
        if x < 0.5:
            return easing(2.0 * x) / 2.0
        return 1.0 - easing(2.0 - 2.0 * x) / 2.0

    return in_out_easing


# ----------------------------------------------------------------------------- bezier


def _check_bezier_args(x1: float, y1: float, x2: float, y2: float) -> tuple[float, float, float, float]:
    values = []
    for label, v in (("x1", x1), ("y1", y1), ("x2", x2), ("y2", y2)):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"bezier {label} must be a number (got {v!r})")
        v = float(v)
        if not math.isfinite(v):
            raise ValueError(f"bezier {label} must be a finite number (got {v})")
        values.append(v)
    for label, v in (("x1", values[0]), ("x2", values[2])):
        if not 0.0 <= v <= 1.0:
            raise ValueError(
                f"bezier {label} must be between 0 and 1 (got {v:g}): the x coordinates are time, "
                "and time cannot run backwards; only y1 and y2 may leave 0..1"
            )
    return values[0], values[1], values[2], values[3]


_BEZIER_SAMPLES = 10


@lru_cache(maxsize=256)
def _bezier(x1: float, y1: float, x2: float, y2: float) -> Easing:
    if x1 == y1 and x2 == y2:
        return linear  # control points on the diagonal: the curve is the diagonal

    # x(t) and y(t) as polynomials a t^3 + b t^2 + c t (the end points are (0,0) and (1,1)).
    cx = 3.0 * x1
    bx = 3.0 * (x2 - x1) - cx
    ax = 1.0 - cx - bx
    cy = 3.0 * y1
    by = 3.0 * (y2 - y1) - cy
    ay = 1.0 - cy - by

    # x at eleven evenly spaced t: a first guess for t by table lookup, so that Newton
    # starts close and usually needs one or two steps (the trick of the bezier-easing
    # library behind most CSS implementations).
    samples = [((ax * t + bx) * t + cx) * t for t in (i / _BEZIER_SAMPLES for i in range(_BEZIER_SAMPLES + 1))]

    def curve(p: float) -> float:
        if not p > 0.0:
            return 0.0
        if p >= 1.0:
            return 1.0
        i = bisect_right(samples, p) - 1  # samples[i] <= p < samples[i + 1]
        if i >= _BEZIER_SAMPLES:
            i = _BEZIER_SAMPLES - 1
        x0 = samples[i]
        span = samples[i + 1] - x0
        lo = i / _BEZIER_SAMPLES
        hi = (i + 1) / _BEZIER_SAMPLES
        t = lo + (p - x0) / span / _BEZIER_SAMPLES if span > 0.0 else lo
        # Newton for x(t) = p; where the slope is flat (x1 or x2 at 0 or 1, or an
        # inflection) bisection inside [lo, hi] takes over, which always works because
        # x(t) is non-decreasing when x1 and x2 are in [0, 1].
        for _ in range(6):
            err = ((ax * t + bx) * t + cx) * t - p
            if -1e-12 < err < 1e-12:
                return ((ay * t + by) * t + cy) * t
            slope = (3.0 * ax * t + 2.0 * bx) * t + cx
            if -1e-6 < slope < 1e-6:
                break
            t -= err / slope
            if not lo <= t <= hi:
                break
        t = (lo + hi) / 2.0
        for _ in range(60):
            x = ((ax * t + bx) * t + cx) * t
            if -1e-12 < x - p < 1e-12:
                break
            if x < p:
                lo = t
            else:
                hi = t
            t = (lo + hi) / 2.0
        return ((ay * t + by) * t + cy) * t

    return curve


def bezier(x1: float, y1: float, x2: float, y2: float) -> Easing:
    """A CSS ``cubic-bezier(x1, y1, x2, y2)`` easing.

    The curve runs from (0, 0) to (1, 1) with control points (x1, y1) and (x2, y2); x is
    progress in time, y is progress of the value. ``bezier(0.42, 0, 0.58, 1)`` is CSS's
    ``ease-in-out``; ``bezier(0.25, 0.1, 0.25, 1)`` is CSS's ``ease``. y1 and y2 may leave
    [0, 1] to overshoot.

    Args:
        x1, y1, x2, y2: the two control points; x1 and x2 must lie in [0, 1] so that the
            curve is a function of time.

    Returns:
        An easing with exact endpoints, accurate to about 1e-12 in x.

    Raises:
        ValueError: x1 or x2 outside [0, 1], or an argument that is not a finite number,
            with a message that says which and why.
    """
    return _bezier(*_check_bezier_args(x1, y1, x2, y2))


# ----------------------------------------------------------------------------- registry

EASINGS: dict[str, Easing] = {
    "linear": linear,
    "step": step,
    "ease_in": ease_in_cubic,
    "ease_out": ease_out_cubic,
    "ease_in_out": ease_in_out_cubic,
}
for _family in ("sine", "quad", "cubic", "quart", "quint", "expo", "circ", "back", "elastic", "bounce"):
    for _kind in ("in", "out", "in_out"):
        _name = f"ease_{_kind}_{_family}"
        EASINGS[_name] = globals()[_name]
del _family, _kind, _name

_SHORT = {"ease_in": ease_in, "ease_out": ease_out, "ease_in_out": ease_in_out}

EASING_DOCS: dict[str, str] = {
    name: (_SHORT.get(name, fn).__doc__ or "").strip().splitlines()[0] for name, fn in EASINGS.items()
}
EASING_DOCS["bezier"] = (
    "bezier(x1, y1, x2, y2): a CSS cubic-bezier curve with control points (x1, y1), (x2, y2); x1, x2 in 0..1."
)

#: Easings that take arguments: name -> (number of arguments, signature for messages).
PARAMETRIC_EASINGS: dict[str, tuple[int, str]] = {"bezier": (4, "bezier(x1, y1, x2, y2)")}

#: Named easings that may leave [0, 1] between the ends.
OVERSHOOTING: frozenset[str] = frozenset(
    f"ease_{kind}_{family}" for family in ("back", "elastic") for kind in ("in", "out", "in_out")
)


def easing_names() -> list[str]:
    """Every name an easing may have in a script, sorted: the named ones and ``bezier``."""
    return sorted([*EASINGS, *PARAMETRIC_EASINGS])


def get_easing(name: str, args: Sequence[float] = ()) -> Easing:
    """Look up an easing by the name (and arguments) written in a script.

    Args:
        name: ``"ease_in_out_sine"``, ``"bezier"``, ….
        args: the numbers in parentheses after the name; empty for named easings, four for
            ``bezier``.

    Returns:
        The easing function.

    Raises:
        KeyError: no easing has that name (the checker turns it into a diagnostic with
            "did you mean", using `easing_names()`).
        ValueError: wrong number of arguments, or arguments outside their range; the
            message is a sentence for the script's author.
    """
    args = tuple(args)
    fn = EASINGS.get(name)
    if fn is not None:
        if args:
            raise ValueError(f"easing '{name}' takes no arguments (got {len(args)})")
        return fn
    if name == "bezier":
        count, signature = PARAMETRIC_EASINGS[name]
        if len(args) != count:
            raise ValueError(f"{signature} needs {count} numbers (got {len(args)})")
        return bezier(*args)
    raise KeyError(name)
