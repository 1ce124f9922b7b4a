"""The channels: one table that says everything about each channel.

A channel is a value per frame, written as a curve (docs/language.md, "Channels"). The
checker (names, hints, constant-only and whole-number rules), the compiler (defaults, how
effects combine, ranges, the conversion to per-frame plan values), the frame keys and the
plan's `Motion` (the order and defaults of the motion channels), the watch page (which
curves it plots) and the docs' channel table (tests/test_channels.py compares them) all
read `CHANNELS` below. Adding a channel is one `Channel` entry here plus its behaviour
where it acts (a motion channel: `kscript.geometry.warp_matrix` and the plan's `Motion`;
a generation channel: the plan's `Frame` and the backends).

Units (decided for the language, /work/UNITS.md): camera channels are rates **per
second** and pans are a **percent of the frame**, so a film moves the same across the
screen over the same seconds at any fps and size. The plan keeps per-frame values (pixels,
degrees, factors: what the executor applies between two frames); `Channel.to_frame` is the
one conversion.

The forward move `z` needs depth (`Channel.needs_depth`): it is a percent of the *scene's
distance* per second, the distance being the harmonic mean of the depth map of the picture
the frame moves (the depth at which a sideways move shifts the picture by exactly `x`/`y`:
kscript.render.depth_warp.scene_distance), so `z: 50` covers half the way to the scene in
a second whatever the depth model's units (relative or metres). A film that uses it names a
`depth:` model (E037 otherwise); with one, `x` and `y` also move the camera through the
depth map (parallax: nearer things pass faster), on average across the frame as far as
without it. Without a depth model the camera is today's homography.

How an effect's contribution combines with the base (the scene's own value, else the
film's, else the default), per channel (`Channel.combine`):

- ``multiply`` (zoom): factors per second compose by multiplying;
- ``add`` (angle, x, y, z, turn, tilt, flip): rates compose by adding;
- ``replace`` (fov and every generation channel): inside the effect's window the effect's
  value replaces the base (the last effect written wins); outside it the base holds. A
  quantity is not a rate: two settings of `steps: 20` are 20 steps, not 40, and an
  effect's `seed: 5` seeds the frames of its window with 5 while the others keep film seed
  + frame index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

#: the most denoising steps a frame may have: the language's range for `steps`, and the
#: ceiling of the compiler's one-step guard (schedulers allow at most 1000)
MAX_STEPS = 500
MAX_SEED = 2**32 - 1

Kind = Literal["motion", "generation"]
Combine = Literal["multiply", "add", "replace"]
#: Which time a channel's curve is evaluated at for frame f (the compiler reads it):
#:
#: - ``"frame"``: the frame's own time, t = f / fps (a quantity the frame has: strength,
#:   steps, seed, the field of view);
#: - ``"interval"``: the middle of the interval the frame's move covers, t = (f - 1/2) / fps.
#:   A camera rate is what the warp applies from frame f - 1 to frame f: the integral of
#:   the speed over that interval. The midpoint rule gives it exactly for a speed that is
#:   linear there (a constant, a ramp, a linear keyframe segment) and lands a step in time
#:   (`10 if t < 1s else 0`) on the right side, so the camera's position at a time is the
#:   integral of the speed up to it at any fps (tests/test_motion_fps.py); sampling at the
#:   frame's own time (the right end) lost half a frame of speed change per frame, 3 % of
#:   a pan easing to rest at 12 fps against 60. Ramps and `u` run over the scene's time
#:   (0 at its start, 1 at its end, n / fps), not from its first to its last frame: the
#:   last frame's time is 1/fps before the end, so a ramp ending there would be a different
#:   speed at each fps. The frame indices `f` and `F` stay whole numbers (a curve of the
#:   frame index keeps its meaning). A scene's first frame has no interval of its own: a
#:   `continue` scene's first move covers the last interval of the scene before, so it is
#:   that scene's speed there (t = n - 1/2 frames of it); a scene that starts afresh
#:   keeps the value at t = 0 (it warps nothing). Details: docs/language.md, "Units".
Sample = Literal["frame", "interval"]


@dataclass(frozen=True)
class Range:
    """Allowed values: `low`..`high`, each end included or not, and how to say it."""

    low: float
    high: float
    low_inclusive: bool = True
    high_inclusive: bool = True
    words: str = ""

    def holds(self, v: float) -> bool:
        if v < self.low or (v == self.low and not self.low_inclusive):
            return False
        if v > self.high or (v == self.high and not self.high_inclusive):
            return False
        return True

    def clamp(self, v: float) -> float:
        lo = self.low if self.low_inclusive else math.nextafter(self.low, math.inf)
        hi = self.high if self.high_inclusive else math.nextafter(self.high, -math.inf)
        return min(max(v, lo), hi)


def _power(base: float, exponent: float) -> float:
    """`base ** exponent` for a factor, infinite where it overflows (`zoom: 1000` at
    `fps: 0.001` is 1000^1000 per frame): the range check that follows then names the frame
    instead of Python raising OverflowError."""
    try:
        return base**exponent
    except OverflowError:
        return math.inf


@dataclass(frozen=True)
class Channel:
    """One channel of the language (see the module docstring)."""

    name: str
    kind: Kind
    default: float | None  # None: `seed`, whose default is film seed + frame index in the scene
    combine: Combine
    unit: str  # the language's unit, as the docs' table says it
    meaning: str  # the docs' "meaning and sign" column
    range: Range | None = None  # in the language's unit
    #: what a camera can do between two frames, in the plan's per-frame unit (pixels for
    #: x and y are given as a fraction of the frame's width or height): past it the
    #: picture collapses or leaves the frame
    frame_range: Range | None = None
    whole: bool = False  # whole numbers: a constant must be whole, a curve is rounded per frame
    constant_only: bool = False  # one value for the whole scene (E031 otherwise)
    hint_words: tuple[str, ...] = ()  # names people use for it elsewhere (Deforum, Parseq, AE)
    range_hint: str | None = None
    plotted: bool = False  # the watch page plots it
    #: the plan's per-frame value from the language's: "factor_per_second" (v ** (1/fps)),
    #: "per_second" (v / fps), "percent_per_second" (v / 100 / fps), "width_percent_per_second" / "height_percent_per_second"
    #: (v / 100 * size / fps pixels), or "same"
    conversion: str = "same"
    #: the unit of the camera's position on this channel in a `camera { }` block (None: the
    #: channel has no position); its change from one frame to the next is that frame's move
    position: str | None = None
    #: the channel moves the camera through the depth map: a film using it needs `depth:` (E037)
    needs_depth: bool = False
    #: in frame keys even at its default: False for channels added after plans were first
    #: keyed (`z`), so the keys of films that do not use them stay as they were
    keyed_at_default: bool = True
    #: the time the channel's curve is evaluated at for frame f (see `Sample`)
    sample: Sample = "frame"

    def to_frame(self, value: float, fps: float, width: int, height: int) -> float:
        """The plan's per-frame value of a language value of this channel."""
        c = self.conversion
        if c == "same":
            return value
        if c == "factor_per_second":
            return _power(value, 1.0 / fps)
        if c == "per_second":
            return value / fps
        if c == "percent_per_second":
            return value / 100.0 / fps
        if c == "width_percent_per_second":
            return value / 100.0 * width / fps
        if c == "height_percent_per_second":
            return value / 100.0 * height / fps
        raise ValueError(f"unknown conversion {c!r}")  # pragma: no cover - the table is fixed

    def from_frame(self, value: float, fps: float, width: int, height: int) -> float:
        """The language value whose per-frame value is `value` (the inverse of `to_frame`)."""
        c = self.conversion
        if c == "same":
            return value
        if c == "factor_per_second":
            return _power(value, fps)
        if c == "per_second":
            return value * fps
        if c == "percent_per_second":
            return value * 100.0 * fps
        if c == "width_percent_per_second":
            return value * 100.0 * fps / width
        if c == "height_percent_per_second":
            return value * 100.0 * fps / height
        raise ValueError(f"unknown conversion {c!r}")  # pragma: no cover

    def frame_limit(self, width: int, height: int) -> Range | None:
        """`frame_range` in plan units (pixels for the pans)."""
        r = self.frame_range
        if r is None:
            return None
        scale = width if self.conversion == "width_percent_per_second" else (
            height if self.conversion == "height_percent_per_second" else 1.0)
        return Range(r.low * scale, r.high * scale, r.low_inclusive, r.high_inclusive, r.words)


