"""The built-in functions and constants of kscript expressions.

Scripts cannot define functions; every call in an expression names one of `FUNCTIONS`.
The checker uses the registry to resolve names (with "did you mean") and to check the
number of arguments; the evaluator calls ``FUNCTIONS[name].fn(*args)`` with floats.

Policy for bad values: a function never lets a Python exception other than
`CurveMathError` escape, and never returns infinity or NaN. A value outside its domain
(``sqrt(-1)``, ``log(0)``), a result too large for a float (``exp(1000)``) or an argument
that is already not finite raises `CurveMathError` with a sentence naming the function and
the value; the compiler reports it at the call's span. ``tan`` near pi/2 is not an error:
it is large but finite.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from kscript.curves import oscillators
from kscript.curves.errors import CurveMathError, fmt

__all__ = ["Builtin", "FUNCTIONS", "CONSTANTS", "CurveMathError", "call"]

#: Named constants usable in every expression.
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}


@dataclass(frozen=True, slots=True)
class Builtin:
    """One built-in function of the expression language.

    Attributes:
        name: the name scripts call it by.
        min_args: the fewest arguments it takes.
        max_args: the most it takes, or None for no limit (``min``, ``max``).
        fn: the implementation, floats in, a finite float out, `CurveMathError` on a bad value.
        doc: one line for listings and docs.
        signature: how a call looks, e.g. ``"clamp(x, lo, hi)"``, for messages and docs.
    """

    name: str
    min_args: int
    max_args: int | None
    fn: Callable[..., float]
    doc: str
    signature: str = ""

    def accepts(self, count: int) -> bool:
        """Whether a call with `count` arguments has the right number."""
        return count >= self.min_args and (self.max_args is None or count <= self.max_args)

    def arity_text(self) -> str:
        """The accepted argument count in words: "1 argument", "1 or 2 arguments", "2 or more arguments"."""
        lo, hi = self.min_args, self.max_args
        if hi is None:
            return f"{lo} or more arguments"
        if lo == hi:
            return f"{lo} argument" + ("" if lo == 1 else "s")
        if hi == lo + 1:
            return f"{lo} or {hi} arguments"
        return f"{lo} to {hi} arguments"


def _not_finite(name: str, x: float) -> CurveMathError:
    return CurveMathError(f"{name} of a value that is not finite ({fmt(x)})")


def _finite_result(name: str, args: tuple[float, ...], value: float) -> float:
    if math.isfinite(value):
        return value
    shown = ", ".join(fmt(a) for a in args)
    raise CurveMathError(f"{name}({shown}) is too large to represent")


# ----------------------------------------------------------------------------- trigonometry


def _sin(x: float) -> float:
    if not math.isfinite(x):  # math.sin(nan) is nan, not an exception
        raise _not_finite("sin", x)
    return math.sin(x)


def _cos(x: float) -> float:
    if not math.isfinite(x):  # math.cos(nan) is nan, not an exception
        raise _not_finite("cos", x)
    return math.cos(x)


def _tan(x: float) -> float:
    # Floats never hit pi/2 exactly, so tan is finite for every finite x (about 1.6e16 at
    # the nearest float); only infinite input fails.
    if not math.isfinite(x):  # math.tan(nan) is nan, not an exception
        raise _not_finite("tan", x)
    return math.tan(x)


# ----------------------------------------------------------------------------- arithmetic


def _abs(x: float) -> float:
    if not math.isfinite(x):
        raise _not_finite("abs", x)
    return float(abs(x))


def _min(*xs: float) -> float:
    for x in xs:
        if not math.isfinite(x):
            raise _not_finite("min", x)
    return float(min(xs))


def _max(*xs: float) -> float:
    for x in xs:
        if not math.isfinite(x):
            raise _not_finite("max", x)
    return float(max(xs))


def _clamp(x: float, lo: float, hi: float) -> float:
    for v in (x, lo, hi):
        if not math.isfinite(v):
            raise _not_finite("clamp", v)
    if lo > hi:
        raise CurveMathError(f"clamp's lower bound {fmt(lo)} is above its upper bound {fmt(hi)}")
    return float(lo if x < lo else hi if x > hi else x)


def _lerp(a: float, b: float, t: float) -> float:
    for v in (a, b, t):
        if not math.isfinite(v):
            raise _not_finite("lerp", v)
    # (1 - t) a + t b, not a + (b - a) t: exact at t = 0 and t = 1.
    return _finite_result("lerp", (a, b, t), (1.0 - t) * a + t * b)


def _floor(x: float) -> float:
    if not math.isfinite(x):
        raise _not_finite("floor", x)
    return float(math.floor(x))


def _ceil(x: float) -> float:
    if not math.isfinite(x):
        raise _not_finite("ceil", x)
    return float(math.ceil(x))


def _round(x: float) -> float:
    if not math.isfinite(x):
        raise _not_finite("round", x)
    # Half away from zero (2.5 -> 3, -2.5 -> -3), as people round; Python's round() would
    # give 2 (banker's rounding). floor(|x| + 0.5) would be wrong too: 0.49999999999999994
    # + 0.5 rounds up to 1.0. The fractional part |x| - floor(|x|) is exact in floats.
    ax = abs(x)
    whole = math.floor(ax)
    if ax - whole >= 0.5:
        whole += 1
    return math.copysign(float(whole), x) if whole else 0.0


# ----------------------------------------------------------------------------- powers and logs


def _sqrt(x: float) -> float:
    if x < 0.0:
        raise CurveMathError(f"sqrt of a negative number ({fmt(x)})")
    if not math.isfinite(x):
        raise _not_finite("sqrt", x)
    return math.sqrt(x)


def _exp(x: float) -> float:
    if not math.isfinite(x):
        raise _not_finite("exp", x)
    try:
        return math.exp(x)
    except OverflowError:
        raise CurveMathError(f"exp({fmt(x)}) is too large to represent (exp works up to about 709)") from None


def _log(x: float, base: float | None = None) -> float:
    if not math.isfinite(x):
        raise _not_finite("log", x)
    if x == 0.0:
        raise CurveMathError("log of zero (it goes to minus infinity)")
    if x < 0.0:
        raise CurveMathError(f"log of a negative number ({fmt(x)})")
    if base is None:
        return math.log(x)
    if not math.isfinite(base):
        raise _not_finite("log", base)
    if base <= 0.0 or base == 1.0:
        raise CurveMathError(f"log base must be positive and not 1 (got {fmt(base)})")
    return math.log(x) / math.log(base)


def _pow(x: float, y: float) -> float:
    for v in (x, y):
        if not math.isfinite(v):
            raise _not_finite("pow", v)
    if x == 0.0 and y < 0.0:
        raise CurveMathError(f"pow(0, {fmt(y)}): zero to a negative power is infinite")
    if x < 0.0 and not float(y).is_integer():
        raise CurveMathError(
            f"pow({fmt(x)}, {fmt(y)}): a negative number to a fractional power is not a real number"
        )
    try:
        value = math.pow(x, y)
    except OverflowError:
        raise CurveMathError(f"pow({fmt(x)}, {fmt(y)}) is too large to represent") from None
    except ValueError:  # pragma: no cover - the cases above cover math.pow's domain
        raise CurveMathError(f"pow({fmt(x)}, {fmt(y)}) has no real value") from None
    return _finite_result("pow", (x, y), value)


# ----------------------------------------------------------------------------- registry

_TABLE: tuple[tuple[str, int, int | None, Callable[..., float], str, str], ...] = (
    ("sin", 1, 1, _sin, "sin(x)", "Sine of x radians; sin(2 * pi * t / 2s) repeats every 2 seconds."),
    ("cos", 1, 1, _cos, "cos(x)", "Cosine of x radians."),
    ("tan", 1, 1, _tan, "tan(x)", "Tangent of x radians (very large, not an error, near pi/2)."),
    ("abs", 1, 1, _abs, "abs(x)", "The size of x without its sign."),
    ("min", 2, None, _min, "min(a, b, ...)", "The smallest of two or more values."),
    ("max", 2, None, _max, "max(a, b, ...)", "The largest of two or more values."),
    ("clamp", 3, 3, _clamp, "clamp(x, lo, hi)", "x held within lo..hi (an error if lo > hi)."),
    ("lerp", 3, 3, _lerp, "lerp(a, b, t)", "From a at t = 0 to b at t = 1, in a straight line (t is not clamped)."),
    ("floor", 1, 1, _floor, "floor(x)", "The largest whole number not above x."),
    ("ceil", 1, 1, _ceil, "ceil(x)", "The smallest whole number not below x."),
    ("round", 1, 1, _round, "round(x)", "The nearest whole number; halves round away from zero (2.5 -> 3)."),
    ("sqrt", 1, 1, _sqrt, "sqrt(x)", "Square root (an error for x < 0)."),
    ("exp", 1, 1, _exp, "exp(x)", "e to the power x (an error above about 709)."),
    ("log", 1, 2, _log, "log(x[, base])", "Natural logarithm, or to the given base (an error for x <= 0)."),
    ("pow", 2, 2, _pow, "pow(x, y)", "x to the power y, like x ^ y."),
    # The oscillators check their own input (a CurveMathError for inf or NaN), so the
    # registry holds them directly: one call per evaluation, not two.
    ("tri", 1, 1, oscillators.tri, "tri(x)", "Triangle wave, period 1, -1..1, in step with sin(2*pi*x)."),
    ("saw", 1, 1, oscillators.saw, "saw(x)", "Sawtooth, period 1: rises from -1 to 1, then jumps back."),
    ("square", 1, 1, oscillators.square, "square(x)", "Square wave, period 1: +1 for the first half, then -1."),
    ("pulse", 2, 2, oscillators.pulse, "pulse(x, width)", "1 for the first `width` fraction of each period, else 0."),
    (
        "noise",
        1,
        2,
        oscillators.noise,
        "noise(x[, stream])",
        "Smooth deterministic noise in -1..1, new random value per unit of x.",
    ),
)

FUNCTIONS: dict[str, Builtin] = {
    name: Builtin(name=name, min_args=lo, max_args=hi, fn=fn, doc=doc, signature=sig)
    for name, lo, hi, fn, sig, doc in _TABLE
}


def call(name: str, args: tuple[float, ...] | list[float]) -> float:
    """Call a built-in by name with the arity checked: a convenience for tests and tools.

    Raises:
        KeyError: no built-in has that name.
        CurveMathError: wrong number of arguments or a bad value.
    """
    builtin = FUNCTIONS[name]
    if not builtin.accepts(len(args)):
        raise CurveMathError(f"{builtin.signature} takes {builtin.arity_text()} (got {len(args)})")
    return builtin.fn(*args)
