"""Evaluate curves: compile each expression/ramp/keys AST once into a tree of closures.

No `eval`: every node of `kscript.syntax.nodes` becomes a small Python closure taking the
frame context `ctx` (a tuple, indexed by the `CTX_*` constants). A node whose value does
not depend on time is folded to a constant at compile time, so a scene of 96 frames with
`zoom: 1.02` costs one evaluation, not 96 — the 500-scene benchmark depends on it.

The same compiler serves the checker and the compiler: given a `report` callback it
reports unknown names, functions and easings, and maths errors found while folding, as
`Diagnostic`s and carries on with a placeholder, so one run collects every error.

Time (documented in docs/language.md):

- ``t`` seconds since the scene started, ``f`` the frame index in the scene, ``u`` progress
  through the scene, 0 on its first frame and 1 on its last (0 for a one-frame scene),
  ``T``/``F`` the same as ``t``/``f`` for the whole film, ``dur`` the scene's length in
  seconds, ``fps`` the film's frame rate, ``pi``, ``e``, and ``frames`` the number of frames
  a ramp runs over (the scene's; inside an effect's ``from..to`` window, the window's).
- A ramp ``a -> b easing`` runs over the scene (or an effect's ``from..to`` window): ``a`` on
  its first frame, ``b`` on its last. It reads the progress slot ``CTX_P``, which the
  compiler sets to ``u`` or to the window's own progress.
- For a camera rate the compiler fills the time slots (``t``, ``u``, ``T``, ``CTX_P``) with
  the middle of each frame's interval and the progress through the scene's *time*, so a
  ramp there runs from the scene's start to its end (kscript/channels.py, ``Sample``);
  ``f`` and ``F`` stay whole. This module only reads the slots.
- Keyframes are evaluated at scene time ``t``: before the first key its value holds, after
  the last key the last value holds, and the easing written after a value shapes the
  segment that ends at that key (linear by default).
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_right
from typing import Callable, Iterable

from kscript.curves import easing as easing_mod
from kscript.curves.functions import CONSTANTS, FUNCTIONS
from kscript.diagnostics import Diagnostic, did_you_mean
from kscript.errors import ScriptErrors
from kscript.source import Span
from kscript.syntax import nodes as n

# The frame context: a plain tuple, the fastest thing to index from a closure.
CTX_T, CTX_F, CTX_U, CTX_TT, CTX_FF, CTX_DUR, CTX_P, CTX_N = range(8)
CTX_SIZE = 8

TIME_NAMES: dict[str, int] = {"t": CTX_T, "f": CTX_F, "u": CTX_U, "T": CTX_TT, "F": CTX_FF, "dur": CTX_DUR,
                              "frames": CTX_N}
BUILTIN_NAMES: tuple[str, ...] = ("t", "f", "u", "T", "F", "dur", "frames", "fps", "pi", "e")
#: names a film with music gives (docs/language.md, "Music"): `beat` (beats since the film
#: started, with a `bpm`) and the audio curves (with an `audio:`); elsewhere free names
MUSIC_NAMES: tuple[str, ...] = ("beat", "loudness", "onset", "bass", "mid", "high")


class Tempo:
    """The film's tempo, for the beat units `4b` and `2bar`: None parts when it has none."""

    __slots__ = ("bpm", "beats_per_bar")

    def __init__(self, bpm: float | None = None, beats_per_bar: int = 4) -> None:
        self.bpm = bpm
        self.beats_per_bar = beats_per_bar

# Errors evaluating a curve can raise; the compiler turns them into E032. The built-in
# functions raise `CurveMathError` (a ValueError) with a sentence naming the bad value; the
# operators raise ZeroDivisionError (`/`, `%`), or the fold finds a value that is not finite.
MATH_ERRORS: tuple[type[BaseException], ...] = (ArithmeticError, ValueError)

Ctx = tuple


class Fn:
    """A compiled curve: `fn(ctx) -> float`, and `const` when it does not depend on time."""

    __slots__ = ("fn", "const")

    def __init__(self, fn: Callable[[Ctx], float], const: float | None = None) -> None:
        self.fn = fn
        self.const = const

    @classmethod
    def constant(cls, value: float) -> "Fn":
        value = float(value)
        return cls(lambda c, v=value: v, value)

    @property
    def is_const(self) -> bool:
        return self.const is not None


def math_errors() -> tuple[type[BaseException], ...]:
    """Every exception that means "this curve has no finite value here"."""
    return MATH_ERRORS


def describe_math_error(err: BaseException) -> str:
    if isinstance(err, ZeroDivisionError):
        return "division by zero"
    text = str(err).strip()
    return text or type(err).__name__


