"""Writing a kscript film from imported per-frame facts: the shared half of the importers.

An importer describes the film as a `FilmSpec`: its settings, its scenes (frame ranges
with prompts), and each channel as `SchedulePoints` over film frames in the SOURCE's
per-frame unit together with a `Convert` that says how a per-frame value becomes a
kscript value. `write_film` cuts each channel per scene, converts it and writes keys in
seconds (`2s`, or `10f` where a frame is no round number of milliseconds), expressions as
expressions, and a comment block of warnings at the top.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from kscript.channels import CHANNELS
from kscript.importers import numexpr_lang as nx
from kscript.importers.numexpr_lang import format_number
from kscript.importers.schedule import Point, SchedulePoints
from kscript.importers.units import conversion, from_frame


@dataclass
class Convert:
    """per-frame source value v -> kscript value: `scale * v + offset`, or for zoom
    (`power`) v ** fps; `clamp` limits the result (Deforum clamps strength); `floor` for
    whole-number channels Deforum truncates with int()."""

    scale: float = 1.0
    offset: float = 0.0
    power: float | None = None
    clamp: tuple[float, float] | None = None
    floor: bool = False

    def number(self, v: float) -> float:
        if self.power is not None:
            r = v**self.power if v > 0 else 0.0  # a zoom of 0 or less has no meaning (and no real power)
        else:
            r = self.scale * v + self.offset
        if self.clamp is not None:
            r = min(max(r, self.clamp[0]), self.clamp[1])
        if self.floor:
            r = math.floor(r)
        return r


def motion_convert(channel: str, fps: float, width: int, height: int, sign: float = 1.0) -> Convert:
    """Deforum's per-frame motion (degrees, pixels, factor) -> the kscript channel's unit."""
    if conversion(channel) == "factor_per_second":
        return Convert(power=fps)
    return Convert(scale=sign * from_frame(channel, 1.0, fps, width, height))


#: the depth model a converted 3D film moves through (Depth Anything V2 Small, transformers)
DEFAULT_DEPTH_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"
#: the scene's distance in Deforum's depth units: Deforum (transform_image_3d_new) normalises
#: each depth map to 0..1 and maps it onto 1..2; the harmonic mean of depths spread evenly
#: over 1..2 is 1 / ln 2 (kscript.render.depth_warp.scene_distance)
DEFORUM_SCENE_DISTANCE = 1.0 / math.log(2.0)


def depth_move_scales(fps: float, fov: float) -> dict[str, tuple[str, float]]:
    """Deforum's 3D translations (its depth units / 200 per frame) -> (kscript channel, factor):
    the speeds at which the picture moves on screen as Deforum's does at its scene's distance
    D (docs/import.md, "3D"): x, y = fps t / (4 D tan(fov/2)) % of the width / height per
    second; z = fps t / (2 D^2 tan(fov/2)) % of the scene's distance per second (Deforum's
    forward zoom 1 + t / (D (D - t) tan(fov/2)) to first order in t)."""
    tan_half = math.tan(math.radians(min(max(fov, 1.0), 179.0)) / 2.0)
    pan = fps / (4.0 * DEFORUM_SCENE_DISTANCE * tan_half)
    return {"translation_x": ("x", pan), "translation_y": ("y", pan),
            "translation_z": ("z", fps / (2.0 * DEFORUM_SCENE_DISTANCE**2 * tan_half))}


def depth_move_warning(key: str, value: object, kname: str, fov: float | None = None) -> str:
    """The importers' one warning for a 3D translation converted into a move through depth."""
    head = key if value is None else f"{key} = {value!r}"
    return (f"{head}: a camera move through depth, kscript's {kname} with the depth model "
            f"{DEFAULT_DEPTH_MODEL} (depth:), as fast on screen as Deforum's at its scene's distance "
            f"({round(DEFORUM_SCENE_DISTANCE, 4)} of its depth units); nearer and farther things move by the "
            "pinhole camera's amounts, which differ from Deforum's for a forward move"
            + (f"; with the first frame's fov ({fov:g})" if fov is not None else ""))


