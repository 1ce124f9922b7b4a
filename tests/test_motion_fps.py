"""A speed that changes moves the camera the same over the same seconds at any fps and size.

A camera channel is a speed (docs/language.md, "Units"); the camera's position at a time
is the integral of the speed since the scene started. Each test builds the same film at
12, 24, 30 and 60 fps and at 512x512, 640x640 and 1280x720, composes the plan's per-frame
warps up to 1 s, 2 s and the scene's end (2.5 s, the next scene's first frame: frame
times every one of these frame rates has) and measures what the issue names: the
accumulated zoom (its log), roll (degrees) and pan (where the frame's centre went, as a
fraction of the frame's width or height). They must agree within 1 %, and with the
integral of the speed written in the film.

Before frames were sampled at the middle of the interval they move over
(`Channel.sample`, kscript/channels.py), a frame moved by the speed at its own time: a
pan easing to rest covered about 3 % less at 12 fps than at 60.
"""

from __future__ import annotations

import math

import pytest

from kscript.channels import CHANNELS
from kscript.compile import compile_source
from kscript.curves.easing import get_easing
from kscript.geometry import apply, matmul, warp_matrix

FPS = (12, 24, 30, 60)
SIZES = ("512x512", "640x640", "1280x720")
TIMES = (1.0, 2.0, 2.5)  # 2.5 s: the end of the moving scene, the next scene's first frame
D = 2.5  # the moving scene's length


def film(moves: str, fps: float, size: str) -> str:
    """A 2.5 s scene that moves, then a still scene that continues from it."""
    return (f'film "t" {{\n  size: {size}\n  fps: {fps}\n  seed: 1\n}}\n'
            f'scene moving {D:g}s {{\n  prompt "p"\n  {moves}\n}}\n'
            'scene after 1s {\n  prompt "p"\n  continue\n}\n')


def accumulated(plan, times: tuple[float, ...]) -> list[tuple[float, float, float]]:
    """log(zoom), roll (degrees) and the centre's move (fraction of the width) at each of
    `times`, composing the per-frame warps of the frames up to it (frame 0 is generated:
    no warp)."""
    w, h, fps = plan.film.width, plan.film.height, plan.film.fps
    total = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    cx, cy = (w - 1) / 2, (h - 1) / 2
    out = []
    done = 0
    for t in times:
        for fr in plan.frames[done + 1:round(t * fps) + 1]:
            total = matmul(warp_matrix(w, h, **fr.motion.model_dump()), total)
        done = round(t * fps)
        zoom = math.hypot(total[0][0], total[1][0])
        roll = math.degrees(math.atan2(total[0][1], total[0][0]))
        px, _ = apply(total, cx, cy)
        out.append((math.log(zoom), roll, (px - cx) / w))
    return out


def integral(speed, t: float, n: int = 4000) -> float:
    """The integral of `speed` from 0 to t (Simpson's rule on n intervals)."""
    step = t / n
    s = speed(0.0) + speed(t) + sum((4 if k % 2 else 2) * speed(k * step) for k in range(1, n))
    return s * step / 3


ease = get_easing("ease_in_out")

# (the scene's motion line, which measure it moves, its speed in the measure's unit per
# second: log-zoom, degrees, fraction of the width; a pan of +x moves the centre left)
CASES = {
    "ramp x": ("x: 20 -> 0", 2, lambda t: -0.20 * (1 - t / D)),
    "ramp zoom": ("zoom: 1.5 -> 1", 0, lambda t: math.log(1.5 - 0.5 * t / D)),
    "ramp angle": ("angle: 30 -> 0", 1, lambda t: 30 * (1 - t / D)),
    "pan_right": ("effect pan_right(rate = 2)", 2, lambda t: -0.1875 * (1 - t / D)),
    # the factor per second ramps from 1.0745 ^ 3 to 1
    "zoom_in": ("effect zoom_in(rate = 3)", 0, lambda t: math.log(1.0745**3 + (1 - 1.0745**3) * t / D)),
    "spin_left": ("effect spin_left", 1, lambda t: 24.0),
    "eased ramp": ("x: 20 -> 0 ease_in_out", 2, lambda t: -0.20 * (1 - ease(t / D))),
    "keyframed speed": ("x: keys { 0s: 0, 1s: 20, 2.5s: 0 }", 2,
                        lambda t: -0.20 * (t if t < 1 else (D - t) / (D - 1))),
    "oscillator": ("x: 10 * sin(2 * pi * t / 6s)", 2, lambda t: -0.10 * math.sin(2 * math.pi * t / 6)),
    "step in time": ("x: if t < 1s then 10 else 0", 2, lambda t: -0.10 if t < 1 else 0.0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_changing_speed_moves_the_camera_the_same_at_any_fps_and_size(case):
    moves, measure, speed = CASES[case]
    runs = {(fps, size): accumulated(compile_source(film(moves, fps, size)), TIMES) for fps in FPS for size in SIZES}
    for i, t in enumerate(TIMES):
        want = integral(speed, t) if case != "step in time" else -0.10 * min(t, 1.0)
        got = {k: run[i][measure] for k, run in runs.items()}
        assert abs(want) > 0.01, (case, t)  # a move worth measuring
        off = {k: round(v / want - 1, 4) for k, v in got.items() if abs(v / want - 1) > 0.01}
        assert not off, f"{case} at {t}s: moved {want:.5f}; these (fps, size) differ by more than 1 %: {off}"
        spread = (max(got.values()) - min(got.values())) / abs(want)
        assert spread <= 0.01, f"{case} at {t}s: the frame rates and sizes differ by {spread:.2%}"


def test_a_step_in_time_lands_on_the_frame_whose_interval_holds_it():
    """`10 if t < 1s` moves every frame up to the one at 1 s, and none after, at any fps."""
    for fps in FPS:
        plan = compile_source(film("x: if t < 1s then 10 else 0", fps, "640x640"))
        moving = [fr.index for fr in plan.frames[1:] if fr.motion.x != 0]
        assert moving == list(range(1, fps + 1)), fps


def test_a_frame_index_curve_keeps_whole_frame_indices():
    """`f` stays the frame's index: a curve of it alternates frame by frame as written."""
    plan = compile_source(film("angle: if f % 2 then 120 else -120", 24, "640x640"))
    assert [fr.motion.angle for fr in plan.frames[1:5]] == [5.0, -5.0, 5.0, -5.0]


def test_generation_channels_stay_at_the_frames_own_time():
    """strength is what the frame has, not a rate: its ramp ends on the scene's last frame."""
    plan = compile_source(film("strength: 0.2 -> 0.6\n  x: 20 -> 0", 12, "640x640"))
    strengths = [fr.strength for fr in plan.frames[:30]]
    assert strengths[0] == 0.2 and strengths[29] == 0.6


def test_a_continue_scene_first_move_is_the_speed_of_the_scene_before_at_its_end():
    """The move into a continued scene covers the last interval of the scene before."""
    plan = compile_source(film("x: 12", 12, "640x640"))
    first_after = plan.frames[30]  # scene `after` starts at 2.5 s
    assert first_after.op == "continue"
    assert first_after.motion.x == pytest.approx(12 / 100 * 640 / 12, abs=1e-6)
    assert plan.frames[31].motion.x == 0.0


def test_the_rates_and_only_the_rates_are_read_over_their_interval():
    """The table says which time each channel is read at: a camera rate (a value per second,
    converted to a move per frame) over its frame's interval, anything else at the frame."""
    for ch in CHANNELS.values():
        assert (ch.sample == "interval") == (ch.conversion != "same"), ch.name