# ----------------------------------------------------------------------------- operators


_BINARY: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "%": operator.mod,
    # `x ^ y` is `pow(x, y)`: one function, so one domain rule and one wording for both.
    "^": FUNCTIONS["pow"].fn,
    "<": lambda a, b: 1.0 if a < b else 0.0,
    "<=": lambda a, b: 1.0 if a <= b else 0.0,
    ">": lambda a, b: 1.0 if a > b else 0.0,
    ">=": lambda a, b: 1.0 if a >= b else 0.0,
    "==": lambda a, b: 1.0 if a == b else 0.0,
    "!=": lambda a, b: 1.0 if a != b else 0.0,
}


def _check_finite(value: float) -> float:
    if not math.isfinite(value):
        raise ArithmeticError("the value is not a finite number")
    return value


# ----------------------------------------------------------------------------- the compiler

Lookup = Callable[[str, Span], "Fn | None"]
Report = Callable[[Diagnostic], None]


def _no_report(diag: Diagnostic) -> None:
    raise ScriptErrors([diag], {})


class CurveCompiler:
    """Turns curve ASTs into `Fn`s.

    Args:
        fps: the film's frame rate: turns `96f` into seconds.
        lookup: resolves a name that is not a built-in (a let, an effect parameter) to an
            `Fn`, or None when it is unknown.
        candidates: every name visible here, for "did you mean".
        report: receives diagnostics; when None the first one raises (the compiler proper
            only sees checked programs).
    """

    def __init__(
        self,
        fps: float,
        lookup: Lookup,
        candidates: Callable[[], Iterable[str]] = lambda: (),
        report: Report | None = None,
        tempo: "Tempo | None" = None,
        music: "dict[str, Fn] | None" = None,
    ) -> None:
        self.fps = float(fps)
        self.tempo = tempo or Tempo()
        self.music = music or {}
        self.lookup = lookup
        self.candidates = candidates
        self.report = report or _no_report

    # ------------------------------------------------------------------ helpers
    def seconds(self, d: n.Duration) -> float:
        """A duration in seconds at the film's fps (and bpm, for beats and bars)."""
        if d.unit in ("b", "bar") and self.tempo.bpm is None:
            self.report(no_tempo(d))
            return 0.0
        return duration_seconds(d, self.fps, self.tempo)

    def _fold(self, fn: Callable[[Ctx], float], span: Span) -> Fn:
        """Evaluate a time-independent closure once; report maths errors at `span`."""
        try:
            value = _check_finite(float(fn(())))
        except math_errors() as err:
            self.report(Diagnostic("E032", f"this expression has no finite value: {describe_math_error(err)}", span))
            return Fn.constant(0.0)
        return Fn.constant(value)

    # ------------------------------------------------------------------ curves
    def curve(self, node: n.Curve) -> Fn:
        """Compile a number, expression, ramp or keys."""
        if isinstance(node, n.Ramp):
            return self.ramp(node)
        if isinstance(node, n.Keys):
            return self.keys(node)
        return self.expr(node)

    def ramp(self, node: n.Ramp) -> Fn:
        a = self.expr(node.start)
        b = self.expr(node.end)
        ease = self.easing(node.easing)
        if a.is_const and b.is_const:
            av, d = a.const, b.const - a.const  # type: ignore[operator]
            if d == 0:
                return Fn.constant(av)  # type: ignore[arg-type]
            if ease is None:
                return Fn(lambda c: av + d * c[CTX_P])
            return Fn(lambda c: av + d * ease(c[CTX_P]))
        af, bf = a.fn, b.fn
        if ease is None:
            return Fn(lambda c: af(c) + (bf(c) - af(c)) * c[CTX_P])
        return Fn(lambda c: af(c) + (bf(c) - af(c)) * ease(c[CTX_P]))

    def keys(self, node: n.Keys) -> Fn:
        times = [self.seconds(k.time) for k in node.keys]
        values = [self.expr(k.value) for k in node.keys]
        eases = [self.easing(k.easing) for k in node.keys]
        if not times:
            return Fn.constant(0.0)
        if all(v.is_const for v in values) and len({v.const for v in values}) == 1:
            return Fn.constant(values[0].const)  # type: ignore[arg-type]
        return Fn(make_keys(times, [v.fn for v in values], eases))

    def easing(self, node: n.Easing | None) -> Callable[[float], float] | None:
        """The easing function, or None for linear (the fast path)."""
        if node is None or (node.name == "linear" and not node.args):
            return None
        name = node.name
        # Compiled first, whatever else is wrong, so that their own errors are reported too.
        args = [self.expr(a) for a in node.args]
        if name in easing_mod.EASINGS:
            count, signature = 0, f"{name}, without parentheses"
        elif name in easing_mod.PARAMETRIC_EASINGS:
            count, signature = easing_mod.PARAMETRIC_EASINGS[name]
        else:
            self.report(Diagnostic("E014", f"unknown easing '{name}'", _easing_name_span(node),
                                   hint=did_you_mean(name, easing_mod.easing_names())))
            return None
        if len(args) != count:
            takes = "no arguments" if count == 0 else f"{count} arguments"
            self.report(Diagnostic("E016", f"easing '{name}' takes {takes}, not {len(args)}", node.span,
                                   hint=f"write it as {signature}"))
            return None
        for written, fa in zip(node.args, args):
            if not fa.is_const:
                self.report(
                    Diagnostic("E031", f"the arguments of easing '{name}' must be constants", written.span,
                               hint="an easing's shape cannot change with time")
                )
                return None
        try:
            return easing_mod.get_easing(name, tuple(fa.const for fa in args))  # type: ignore[misc]
        except ValueError as err:  # the count is right (above): a value out of its range
            self.report(Diagnostic("E023", f"bad easing '{name}': {describe_math_error(err)}", node.span))
        return None

    # ------------------------------------------------------------------ expressions
    def expr(self, node: n.Expr) -> Fn:
        method = getattr(self, "_expr_" + type(node).__name__, None)
        if method is None:
            self.report(Diagnostic("E024", "a number or an expression is expected here", node.span))
            return Fn.constant(0.0)
        return method(node)

    def _expr_Number(self, node: n.Number) -> Fn:
        return Fn.constant(node.value)

    def _expr_Duration(self, node: n.Duration) -> Fn:
        return Fn.constant(self.seconds(node))

    def _expr_Name(self, node: n.Name) -> Fn:
        name = node.name
        idx = TIME_NAMES.get(name)
        if idx is not None:
            return Fn(operator.itemgetter(idx))
        if name == "fps":
            return Fn.constant(self.fps)
        if name in CONSTANTS:
            return Fn.constant(CONSTANTS[name])
        if name in self.music:
            return self.music[name]
        found = self.lookup(name, node.span)
        if found is not None:
            return found
        if name in MUSIC_NAMES:
            if name == "beat":
                self.report(Diagnostic("E036", "'beat' needs the film's tempo", node.span,
                                       hint="set bpm: 120 in the film block, or audio: \"song.mp3\" to detect it"))
            else:
                self.report(Diagnostic("E036", f"'{name}' is a curve of the film's audio, and this film has none",
                                       node.span, hint='set audio: "song.mp3" in the film block'))
            return Fn.constant(0.0)
        pool = list(self.candidates()) + list(BUILTIN_NAMES) + list(CONSTANTS)
        self.report(Diagnostic("E010", f"unknown name '{name}'", node.span, hint=did_you_mean(name, pool)))
        return Fn.constant(0.0)

    def _expr_Unary(self, node: n.Unary) -> Fn:
        x = self.expr(node.operand)
        if node.op == "+":
            return x
        xf = x.fn
        if node.op == "-":
            fn: Callable[[Ctx], float] = lambda c: -xf(c)
        else:  # not
            fn = lambda c: 0.0 if xf(c) != 0.0 else 1.0
        return self._fold(fn, node.span) if x.is_const else Fn(fn)

    def _expr_Binary(self, node: n.Binary) -> Fn:
        a = self.expr(node.left)
        b = self.expr(node.right)
        af, bf = a.fn, b.fn
        op = node.op
        if op == "and":
            fn: Callable[[Ctx], float] = lambda c: 1.0 if (af(c) != 0.0 and bf(c) != 0.0) else 0.0
        elif op == "or":
            fn = lambda c: 1.0 if (af(c) != 0.0 or bf(c) != 0.0) else 0.0
        else:
            f2 = _BINARY[op]
            if b.is_const and not a.is_const:
                k = b.const
                fn = lambda c: f2(af(c), k)
            elif a.is_const and not b.is_const:
                k = a.const
                fn = lambda c: f2(k, bf(c))
            else:
                fn = lambda c: f2(af(c), bf(c))
        if a.is_const and b.is_const:
            return self._fold(fn, node.span)
        return Fn(fn)

    def _expr_IfExpr(self, node: n.IfExpr) -> Fn:
        cond = self.expr(node.cond)
        if cond.is_const:
            # Only the branch taken is evaluated, as per frame: a maths error folded out of
            # the other (`if 1 then 1 else 1/0`) is no error; its names are still checked.
            taken, dropped = (node.then, node.otherwise) if cond.const != 0.0 else (node.otherwise, node.then)
            result = self.expr(taken)
            report = self.report
            self.report = lambda d: None if d.code == "E032" else report(d)
            try:
                self.expr(dropped)
            finally:
                self.report = report
            return result
        then = self.expr(node.then)
        other = self.expr(node.otherwise)
        cf, tf, of = cond.fn, then.fn, other.fn
        return Fn(lambda c: tf(c) if cf(c) != 0.0 else of(c))

    def _expr_Call(self, node: n.Call) -> Fn:
        builtin = FUNCTIONS.get(node.func)
        args = [self.expr(a) for a in node.args]
        if builtin is None:
            self.report(Diagnostic("E013", f"unknown function '{node.func}'", node.func_span,
                                   hint=did_you_mean(node.func, FUNCTIONS)))
            return Fn.constant(0.0)
        if not builtin.accepts(len(args)):
            self.report(Diagnostic("E016", f"'{node.func}' takes {builtin.arity_text()}, not {len(args)}", node.span,
                                   hint=builtin.doc))
            return Fn.constant(0.0)
        f = builtin.fn
        fns = [a.fn for a in args]
        if len(fns) == 1:
            (x,) = fns
            fn: Callable[[Ctx], float] = lambda c: f(x(c))
        elif len(fns) == 2:
            x, y = fns
            fn = lambda c: f(x(c), y(c))
        elif len(fns) == 3:
            x, y, z = fns
            fn = lambda c: f(x(c), y(c), z(c))
        else:
            fn = lambda c: f(*[g(c) for g in fns])
        if all(a.is_const for a in args):
            return self._fold(fn, node.span)
        return Fn(fn)