@dataclass
class Channel:
    name: str  # the kscript channel
    points: SchedulePoints
    convert: Convert
    names: dict[str, str]  # Deforum variable -> kscript text, for expressions
    comment: str = ""  # the source as written, shown above the channel
    #: the source's per-frame values, when known: a clamp that changes none of them is left out
    values: list[float] | None = None

    def __post_init__(self) -> None:
        c = self.convert
        if c.clamp is not None and self.values is not None:
            lo, hi = c.clamp
            conv = Convert(c.scale, c.offset, c.power, None, c.floor)
            if all(lo <= conv.number(v) <= hi for v in self.values):
                self.convert = conv


@dataclass
class PromptKey:
    frame: int
    text: str
    blend: int = 0  # frames of cross-fade from the prompt before


@dataclass
class SceneSpec:
    start: int
    end: int  # exclusive
    prompts: list[PromptKey]
    negative: str
    extra: list[str] = field(default_factory=list)  # lines written as they are (effects, seeds)


@dataclass
class FilmSpec:
    title: str
    source: str  # what it was imported from, for the header
    width: int
    height: int
    fps: float
    seed: int
    frames: int
    scenes: list[SceneSpec]
    channels: list[Channel]
    settings: dict[str, str] = field(default_factory=dict)  # further film settings, as text
    lets: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seed_text: str | None = None  # a seed curve for every scene (kscript text), when not film seed + f
    scene_names: list[str] | None = None


def quote(text: str) -> str:
    """A kscript string: one line, `\\` and `"` escaped."""
    one = re.sub(r"\s*[\r\n]+\s*", " ", text)
    return '"' + one.replace("\\", "\\\\").replace('"', '\\"') + '"'


def on_ms(frames: int, fps: float) -> bool:
    """Whether the frame's time is a whole number of milliseconds (written exactly in seconds)."""
    return float(fps).is_integer() and (frames * 1000) % int(fps) == 0


def duration(frames: int, fps: float, in_frames: bool = False) -> str:
    """`2s`, `1.25s`: seconds where the frame falls on a whole millisecond, else `10f`
    (a time in seconds that is not exact could land on the neighbouring frame)."""
    if frames == 0:
        return "0s" if not in_frames else "0f"
    if not in_frames and on_ms(frames, fps):
        return f"{format_number(frames / fps)}s"
    return f"{frames}f"


def _value_text(v: float | nx.Node, conv: Convert, names: dict[str, str]) -> str:
    if isinstance(v, float):
        return format_number(conv.number(v))
    if conv.power is None and conv.scale not in (1.0, -1.0) and isinstance(v, nx.Binary) and v.op == "*" \
            and isinstance(v.left, nx.Num):
        # fold the unit factor into the expression's own: 3.125 * (2 * cos(F / 3)) -> 6.25 * cos(F / 3)
        k = conv.scale * v.left.value
        v = nx.Binary("*", nx.Num(k, format_number(k)), v.right)
        conv = Convert(1.0, conv.offset, None, conv.clamp, conv.floor)
    text, prec = nx._tr(v, names)  # noqa: SLF001 - the translator's precedence, to parenthesise
    if conv.power is not None:
        if conv.clamp is not None:  # clamp the per-frame factor: a power of a negative one is no number
            lo, hi = (max(c, 0.0) ** (1.0 / conv.power) for c in conv.clamp)
            text, prec = f"clamp({text}, {format_number(lo * (1 + 1e-9))}, {format_number(hi * (1 - 1e-9))})", nx._K_ATOM
        base = text if prec >= nx._K_ATOM else f"({text})"
        out = f"{base} ^ {format_number(conv.power)}"
        return f"floor({out})" if conv.floor else out
    else:
        s, o = conv.scale, conv.offset
        out, oprec = text, prec
        if s != 1.0:
            if s == -1.0:
                out, oprec = f"-{out if oprec >= nx._K_SIGN else '(' + out + ')'}", nx._K_SIGN
            else:
                out, oprec = f"{format_number(s)} * {out if oprec >= nx._K_SIGN else '(' + out + ')'}", nx._K_PROD
        if o != 0.0:
            if out.startswith("-") and oprec == nx._K_SIGN:
                out, oprec = f"{format_number(o)} - {out[1:]}", nx._K_SUM
            else:
                out, oprec = f"{format_number(o)} + {out if oprec >= nx._K_PROD else '(' + out + ')'}", nx._K_SUM
    if conv.clamp is not None:
        out = f"clamp({out}, {format_number(conv.clamp[0])}, {format_number(conv.clamp[1])})"
    if conv.floor:
        out = f"floor({out})"
    return out


