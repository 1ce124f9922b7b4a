"""The one error the curve functions raise.

Curves are evaluated per frame, long after parsing, so a domain error (the square root of
a negative number, an overflowing `exp`) cannot be caught by looking at the source. Every
built-in function raises exactly this exception with a sentence a person can read; the
compiler catches it and reports it as a diagnostic at the span of the call, with the frame
it happened on. No other exception type ever leaves `kscript.curves` for a numeric input.
"""

from __future__ import annotations

import math


class CurveMathError(ValueError):
    """A built-in function was given a value outside its domain, or its result overflowed.

    The message is written for the person who wrote the expression, e.g.
    ``"sqrt of a negative number (-1)"``; it names the function and the bad value but not
    the source position, which the compiler adds.
    """


def fmt(x: float) -> str:
    """Format a number for an error message: short, no trailing `.0` on whole numbers."""
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    if isinstance(x, float) and not math.isfinite(x):
        return "infinity" if x > 0 else ("-infinity" if x < 0 else "not a number")
    return f"{x:.6g}"