def make_keys(
    times: list[float], values: list[Callable[[Ctx], float]], eases: list[Callable[[float], float] | None]
) -> Callable[[Ctx], float]:
    """The keyframe curve: holds outside the keys, eases each segment into its end key."""
    last = len(times) - 1
    t0, tn = times[0], times[-1]
    v0, vn = values[0], values[-1]

    def keys_fn(c: Ctx) -> float:
        t = c[CTX_T]
        if t <= t0:
            return v0(c)
        if t >= tn:
            return vn(c)
        i = bisect_right(times, t)  # times[i-1] <= t < times[i]
        if i > last:
            return vn(c)
        ta, tb = times[i - 1], times[i]
        a = values[i - 1](c)
        if tb <= ta:
            return values[i](c)
        p = (t - ta) / (tb - ta)
        ease = eases[i]
        if ease is not None:
            p = ease(p)
        return a + (values[i](c) - a) * p

    return keys_fn


def no_tempo(d: n.Duration) -> Diagnostic:
    """E036 for a beat or bar in a film without a tempo."""
    word = "beats" if d.unit == "b" else "bars"
    return Diagnostic("E036", f"{d.value:g}{d.unit} counts {word}, and this film has no tempo", d.span,
                      hint='set bpm: 120 in the film block, or audio: "song.mp3" to detect it')


