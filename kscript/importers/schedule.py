"""Deforum's keyframe schedules: reading them, Deforum's own interpolation, and curves.

A schedule is a string of entries `frame:(value)`, e.g. `0:(1.0), 30:(1.04), 60:(1+0.01*sin(t))`.
Two readers, because Deforum has two (their results differ on malformed input):

- ``a1111`` (the Automatic1111/Forge extension, `animation_key_frames.parse_key_frames`):
  splits at every comma and then at colons; a frame may be a numexpr expression of
  `max_f` and `s` (quotes around it are dropped), truncated to a whole frame. `0: 0: (x)`
  reads frame 0 with the value `0` (the text between the first two colons).
- ``notebook`` (the Deforum notebook and Deforum-Kandinsky): a regular expression finds
  `INTEGER: (value)` entries followed by a comma or the end; it tolerates a trailing comma
  and finds `0: (x)` inside `0: 0: (x)`.

Interpolation (`reference_series`, written from Deforum's `get_inbetweens`): a number key
holds its value at its frame and the frames between it and the next key move linearly to
that key's value; an expression key is evaluated on every frame from its own until the
next key (so a number key before it ramps to the expression's value at the expression's
key, and the next key is a jump). Before the first key its value holds, after the last
number key it holds. Keys at or past `max_frames` are dropped. Frames where an expression
is not a finite number (`sqrt` of a negative, `cos(t)**0.9` where cos is negative) are
NaN to Deforum, which pandas fills linearly between the neighbouring frames.

`curve_points` turns the keys into kscript keyframes (frame, value, easing) that the
compiler evaluates to the same per-frame values, and `SchedulePoints.slice` cuts them per
scene.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal

from kscript.importers.numexpr_lang import (
    ExprError,
    Node,
    Untranslatable,
    check_logic,
    evaluate,
    names_in,
    parse,
    to_kscript,
)

Dialect = Literal["a1111", "notebook"]

_NUMBER = re.compile(r"^(?=.)([+-]?([0-9]*)(\.([0-9]+))?)$")  # Deforum's check_is_number


def is_number(text: str) -> bool:
    return bool(_NUMBER.match(text))


def _sanitize(text: str) -> str:
    return text.replace("'", "").replace('"', "").replace("(", "").replace(")", "")


@dataclass
class Key:
    frame: int
    text: str  # the value as written
    number: float | None  # a plain number key
    expr: Node | None = None  # an expression key


@dataclass
class Schedule:
    """A parsed schedule: its keys (sorted, within the film), and what was said about it."""

    name: str
    source: str
    keys: list[Key]
    notes: list[str] = field(default_factory=list)


class ScheduleError(ValueError):
    pass


def _frame_value(text: str, env: dict[str, float]) -> int:
    t = text.strip()
    if is_number(_sanitize(t)):
        try:
            return int(_sanitize(t))
        except ValueError:
            raise ScheduleError(f"frame '{t}' is not a whole number") from None
    for q in ("'", '"'):
        if t.startswith(q):
            t = t[1:]
            break
    for q in ("'", '"'):
        if t.endswith(q):
            t = t[:-1]
            break
    try:
        v = evaluate(parse(t), env)
    except ExprError as err:
        raise ScheduleError(f"frame '{text.strip()}': {err}") from None
    if not math.isfinite(v):
        raise ScheduleError(f"frame '{text.strip()}' is not a finite number")
    return int(v)  # Python's int(): towards zero, as Deforum


def _entries_a1111(string: str, notes: list[str]) -> list[tuple[str, str]]:
    pieces = string.split(",")
    out: list[list[str]] = []
    for piece in pieces:
        if ":" not in piece:
            if not piece.strip():
                notes.append("a trailing or empty comma: Deforum's extension would stop on it; ignored")
                continue
            if out:
                # A comma inside a function call (where(c, a, b)): Deforum's extension splits
                # there and fails; the notebook's reader and kscript read the whole call.
                note = (f"frame {out[-1][0].strip()}: a comma inside its value: Deforum's extension splits at "
                        "every comma and would stop there; read as one value, as the notebook reads it")
                if note not in notes:
                    notes.append(note)
                out[-1][1] += "," + piece
                continue
            raise ScheduleError(f"'{piece.strip()}' has no 'frame:' before it")
        parts = piece.split(":")
        if len(parts) > 2:
            notes.append(
                f"'{piece.strip()}' has {len(parts) - 1} colons: read as Deforum's extension reads it, "
                f"frame {parts[0].strip()} with the value '{parts[1].strip()}' (the notebook would read "
                f"'{parts[-1].strip()}')")
        out.append([parts[0], parts[1]])
    return [(f, v) for f, v in out]


_NOTEBOOK = re.compile(r"((?P<frame>[0-9]+):[\s]*\((?P<param>[\S\s]*?)\)([,][\s]?|[\s]?$))")


def _entries_notebook(string: str, notes: list[str]) -> list[tuple[str, str]]:
    out = []
    for m in _NOTEBOOK.finditer(string):
        out.append((m.group("frame"), m.group("param")))
    covered = _NOTEBOOK.sub("", string).strip().strip(",").strip()
    if covered:
        notes.append(f"'{covered}' is not an entry the notebook reads (INTEGER: (value)); ignored")
    return out


def parse_schedule(
    name: str, string: str, max_frames: int, seed: float, dialect: Dialect = "a1111"
) -> Schedule:
    """Read a schedule string as Deforum's `dialect` reads it.

    Raises `ScheduleError` where Deforum could not read it either (no entry at all, an
    expression that does not parse)."""
    notes: list[str] = []
    string = str(string)
    env = {"max_f": float(max_frames - 1), "s": float(seed)}
    if dialect == "a1111":
        raw = _entries_a1111(string, notes)
    else:
        raw = _entries_notebook(string, notes)
    if not raw:
        raise ScheduleError("no entry 'frame:(value)' in it")
    by_frame: dict[int, Key] = {}
    dropped: list[int] = []
    for ftext, vtext in raw:
        if dialect == "a1111":
            frame = _frame_value(ftext, env)
            value = vtext.strip()
            clean = _sanitize(value)
        else:
            frame = int(ftext)
            value = vtext
            clean = vtext
        if frame < 0 or frame >= max_frames:
            dropped.append(frame)
            continue
        if is_number(clean):
            key = Key(frame, value, float(clean))
        else:
            try:
                node = parse(value)
            except ExprError as err:
                raise ScheduleError(f"frame {frame}: {err}") from None
            allowed = {"t", "max_f", "s"} if dialect == "a1111" else {"t"}
            unknown = names_in(node) - allowed
            if unknown:
                raise ScheduleError(
                    f"frame {frame}: unknown name {', '.join(repr(u) for u in sorted(unknown))} in '{value.strip()}' "
                    f"(Deforum's schedules know {', '.join(sorted(allowed))})")
            for msg in check_logic(node):
                notes.append(f"frame {frame}: {msg}")
            key = Key(frame, value, None, node)
        by_frame[frame] = key  # a later entry for the same frame wins, as in Deforum's dict
    if dropped:
        notes.append(
            f"key{'s' if len(dropped) > 1 else ''} at frame {', '.join(str(d) for d in dropped)} "
            f"outside the film's {max_frames} frames, dropped (as Deforum does)")
    keys = [by_frame[f] for f in sorted(by_frame)]
    if not keys:
        raise ScheduleError(f"every key is outside the film's {max_frames} frames")
    if keys[0].frame != 0:
        notes.append(
            f"no key at frame 0 (Deforum itself needs one): the first key's value holds before frame {keys[0].frame}")
    return Schedule(name, string, keys, notes)


def key_env(frame: int, max_frames: int, seed: float) -> dict[str, float]:
    return {"t": float(frame), "max_f": float(max_frames - 1), "s": float(seed)}


def raw_series(sched: Schedule, max_frames: int, seed: float) -> list[float]:
    """The values Deforum writes into its series before filling: NaN where it leaves a gap."""
    series = [math.nan] * max_frames
    at = {k.frame: k for k in sched.keys}
    current: Key | None = None
    for i in range(max_frames):
        if i in at:
            current = at[i]
            if current.number is not None:
                series[i] = current.number
        if current is not None and current.expr is not None:
            v = evaluate(current.expr, key_env(i, max_frames, seed))
            series[i] = v if math.isfinite(v) else math.nan  # inf: Deforum would fail; filled like NaN
    return series


def fill_like_deforum(series: list[float]) -> list[float]:
    """pandas' linear fill as Deforum runs it: the first and last frames take the first and
    last valid values, every NaN between moves linearly between its valid neighbours."""
    n = len(series)
    valid = [i for i, v in enumerate(series) if not math.isnan(v)]
    if not valid:
        raise ScheduleError("no frame has a value")
    out = list(series)
    out[0] = series[valid[0]]
    out[n - 1] = series[valid[-1]]
    known = [i for i, v in enumerate(out) if not math.isnan(v)]
    for a, b in zip(known, known[1:]):
        for i in range(a + 1, b):
            out[i] = out[a] + (out[b] - out[a]) * (i - a) / (b - a)
    return out


def reference_series(sched: Schedule, max_frames: int, seed: float) -> list[float]:
    """Deforum's per-frame values of a schedule (see the module docstring)."""
    return fill_like_deforum(raw_series(sched, max_frames, seed))