def curve_text(points: list[Point], conv: Convert, names: dict[str, str], fps: float) -> str:
    """A scene's curve: a number, an expression, or `keys { ... }` in seconds."""
    if len(points) == 1 or (
        all(isinstance(p.value, float) for p in points)
        and len({conv.number(p.value) for p in points}) == 1  # type: ignore[arg-type]
    ):
        return _value_text(points[0].value, conv, names)
    items = []
    frames = not all(on_ms(p.frame, fps) for p in points)  # one unit per block: all seconds, or all frames
    for p in points:
        ease = " step" if p.step else ""
        items.append(f"{duration(p.frame, fps, frames)}: {_value_text(p.value, conv, names)}{ease}")
    one = "keys { " + ", ".join(items) + " }"
    if len(one) <= 90:
        return one
    return "keys {\n" + "".join(f"    {it}\n" for it in items) + "  }"


def rate_points(pts: list[Point], sched: SchedulePoints, start: int, end: int, into_next: bool,
                max_frames: int, seed: float) -> list[Point]:
    """A scene's points of a camera rate, moved to where kscript reads them.

    The source's value of frame k is that frame's move. kscript evaluates a rate for frame
    f at the middle of the interval the move covers, f - 1/2 (`Channel.sample`,
    kscript/channels.py), so the point of frame k goes to k - 1/2 (the segments between
    points keep their shape: a linear one gives every frame the source's value). The first
    frame keeps its point at 0, and one at 1/2 carries frame 1's value; where the next
    scene continues, a point at n - 1/2 carries the value of its first frame, the move from
    this scene's last frame into it."""
    out = [Point(0, pts[0].value)]
    if len(pts) < 2 or pts[1].frame != 1:
        out.append(Point(0.5, sched.value_at(start + 1, max_frames, seed)))  # type: ignore[arg-type]
    out.extend(Point(p.frame - 0.5, p.value, p.step) for p in pts[1:])  # type: ignore[arg-type]
    if into_next:
        last = Point(end - start - 0.5, sched.value_at(end, max_frames, seed))  # type: ignore[arg-type]
        nxt = next((p for p in sched.points if p.frame >= end), None)
        last.step = nxt is not None and nxt.frame == end and nxt.step
        if out[-1].frame < last.frame:
            out.append(last)
    return out


def _needs_let(points: list[Point], conv: Convert) -> bool:
    """Keys between numbers interpolate linearly in kscript's unit; a non-linear conversion
    (zoom's power) or a floor must be applied after the interpolation, in a let."""
    nonlinear = conv.power is not None or conv.floor or conv.clamp is not None
    if not nonlinear or len(points) == 1:
        return False
    values = [p.value for p in points]
    if all(isinstance(v, float) for v in values) and len({conv.number(v) for v in values}) == 1:  # type: ignore[arg-type]
        return False
    return True


def language_range(name: str, fps: float, width: int, height: int) -> tuple[float, float]:
    """The values kscript accepts for a channel, in its language unit: its range and, for
    motion, what a camera can do between two frames (kscript/channels.py)."""
    ch = CHANNELS[name]
    lo, hi = -math.inf, math.inf
    if ch.range is not None:
        lo, hi = ch.range.low, ch.range.high
    limit = ch.frame_limit(width, height)
    if limit is not None:
        a = from_frame(name, limit.low, fps, width, height)
        b = from_frame(name, limit.high, fps, width, height)
        lo, hi = max(lo, min(a, b)), min(hi, max(a, b))
    # a hair inside, so that the value written with 10 digits is still within the range
    return lo + abs(lo) * 1e-8, hi - abs(hi) * 1e-8


def fit_ranges(spec: FilmSpec) -> None:
    """Clamp a channel whose values leave kscript's range (Deforum would render them, or
    fail): the film must check. Said in the warnings."""
    for ch in spec.channels:
        if ch.values is None:
            continue
        lo, hi = language_range(ch.name, spec.fps, spec.width, spec.height)
        got = [ch.convert.number(v) for v in ch.values]
        if all(lo <= g <= hi for g in got):
            continue
        c = ch.convert
        old = c.clamp or (-math.inf, math.inf)
        ch.convert = Convert(c.scale, c.offset, c.power, (max(lo, old[0]), min(hi, old[1])), c.floor)
        spec.warnings.append(
            f"{ch.name}: values from {format_number(round(min(got), 6))} to {format_number(round(max(got), 6))} "
            f"leave kscript's range ({format_number(round(lo, 6))} to {format_number(round(hi, 6))} "
            f"in its unit); held within it")