_CHANNELS: tuple[Channel, ...] = (
    Channel(
        "zoom", "motion", 1.0, "multiply", "factor per second",
        "scale about the centre; 1 is still, 2 is twice as large after a second (moves in), 0.5 half "
        "as large (moves out). Between 0.001 and 1000",
        range=Range(0.001, 1000.0, words="between 0.001 and 1000 (a factor per second)"),
        frame_range=Range(0.5, 2.0, words="a factor of 0.5 to 2 per frame"),
        hint_words=("scale", "zoom_factor"),
        range_hint="zoom is a factor per second: 1 stands still, 1.2 moves in, 0.8 moves out",
        plotted=True, conversion="factor_per_second", sample="interval",
        position="scale (1 is the size at the scene's start, 2 twice as large)",
    ),
    Channel(
        "angle", "motion", 0.0, "add", "degrees per second",
        "roll about the view axis; positive turns the picture counter-clockwise",
        frame_range=Range(-90.0, 90.0, words="at most 90 degrees per frame"),
        hint_words=("rotation", "roll", "rotate", "rotation_z", "rotation_3d_z", "spin"),
        plotted=True, conversion="per_second", sample="interval", position="degrees of roll",
    ),
    Channel(
        "x", "motion", 0.0, "add", "% of the width per second",
        "pan; positive pans the camera right (the picture moves left); 100 crosses the frame's width in a second",
        frame_range=Range(-1.0, 1.0, words="at most the frame's width per frame"),
        hint_words=("translation_x", "pan_x", "pan", "dx", "position_x"),
        plotted=True, conversion="width_percent_per_second", sample="interval", position="% of the width",
    ),
    Channel(
        "y", "motion", 0.0, "add", "% of the height per second",
        "pan; positive pans the camera up (the picture moves down); 100 crosses the frame's height in a second",
        frame_range=Range(-1.0, 1.0, words="at most the frame's height per frame"),
        hint_words=("translation_y", "pan_y", "dy", "position_y"),
        plotted=True, conversion="height_percent_per_second", sample="interval", position="% of the height",
    ),
    Channel(
        "z", "motion", 0.0, "add", "% of the scene's distance per second",
        "forward move through the depth map (needs `depth:`); positive moves the camera forward, "
        "near things grow faster than far ones; 50 covers half the distance to the scene in a second",
        frame_range=Range(-0.5, 0.5, words="at most half the scene's distance per frame"),
        hint_words=("translation_z", "dolly", "forward", "push_in"),
        range_hint="z is a percent of the distance to the scene per second: 10 moves gently forward",
        plotted=True, conversion="percent_per_second", sample="interval", position="% of the scene's distance",
        needs_depth=True, keyed_at_default=False,
    ),
    Channel(
        "turn", "motion", 0.0, "add", "degrees per second",
        "yaw, a 3D camera rotation; positive turns right",
        frame_range=Range(-45.0, 45.0, words="at most 45 degrees per frame"),
        hint_words=("yaw", "pan_angle", "rotation_y", "rotation_3d_y"),
        plotted=True, conversion="per_second", sample="interval", position="degrees of yaw",
    ),
    Channel(
        "tilt", "motion", 0.0, "add", "degrees per second",
        "pitch, a 3D camera rotation; positive tilts up",
        frame_range=Range(-45.0, 45.0, words="at most 45 degrees per frame"),
        hint_words=("pitch", "rotation_x", "rotation_3d_x"),
        plotted=True, conversion="per_second", sample="interval", position="degrees of pitch",
    ),
    Channel(
        "flip", "motion", 0.0, "add", "degrees per second",
        "perspective flip of the picture plane (Deforum's 2D perspective_flip_phi); positive tips its top "
        "edge away: the top moves down and narrows, the bottom edge barely moves",
        frame_range=Range(-45.0, 45.0, words="at most 45 degrees per frame"),
        hint_words=("perspective_flip_phi", "flip_phi", "phi", "perspective_flip"),
        conversion="per_second", sample="interval",
    ),
    Channel(
        "fov", "motion", 40.0, "replace", "degrees",
        "field of view used by `turn` and `tilt`; above 0, below 180",
        range=Range(0.0, 180.0, False, False, "above 0 and below 180 degrees"),
        hint_words=("field_of_view", "fov_deg"),
        range_hint="the field of view in degrees (default 40)",
    ),
    Channel(
        "strength", "generation", 0.35, "replace", "0…1",
        "how much img2img redraws each frame; 0 means warp only, no model call",
        range=Range(0.0, 1.0, words="between 0 and 1"),
        hint_words=("denoise", "denoising_strength", "strength_schedule", "img2img_strength"),
        range_hint="strength is how much of each frame is redrawn: 0 keeps the warped picture, 1 redraws it all",
        plotted=True,
    ),
    Channel(
        "guidance", "generation", 4.0, "replace", "number",
        "classifier-free guidance scale, 0…50",
        range=Range(0.0, 50.0, words="between 0 and 50"),
        hint_words=("cfg_scale", "cfg", "guidance_scale", "scale_schedule"),
        range_hint="how closely the model follows the prompt; 3 to 12 is usual",
    ),
    Channel(
        "steps", "generation", 30.0, "replace", "whole number",
        "denoising steps of a full generation, 1…500 (a constant must be whole; a curve that changes "
        "is rounded frame by frame); an img2img call runs `int(steps * strength)` of them (at least one: "
        "the frame's steps are raised up to 500 for that; a strength too faint for one step in 500 is warp only)",
        range=Range(1.0, float(MAX_STEPS), words=f"between 1 and {MAX_STEPS}"),
        whole=True,
        hint_words=("num_inference_steps", "sampling_steps", "step"),
        range_hint="denoising steps; 20 to 50 is usual",
    ),
    Channel(
        "noise", "generation", 0.0, "replace", "0…1",
        "seeded noise added before img2img (keeps detail alive on long loops)",
        range=Range(0.0, 1.0, words="between 0 and 1"),
        hint_words=("noise_schedule", "noise_amount"),
        range_hint="noise is an amount: 0 adds none, 1 the most",
    ),
    Channel(
        "seed", "generation", None, "replace", "whole number",
        "the frame's seed",
        range=Range(0.0, float(MAX_SEED), words=f"between 0 and {MAX_SEED}"),
        whole=True,
        hint_words=("seed_schedule", "random_seed"),
        range_hint="seeds are whole numbers from 0",
    ),
    Channel(
        "cadence", "generation", 1.0, "replace", "whole number",
        "run the model on every Nth frame; the frames between blend the two model frames around them, no model call; a constant, 1…1000",
        range=Range(1.0, 1000.0, words="between 1 and 1000"),
        whole=True, constant_only=True,
        hint_words=("diffusion_cadence",),
        range_hint="cadence N runs the model on every Nth frame",
    ),
)