def nan_frames(sched: Schedule, max_frames: int, seed: float) -> list[int]:
    """Frames an expression makes NaN (or infinite), which Deforum fills."""
    raw = raw_series(sched, max_frames, seed)
    covered = [False] * max_frames
    for k in sched.keys:
        if k.number is not None:
            covered[k.frame] = True
    cur = None
    at = {k.frame: k for k in sched.keys}
    for i in range(max_frames):
        if i in at:
            cur = at[i]
        if cur is not None and cur.expr is not None:
            covered[i] = True
    return [i for i in range(max_frames) if covered[i] and math.isnan(raw[i])]


# ---------------------------------------------------------------------------- kscript points

Value = float | Node


@dataclass
class Point:
    """A kscript keyframe at a film frame: its value (a number, or a Deforum expression
    evaluated on the frame kscript evaluates it), and the easing of the segment into it."""

    frame: int
    value: Value
    step: bool = False


@dataclass
class SchedulePoints:
    points: list[Point]
    sampled: list[str]  # why some frames are written one by one (empty: none are)

    def value_at(self, frame: int, max_frames: int, seed: float) -> Value:
        """The point's value at any frame (a number where it is between two numbers)."""
        pts = self.points
        prev = None
        for p in pts:
            if p.frame == frame:
                return p.value
            if p.frame > frame:
                if prev is None:
                    return p.value
                if p.step:
                    return prev.value
                a, b = prev.value, p.value
                if isinstance(a, float) and isinstance(b, float):
                    return a + (b - a) * (frame - prev.frame) / (p.frame - prev.frame)
                raise AssertionError("a linear segment between expressions has no frame inside")
            prev = p
        assert prev is not None
        return prev.value

    def slice(self, start: int, end: int, max_frames: int, seed: float) -> list[Point]:
        """The points of the frames start..end-1, re-based to start at 0, with a point
        added at the first frame and, where the curve is still moving, at the last."""
        inside = [Point(p.frame - start, p.value, p.step) for p in self.points if start <= p.frame < end]
        if not inside or inside[0].frame != 0:
            inside.insert(0, Point(0, self.value_at(start, max_frames, seed)))
        inside[0].step = False  # nothing comes before the first key
        later = [p for p in self.points if p.frame >= end]
        if later and not later[0].step and inside[-1].frame != end - 1:
            v = self.value_at(end - 1, max_frames, seed)
            if isinstance(v, float):
                inside.append(Point(end - 1 - start, v))
        return inside