def duration_seconds(d: n.Duration, fps: float, tempo: Tempo | None = None) -> float:
    """`4s` → 4.0, `500ms` → 0.5, `96f` → 96 / fps, `4b` → 4 * 60 / bpm, `2bar` → 2 bars
    of `beats_per_bar` beats (0.0 without a tempo: the checker reports E036 first)."""
    if d.unit in ("b", "bar"):
        if tempo is None or tempo.bpm is None:
            return 0.0
        beats = d.value * (tempo.beats_per_bar if d.unit == "bar" else 1)
        return beats * 60.0 / tempo.bpm
    if d.unit == "ms":
        return d.value / 1000.0
    if d.unit == "f":
        return d.value / fps
    return float(d.value)


def _easing_name_span(node: n.Easing) -> Span:
    s = node.span
    if s.end_line == s.line:
        return Span(s.file, s.line, s.col, s.line, min(s.end_col, s.col + len(node.name)))
    return s


__all__ = [
    "BUILTIN_NAMES",
    "MUSIC_NAMES",
    "Tempo",
    "no_tempo",
    "CTX_DUR",
    "CTX_F",
    "CTX_FF",
    "CTX_N",
    "CTX_P",
    "CTX_SIZE",
    "CTX_T",
    "CTX_TT",
    "CTX_U",
    "CurveCompiler",
    "Fn",
    "duration_seconds",
    "make_keys",
    "math_errors",
]