def write_film(spec: FilmSpec) -> str:
    """The film's text."""
    fit_ranges(spec)
    out: list[str] = []
    out.append(f"# Imported by `kscript import` from {spec.source}.")
    if spec.warnings:
        out.append("#")
        out.append("# Not carried over, or carried over differently (kscript import's warnings):")
        for w in spec.warnings:
            first = True
            for line in _wrap_words(w, 92):
                out.append(("#   - " if first else "#     ") + line)
                first = False
    out.append("")
    out.append(f"film {quote(spec.title)} {{")
    out.append(f"  size: {spec.width}x{spec.height}")
    out.append(f"  fps: {format_number(spec.fps)}")
    out.append(f"  seed: {spec.seed}")
    for k, v in spec.settings.items():
        out.append(f"  {k}: {v}")
    negatives = {s.negative for s in spec.scenes}
    one_negative = len(negatives) == 1
    if one_negative and spec.scenes[0].negative:
        out.append(f"  negative: {quote(spec.scenes[0].negative)}")
    # channels that are one number over the whole film go into the film block
    film_wide: dict[str, str] = {}
    for ch in spec.channels:
        if ch.name == "seed":  # `seed:` in the film block is the film's seed, not the channel
            continue
        pts = ch.points.slice(0, spec.frames, spec.frames, spec.seed)
        if all(isinstance(p.value, float) for p in pts) and len({ch.convert.number(p.value) for p in pts}) == 1:  # type: ignore[arg-type]
            film_wide[ch.name] = _value_text(pts[0].value, ch.convert, ch.names)
    for ch in spec.channels:
        if ch.name in film_wide:
            if ch.comment:
                out.append(f"  # {ch.comment}")
            out.append(f"  {ch.name}: {film_wide[ch.name]}")
    out.append("}")
    out.append("")
    lets: dict[str, str] = dict(spec.lets)
    scene_blocks: list[list[str]] = []
    names = spec.scene_names or (
        ["main"] if len(spec.scenes) == 1 else [f"part{i + 1}" for i in range(len(spec.scenes))])
    for si, sc in enumerate(spec.scenes):
        block: list[str] = []
        name = names[si]
        block.append(f"scene {name} {duration(sc.end - sc.start, spec.fps)} {{")
        if si > 0:
            block.append("  continue")
        for pk in sc.prompts:
            at = pk.frame - sc.start
            block.append(f"  prompt {quote(pk.text)}" + (f" at {duration(at, spec.fps)}" if at > 0 else "")
                         + (f" blend {duration(pk.blend, spec.fps)}" if pk.blend and at > 0 else ""))
        if not one_negative and sc.negative:
            block.append(f"  negative: {quote(sc.negative)}")
        elif not one_negative:
            block.append('  negative: ""')
        for ch in spec.channels:
            if ch.name in film_wide:
                continue
            pts = ch.points.slice(sc.start, sc.end, spec.frames, spec.seed)
            if CHANNELS[ch.name].sample == "interval" and sc.end - sc.start > 1:
                pts = rate_points(pts, ch.points, sc.start, sc.end, si + 1 < len(spec.scenes), spec.frames, spec.seed)
            if ch.comment and si == 0:
                block.append(f"  # {ch.comment}")
            if _needs_let(pts, ch.convert):
                let_name = f"{ch.name}_deforum" if len(spec.scenes) == 1 else f"{ch.name}_deforum_{name}"
                lets[let_name] = curve_text(pts, Convert(), ch.names, spec.fps)
                conv = ch.convert
                block.append(f"  {ch.name}: {_value_text(nx.Name(let_name), conv, {let_name: let_name})}")
            else:
                block.append(f"  {ch.name}: {curve_text(pts, ch.convert, ch.names, spec.fps)}")
        block.extend(f"  {line}" for line in sc.extra)
        block.append("}")
        scene_blocks.append(block)
    for k, v in lets.items():
        out.append(f"let {k} = {v}")
    if lets:
        out.append("")
    for b in scene_blocks:
        out.extend(b)
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _wrap_words(text: str, width: int) -> list[str]:
    words = text.split()
    lines: list[str] = []
    cur = ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    if cur:
        lines.append(cur)
    return lines or [""]