#: every channel by name, in the table's order (motion first, then generation)
CHANNELS: dict[str, Channel] = {c.name: c for c in _CHANNELS}
CHANNEL_NAMES: tuple[str, ...] = tuple(CHANNELS)
MOTION_CHANNELS: tuple[str, ...] = tuple(c.name for c in _CHANNELS if c.kind == "motion")
GENERATION_CHANNELS: tuple[str, ...] = tuple(c.name for c in _CHANNELS if c.kind == "generation")
PLOTTED: tuple[str, ...] = tuple(c.name for c in _CHANNELS if c.plotted)
#: the motion channels that move the camera through a depth map (a film using one needs `depth:`)
DEPTH_CHANNELS: tuple[str, ...] = tuple(c.name for c in _CHANNELS if c.needs_depth)
#: the channels a `camera { }` block can place
POSITIONS: tuple[str, ...] = tuple(c.name for c in _CHANNELS if c.position is not None)


def meaning_hint(word: str, names: tuple[str, ...] | None = None) -> str | None:
    """A "did you mean" by meaning: `rotation` -> angle, `cfg_scale` -> guidance, ...

    Only channels in `names` (all by default) are suggested. Case and `-`/space are forgiven.
    """
    w = word.strip().lower().replace("-", "_").replace(" ", "_")
    for c in _CHANNELS:
        if names is not None and c.name not in names:
            continue
        if w in c.hint_words:
            unit = f" ({c.unit})" if c.kind == "motion" else ""
            return f"'{word}' is called '{c.name}' in kscript{unit}"
    return None