def curve_points(sched: Schedule, max_frames: int, seed: float, names: dict[str, str]) -> SchedulePoints:
    """kscript keyframes that evaluate to Deforum's per-frame values.

    - a number key is a key (linear from the key before it, or `step` after an expression);
    - an expression key is a key whose value is the expression (the compiler evaluates it
      on every frame after it, up to the next key, which comes in with `step`); when a
      number key comes before it, an extra key on the frame before holds the value the ramp
      has reached there, so that the ramp aims at the expression's value at its own key;
    - an expression kscript cannot write (a function it lacks), or one that is NaN or
      infinite on some frame (Deforum fills those frames), is written frame by frame with
      Deforum's filled values.
    """
    ref = reference_series(sched, max_frames, seed)
    keys = sched.keys
    pts: list[Point] = []
    sampled: list[str] = []
    prev_expr = False
    for idx, k in enumerate(keys):
        nxt = keys[idx + 1].frame if idx + 1 < len(keys) else max_frames
        if k.number is not None:
            pts.append(Point(k.frame, k.number, step=prev_expr))
            prev_expr = False
            continue
        assert k.expr is not None
        const = not (names_in(k.expr) & {"t"})
        why = None
        if not const:
            everywhere = [evaluate(k.expr, key_env(i, max_frames, seed)) for i in range(max_frames)]
            if not all(math.isfinite(v) for v in everywhere[k.frame:nxt]):
                why = f"'{k.text.strip()}' is not a number on some frames (Deforum fills them)"
            elif not all(math.isfinite(v) for v in everywhere):
                why = f"'{k.text.strip()}' is not a number on some frames before its key"
            else:
                try:
                    to_kscript(k.expr, names)
                except Untranslatable as err:
                    why = f"'{k.text.strip()}': {err}"
        if why is not None:
            sampled.append(why)
            for i in range(k.frame, nxt):
                pts.append(Point(i, ref[i], step=prev_expr and i == k.frame))
            prev_expr = False
            continue
        value: Value = ref[k.frame] if const else k.expr
        if const:
            pts.append(Point(k.frame, float(value), step=prev_expr))
        else:
            if pts and not prev_expr and pts[-1].frame < k.frame - 1:
                # the ramp from the number key before aims at the expression's value here
                pts.append(Point(k.frame - 1, ref[k.frame - 1]))
            elif not pts and k.frame > 0:
                pts.append(Point(k.frame - 1, ref[k.frame]))
            pts.append(Point(k.frame, value, step=prev_expr))
        prev_expr = True
    return SchedulePoints(pts, sampled)
