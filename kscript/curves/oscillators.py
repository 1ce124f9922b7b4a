"""Oscillators: periodic waves and smooth noise for expressions.

Each wave has period 1 in its argument, so a script says how fast it repeats by dividing
time by a duration: ``tri(t / 2s)`` repeats every two seconds, exactly as
``sin(2 * pi * t / 2s)`` does. They are lined up with ``sin(2 * pi * x)`` where that makes
sense, so one can be swapped for the other:

=============  ========  ==========================================================
function       range     one period, x from 0 to 1
=============  ========  ==========================================================
tri(x)         -1 .. 1   0 at 0, rises to 1 at 1/4, falls to -1 at 3/4, back to 0
saw(x)         -1 .. 1   rises linearly from -1 at 0 towards 1, jumps back at 1
square(x)      -1, 1     +1 for the first half, -1 for the second
pulse(x, w)    0, 1      1 for the first fraction w of the period, else 0
noise(x)       -1 .. 1   not periodic: a smooth random wander, new value each 1 of x
=============  ========  ==========================================================

Jumps (saw at whole x, square at whole and half x, pulse at whole x and x = w) take the
value of the part that starts there: ``saw(0) = -1``, ``square(0.5) = -1``. A jump lands
on its frame: an x within a few units in the last place (`_SNAP_ULPS`) of a jump counts
as at the jump. ``t / 1.1s`` on frame 33 of a 10 fps film is 2.9999999999999996, not 3,
since neither 3.3 nor 1.1 has an exact binary value; without the snap, ``saw`` there would
be 0.999999999999999 instead of -1, and ``pulse(t / 1s, 0.2)`` would be on for 3 frames
in some seconds and 2 in others. A real position is never that close to a jump without
being at it: one frame is some 10^13 ulps wide.
``(saw(x) + 1) / 2`` is the fraction of the current period, a 0..1 ramp that restarts.

``noise`` is value noise: each whole number k gets a pseudo-random value in [-1, 1] from
a fixed 64-bit integer hash of k (the splitmix64 finaliser), and between whole numbers the
value glides from one to the next along the quintic smoothstep, so the curve is continuous
with continuous slope and curvature. It is the same on every machine and every run (no
`random`, no Python `hash()`, which is salted per process). ``noise(f)`` with the frame
index gives an independent random value per frame (jitter); ``noise(t * 3)`` a smooth
wander with about three new values a second. ``noise(x, s)`` with a different whole
number ``s`` gives an independent stream, e.g. one for x and one for y.

Every function raises `CurveMathError` for an input that is not finite: a wave has no
value at infinity, and saying so beats a NaN in a render plan.
"""

from __future__ import annotations

import math
from functools import lru_cache

from kscript.curves.errors import CurveMathError, fmt

__all__ = ["tri", "saw", "square", "pulse", "noise", "lattice_value"]

_MASK64 = 0xFFFFFFFFFFFFFFFF
_GOLDEN64 = 0x9E3779B97F4A7C15  # 2**64 / golden ratio: splitmix64's step
_STREAM = 0xD1B54A32D192ED03  # separates noise streams (an odd 64-bit constant)
_SALT = 0x2545F4914F6CDD1D  # keeps k = 0 away from the hash's fixed point mix64(0) = 0


# How close to a jump, in units in the last place of the argument, counts as at the jump:
# `f / fps / period` rounds three times, each at most half an ulp, so 8 leaves room.
_SNAP_ULPS = 8


def _phase(name: str, x: float) -> tuple[float, float]:
    """The fractional part of x in [0, 1), snapped to 0 within the slack of a whole
    number, and that slack (for the wave's other jumps); a readable error for inf/NaN."""
    try:
        p = x - math.floor(x)
    except (OverflowError, ValueError):
        raise CurveMathError(f"{name} of a value that is not finite ({fmt(x)})") from None
    slack = _SNAP_ULPS * math.ulp(x)
    # Just below a whole number is at it. (This also covers x - floor(x) rounding up to
    # 1.0 for tiny negative x: -1e-20 - (-1) == 1.0.)
    if p >= 1.0 - slack or p <= slack:
        return 0.0, slack
    return p, slack


def _before(p: float, edge: float, slack: float) -> bool:
    """Whether phase p is before a jump at `edge`; within `slack` of it is at it."""
    return p < edge - slack


def tri(x: float) -> float:
    """Triangle wave with period 1 in [-1, 1], in step with sin(2*pi*x): 0 at 0, 1 at 1/4, -1 at 3/4."""
    q, _ = _phase("tri", x + 0.25)
    return 1.0 - 4.0 * abs(q - 0.5)


def saw(x: float) -> float:
    """Sawtooth with period 1 in [-1, 1): rises linearly from -1 at each whole x, jumps back at the next."""
    p, _ = _phase("saw", x)
    return 2.0 * p - 1.0


def square(x: float) -> float:
    """Square wave with period 1: +1 for the first half of each period, -1 for the second."""
    p, slack = _phase("square", x)
    return 1.0 if _before(p, 0.5, slack) else -1.0


def pulse(x: float, width: float = 0.5) -> float:
    """Pulse train with period 1: 1 for the first `width` fraction of each period, else 0 (width clamped to 0..1)."""
    p, slack = _phase("pulse", x)
    if not math.isfinite(width):
        raise CurveMathError(f"pulse width is not finite ({fmt(width)})")
    return 1.0 if _before(p, width, slack) else 0.0


def _mix64(z: int) -> int:
    # splitmix64's finaliser: every input bit flips about half of the output bits.
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


@lru_cache(maxsize=8192)
def lattice_value(k: int, stream: int = 0) -> float:
    """The value of ``noise`` at the whole number k: uniform in [-1, 1), fixed forever.

    Cached because neighbouring frames read the same lattice points again and again.
    """
    z = _mix64((((k * _GOLDEN64) ^ _SALT) + stream * _STREAM) & _MASK64)
    return (z >> 11) * (2.0 / 9007199254740992.0) - 1.0  # 53 bits -> [0, 2) -> [-1, 1)


def noise(x: float, stream: float = 0) -> float:
    """Smooth deterministic value noise in [-1, 1]: a hashed random value at each whole x, gliding between them.

    Args:
        x: where to read the noise; one unit of x is one new random value.
        stream: a whole number choosing an independent noise stream (fractions are
            dropped toward minus infinity).
    """
    try:
        k = math.floor(x)
        s = math.floor(stream)
    except (OverflowError, ValueError):
        bad = x if not math.isfinite(x) else stream
        raise CurveMathError(f"noise of a value that is not finite ({fmt(bad)})") from None
    f = x - k
    a = lattice_value(k, s)
    b = lattice_value(k + 1, s)
    # Quintic smoothstep 6f^5 - 15f^4 + 10f^3: slope and curvature both 0 at whole x, so
    # the joins between lattice segments are invisible in camera motion.
    w = f * f * f * (f * (f * 6.0 - 15.0) + 10.0)
    return a + (b - a) * w