# Deforum-Kandinsky's animation presets (the names its bot and its `Script` take) -> the
# standard effect that moves the picture the same way on screen. The language accepts each
# name as an alias of its effect (`effect spin_clockwise` is `effect spin_left`), and
# docs/language.md, "Standard effects", is the table people read, with what each does on
# screen (a test compares them). Measured on its code (helpers/script.py and its 3D warp):
# its `spin_clockwise` (rotation_3d_z = +acc) turns the picture COUNTER-clockwise on screen,
# so it is `spin_left`; its `left_sinus_y` moves out (translation_z = -acc) swaying
# sideways, so it is `zoom_out_sway`, not a pan.
DEFORUM_PRESETS: dict[str, str] = {
    "right": "pan_right",
    "left": "pan_left",
    "up": "pan_up",
    "down": "pan_down",
    "spin_clockwise": "spin_left",
    "spin_counterclockwise": "spin_right",
    "zoomin": "zoom_in",
    "zoomout": "zoom_out",
    "rotate_right": "turn_right",
    "rotate_left": "turn_left",
    "rotate_up": "tilt_up",
    "rotate_down": "tilt_down",
    "around_right": "orbit_right",
    "around_left": "orbit_left",
    "zoomin_sinus_x": "zoom_in_sway",
    "zoomout_sinus_y": "zoom_out_bob",
    "right_sinus_y": "pan_right_bob",
    "left_sinus_y": "zoom_out_sway",
    "flipping_phi": "flip",
    "live": "live",
}


def preset_alias(name: str) -> str | None:
    """The standard effect a Deforum-Kandinsky preset name stands for (None: not one)."""
    effect = DEFORUM_PRESETS.get(name)
    return None if effect is None or effect == name else effect


def aliases_of(effect: str) -> tuple[str, ...]:
    """The Deforum-Kandinsky names of a standard effect (`spin_left` -> spin_clockwise)."""
    return tuple(p for p, e in DEFORUM_PRESETS.items() if e == effect and p != effect)


def preset_hint(name: str) -> str | None:
    """For a Deforum-Kandinsky preset name written in another case or with `-` (names are
    case-sensitive, so `effect Spin_Clockwise` is not the alias): the name to write."""
    key = name.strip().lower().replace("-", "_")
    effect = DEFORUM_PRESETS.get(key)
    if effect is None or key == name:
        return None
    alias = f"Deforum-Kandinsky's name, an alias of the standard effect '{effect}'" if effect != key else \
        "a standard effect"
    return f"did you mean '{key}'? ({alias}; names are case-sensitive)"
