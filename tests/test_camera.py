"""Camera positions: `camera { zoom: keys {...} x: keys {...} }` keyframes WHERE the camera
is (docs/language.md, "Camera positions"); the compiler turns them into per-frame moves.

The positions are read back by composing the plan's per-frame motion, as the warp would.
"""

from __future__ import annotations

import math

import pytest

from kscript.compile import compile_source
from kscript.curves.easing import EASINGS
from kscript.errors import ScriptErrors


def plan(body: str, fps: int = 24, size: str = "640x360"):
    return compile_source(f'film "c" {{\n  size: {size}\n  fps: {fps}\n}}\n' + body, "c.kscene")


def positions(p) -> list[dict[str, float]]:
    """Where the camera is on each frame of a one-scene plan, in the language's units:
    the product of the zooms, the sums of the rolls and pans (% of the frame), turns, tilts."""
    w, h = p.film.width, p.film.height
    out, z, a, x, y, tu, ti = [], 1.0, 0.0, 0.0, 0.0, 0.0, 0.0
    for fr in p.frames:
        m = fr.motion
        if fr.scene_frame > 0:  # the first frame is generated: it does not move
            z *= m.zoom
            a, x, y, tu, ti = a + m.angle, x + m.x, y + m.y, tu + m.turn, ti + m.tilt
        out.append({"zoom": z, "angle": a, "x": x * 100 / w, "y": y * 100 / h, "turn": tu, "tilt": ti})
    return out


KEYED = """
scene s 2s {
  prompt "p"
  camera {
    zoom: keys { 0s: 1, 1s: 2 ease_in_out, 2s: 1.5 }
    x: keys { 0s: 0, 1s: 25 ease_in_out, 2s: -10 }
    angle: keys { 0s: 0, 2s: 90 }
    turn: keys { 0s: 0, 1s: 10 }
    tilt: keys { 0s: 0, 1s: -5 }
    y: keys { 0s: 0, 2s: 40 }
  }
}
"""


@pytest.mark.parametrize("fps", [12, 24, 60])
def test_the_camera_is_at_each_keys_value_at_its_time(fps):
    at = positions(plan(KEYED, fps=fps))
    one, last = at[fps], at[-1]  # t = 1 s, and the last frame (t = 2 s - 1/fps)
    assert one["zoom"] == pytest.approx(2.0, abs=1e-4)
    assert one["x"] == pytest.approx(25.0, abs=1e-4)
    assert one["turn"] == pytest.approx(10.0, abs=1e-4) and one["tilt"] == pytest.approx(-5.0, abs=1e-4)
    assert one["angle"] == pytest.approx(45.0, abs=1e-4) and one["y"] == pytest.approx(20.0, abs=1e-4)
    t_last = (2 * fps - 1) / fps  # linear segments: the value at the last frame's time
    assert last["angle"] == pytest.approx(90 * t_last / 2, abs=1e-4)
    assert at[0] == {"zoom": 1.0, "angle": 0.0, "x": 0.0, "y": 0.0, "turn": 0.0, "tilt": 0.0}


def test_easing_shapes_the_position_not_a_speed():
    at = positions(plan(KEYED, fps=24))
    ease = EASINGS["ease_in_out"]
    for f in (3, 6, 12, 18):
        assert at[f]["zoom"] == pytest.approx(1 + ease(f / 24), abs=1e-4)
        assert at[f]["x"] == pytest.approx(25 * ease(f / 24), abs=1e-4)
    # at rest where each segment starts and ends: the first and last moves are tiny
    p = plan(KEYED, fps=24)
    assert abs(p.frames[1].motion.x) < 0.05 and abs(p.frames[24].motion.x) < 0.05
    assert abs(p.frames[12].motion.x) > 1.0


def test_a_position_and_a_speed_of_the_same_channel_add_up():
    body = ('scene s 1s {\n  prompt "p"\n  angle: 24\n  zoom: 2\n'
            '  camera { angle: keys { 0s: 0, 0.5s: 30 }, zoom: keys { 0s: 1, 0.5s: 1.5 } }\n}\n')
    at = positions(plan(body, fps=24))
    # half a second: the keyed 30 degrees plus 24 degrees per second for 12 frames
    assert at[12]["angle"] == pytest.approx(30 + 24 * 12 / 24, abs=1e-4)
    assert at[12]["zoom"] == pytest.approx(1.5 * 2 ** (12 / 24), rel=1e-5)


def test_effects_move_the_camera_on_top_of_its_positions():
    body = 'scene s 1s {\n  prompt "p"\n  effect spin_left\n  camera { angle: keys { 0s: 0, 1s: 12 } }\n}\n'
    at = positions(plan(body, fps=24))
    assert at[12]["angle"] == pytest.approx(6 + 24 * 12 / 24, abs=1e-4)


def test_a_position_curve_of_time_moves_steadily():
    at = positions(plan('scene s 1s {\n  prompt "p"\n  camera { x: 10 * t }\n}\n', fps=30))
    assert [round(p["x"], 4) for p in at[:4]] == [0.0, round(10 / 30, 4), round(20 / 30, 4), 1.0]


def _errors(body: str) -> list[str]:
    with pytest.raises(ScriptErrors) as err:
        plan(body)
    return [f"{d.code} {d.span.line}:{d.span.col} {d.message} | {d.hint}" for d in err.value.diagnostics]


def test_fov_and_generation_channels_have_no_position():
    assert _errors('scene s 1s {\n  prompt "p"\n  camera { fov: 50, strength: 0.5, rotation: 5 }\n}\n') == [
        "E011 7:12 unknown camera position 'fov' | fov is not a camera position: set it as a channel of the scene (fov: ...)",
        "E011 7:21 unknown camera position 'strength' | strength is not a camera position: set it as a channel of the "
        "scene (strength: ...)",
        "E011 7:36 unknown camera position 'rotation' | 'rotation' is called 'angle' in kscript (degrees per second)",
    ]


def test_the_cameras_zoom_must_stay_above_0_and_a_position_is_set_once():
    assert _errors('scene s 2s {\n  prompt "p"\n  camera { zoom: 1 - t, x: 1 }\n  camera { x: 2 }\n}\n') == [
        "E023 7:18 the camera's zoom is 0 on frame 24 (1s) of scene 's'; it must stay above 0 | "
        "the camera's zoom is a scale: 1 as at the scene's start",
        "E033 8:12 the camera's x is set twice in scene 's' | None",
    ]


def test_a_position_that_moves_too_far_in_one_frame_is_refused_at_the_position():
    assert _errors('scene s 1s {\n  prompt "p"\n  camera { x: keys { 0s: 0, 1f: 150 } }\n}\n') == [
        "E023 7:15 x is 3600 on frame 1 (0.042s) of scene 's'; at 24 fps it must stay between -2400 and 2400 "
        "(at most the frame's width per frame): past that the picture collapses or leaves the frame | None",
    ]
