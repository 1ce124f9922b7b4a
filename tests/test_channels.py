"""The table of channels (kscript/channels.py) and what reads it.

- Everything that lists channels agrees with the table: the plan's `Motion`, the frame
  key's motion list, the watch page's plots, the docs' channel table.
- Motion means the same at any fps and size: the same film at 12, 24, 30 and 60 fps and at
  512x512, 640x640 and 1280x720 accumulates the same zoom, roll and pan (as a fraction of
  the frame) over the same seconds, composing the plan's per-frame warps.
- An effect replaces a generation channel (and `fov`) inside its window: never a sum.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from kscript.channels import CHANNELS, DEFORUM_PRESETS, MOTION_CHANNELS, PLOTTED
from kscript.compile import compile_source
from kscript.compile.keys import frame_key_data, plan_keys
from kscript.errors import ScriptErrors
from kscript.geometry import apply, matmul, warp_matrix
from kscript.plan import Motion
from kscript.watch.summary import plan_summary

ROOT = Path(__file__).resolve().parents[1]


def film(body: str, fps: float = 24, size: str = "640x640", seed: int = 10) -> str:
    return f'film "t" {{\n  size: {size}\n  fps: {fps}\n  seed: {seed}\n}}\n' + body


# ---------------------------------------------------------------------------- one table


def test_the_plans_motion_has_the_tables_motion_channels_in_order_with_their_defaults():
    fields = Motion.model_fields
    assert tuple(fields) == MOTION_CHANNELS
    assert {k: f.default for k, f in fields.items()} == {c: CHANNELS[c].default for c in MOTION_CHANNELS}


def test_the_frame_key_lists_motion_in_the_tables_order():
    plan = compile_source(film('scene s 2f {\n  prompt "p"\n  zoom: 2\n  x: 10\n  fov: 50\n}\n'))
    fr = plan.frames[1]
    data = frame_key_data(fr, plan.film, plan_keys(plan.frames, plan.film))
    # `z` (added after plans were first keyed, `keyed_at_default` False) only when it moves:
    # the keys of films without it are those they had before it existed
    assert data["motion"] == [getattr(fr.motion, c) for c in MOTION_CHANNELS if c != "z"]
    assert data["motion"][[c for c in MOTION_CHANNELS if c != "z"].index("fov")] == 50.0
    assert not [c for c in MOTION_CHANNELS if not CHANNELS[c].keyed_at_default and c != "z"]
    deep = compile_source(film('scene s 2f {\n  prompt "p"\n  z: 10\n  fov: 50\n}\n').replace(
        "seed: 10\n", 'seed: 10\n  depth: "preview"\n'))
    fr = deep.frames[1]
    data = frame_key_data(fr, deep.film, plan_keys(deep.frames, deep.film))
    assert data["motion"] == [getattr(fr.motion, c) for c in MOTION_CHANNELS]
    assert data["motion"][MOTION_CHANNELS.index("z")] == round(10 / 100 / 24, 6)  # the plan rounds to 6 decimals


def test_the_watch_page_plots_the_tables_plotted_channels_in_the_films_units():
    plan = compile_source(film('scene s 3f {\n  prompt "p"\n  x: 10\n  zoom: 2\n  strength: 0.5\n}\n', fps=12))
    summary = plan_summary(plan)
    # the channels that need depth (z) only in a film with a depth model
    plotted = tuple(c for c in PLOTTED if not CHANNELS[c].needs_depth)
    assert tuple(summary["curves"]) == plotted
    assert [row[0] for row in summary["curve_info"]] == list(plotted)
    deep = plan_summary(compile_source(film('scene s 3f {\n  prompt "p"\n  z: 10\n}\n', fps=12).replace(
        "seed: 10\n", 'seed: 10\n  depth: "preview"\n')))
    assert tuple(deep["curves"]) == PLOTTED
    assert deep["curves"]["z"] == [pytest.approx(10, abs=1e-3)] * 3  # % of the scene's distance per second
    assert summary["curves"]["x"] == [pytest.approx(10, abs=1e-4)] * 3  # % of the width per second
    assert summary["curves"]["zoom"] == [pytest.approx(2, abs=1e-4)] * 3
    assert summary["curves"]["strength"] == [0.5] * 3


def _docs_table() -> list[list[str]]:
    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    section = text[text.index("## Channels"):text.index("## Curves")]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    first_table = []
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        if len(cells) != 5:
            break
        first_table.append(cells)
    return first_table


def test_the_docs_channel_table_is_the_table():
    def default(c):
        if c.default is None:
            return "film seed + frame index in the scene"
        return str(int(c.default)) if c.default == int(c.default) else repr(c.default)

    expected = [[f"`{c.name}`", c.unit, default(c), c.combine, c.meaning] for c in CHANNELS.values()]
    assert _docs_table() == expected


def test_the_docs_preset_table_is_the_alias_table():
    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| `(\w+)` \|", text, re.M)
    assert {preset: effect for effect, preset in rows} == DEFORUM_PRESETS


# ---------------------------------------------------------------------------- units


def test_per_second_units_become_per_frame_plan_values():
    plan = compile_source(film('scene s 2f {\n  prompt "p"\n  zoom: 2\n  angle: 30\n  x: 10\n  y: -5\n'
                               '  turn: 12\n  tilt: -6\n}\n', fps=30, size="1280x720"))
    m = plan.frames[1].motion
    assert m.zoom == round(2 ** (1 / 30), 6)
    assert (m.angle, m.turn, m.tilt) == (1.0, 0.4, -0.2)
    assert m.x == round(10 / 100 * 1280 / 30, 6)  # pixels: a tenth of the width per second
    assert m.y == round(-5 / 100 * 720 / 30, 6)
    assert m.fov == 40.0


# Zoom and roll together; pans with a zoom and a slowly changing speed. (A roll turns the
# pan's axes: on a frame that is not square, "% of the width" along a rolled axis is not a
# fixed fraction of the unrolled frame, so pans are measured without a roll.)
ZOOM_ROLL = 'scene s 3s {\n  prompt "p"\n  zoom: 1.3\n  angle: 20\n}\n'
PANS = 'scene s 3s {\n  prompt "p"\n  zoom: 1.1\n  x: 8 + 2 * sin(2 * pi * t / 8s)\n  y: -4\n}\n'


def _accumulated(plan, seconds: float) -> tuple[float, float, float, float]:
    """Zoom, roll (degrees) and where the frame's centre went (fractions of the width and
    height), composing the per-frame warps of the frames in the first `seconds`."""
    w, h, fps = plan.film.width, plan.film.height, plan.film.fps
    total = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    for fr in plan.frames[1:round(seconds * fps) + 1]:  # frame 0 is generated: no warp
        total = matmul(warp_matrix(w, h, **fr.motion.model_dump()), total)
    zoom = math.hypot(total[0][0], total[1][0])
    roll = math.degrees(math.atan2(total[0][1], total[0][0]))
    cx, cy = (w - 1) / 2, (h - 1) / 2
    px, py = apply(total, cx, cy)
    return zoom, roll, (px - cx) / w, (py - cy) / h


@pytest.mark.parametrize("fps", [12, 30, 60])
@pytest.mark.parametrize("size", ["512x512", "640x640", "1280x720"])
def test_a_film_moves_the_same_over_the_same_seconds_at_any_fps_and_size(fps, size):
    ref_zoom, ref_roll, _, _ = _accumulated(compile_source(film(ZOOM_ROLL, fps=24, size="640x640")), 2.0)
    zoom, roll, _, _ = _accumulated(compile_source(film(ZOOM_ROLL, fps=fps, size=size)), 2.0)
    assert ref_zoom == pytest.approx(1.3**2, rel=1e-4) and ref_roll == pytest.approx(40, rel=1e-4)
    assert zoom == pytest.approx(ref_zoom, rel=0.01)
    assert roll == pytest.approx(ref_roll, rel=0.01)
    _, _, ref_x, ref_y = _accumulated(compile_source(film(PANS, fps=24, size="640x640")), 2.0)
    _, _, pan_x, pan_y = _accumulated(compile_source(film(PANS, fps=fps, size=size)), 2.0)
    assert ref_x < -0.1 and ref_y < -0.05  # the picture moves left and up: the camera right and down
    assert pan_x == pytest.approx(ref_x, rel=0.01)
    assert pan_y == pytest.approx(ref_y, rel=0.01)


def test_a_standard_effect_moves_the_same_at_12_and_60_fps():
    body = 'scene s 2s {\n  prompt "p"\n  effect pan_right(settle = 0)\n  effect pan_down(settle = 0)\n  effect zoom_in(settle = 0)\n}\n'
    a = _accumulated(compile_source(film(body, fps=12, size="512x512")), 1.5)
    b = _accumulated(compile_source(film(body, fps=60, size="1024x1024")), 1.5)
    assert a == pytest.approx(b, rel=0.01)


def test_deforum_translation_x_is_minus_x_and_translation_y_is_y():
    """docs/language.md "From Deforum": Deforum's 2D warp translates the picture by
    (translation_x, translation_y) pixels; kscript's x = -tx * fps * 100 / W and
    y = ty * fps * 100 / H move the picture the same way."""
    fps, w, h, tx, ty = 24, 640, 480, 3.0, 2.0
    x = -tx * fps * 100 / w
    y = ty * fps * 100 / h
    m = warp_matrix(w, h, x=CHANNELS["x"].to_frame(x, fps, w, h), y=CHANNELS["y"].to_frame(y, fps, w, h))
    px, py = apply(m, 100.0, 100.0)
    assert (px, py) == pytest.approx((100.0 + tx, 100.0 + ty))


# ---------------------------------------------------------------------------- effects on generation channels


def _frames(body: str, **kw):
    return compile_source(film(body, **kw)).frames


def test_an_effects_cadence_replaces_the_scenes_not_adds_to_it():
    fr = _frames('effect every2 { cadence: 2 }\nscene s 6f {\n  prompt "p"\n  effect every2\n}\n')
    assert [f.op for f in fr] == ["generate", "warp", "animate", "warp", "animate", "warp"]


def test_an_effects_steps_replace_the_scenes_inside_its_window_only():
    fr = _frames('effect fine { steps: 20 }\nscene s 1s {\n  prompt "p"\n  steps: 30\n'
                 '  effect fine from 0.5s to 1s\n}\n')
    assert [f.steps for f in fr[:12]] == [30] * 12
    assert [f.steps for f in fr[12:]] == [20] * 12


def test_an_effects_fov_replaces_it():
    fr = _frames('effect wide { fov: 40 }\nscene s 2f {\n  prompt "p"\n  fov: 60\n  effect wide\n}\n')
    assert [f.motion.fov for f in fr] == [40.0, 40.0]


def test_an_effects_seed_holds_in_its_window_and_film_seed_plus_frame_outside():
    fr = _frames('effect fixed { seed: 5 }\nscene s 1s {\n  prompt "p"\n  effect fixed from 0.5s to 1s\n}\n')
    assert [f.seed for f in fr] == [10 + i for i in range(12)] + [5] * 12


def test_the_last_effect_written_wins_for_a_replaced_channel():
    fr = _frames('effect a { strength: 0.2 }\neffect b { strength: 0.6 }\nscene s 2f {\n  prompt "p"\n'
                 '  effect a\n  effect b\n}\n')
    assert [f.strength for f in fr] == [0.6, 0.6]


def _errors(src: str) -> list[str]:
    with pytest.raises(ScriptErrors) as err:
        compile_source(src, "f.kscene")
    return [f"{d.code} {d.span.line}:{d.span.col} {d.message}" for d in err.value.diagnostics]


def test_cadence_that_changes_with_time_is_e031_in_an_effect_as_in_a_scene():
    assert _errors(film('effect e { cadence: 1 + f % 3 }\nscene s 1s {\n  prompt "p"\n  effect e\n}\n')) == [
        "E031 6:21 cadence must be a constant, not a value that changes with time"
    ]


def test_a_cadence_argument_that_changes_with_time_is_e031_at_the_use():
    assert _errors(film('effect e(n = 2) { cadence: n }\nscene s 1s {\n  prompt "p"\n  effect e(n = 1 + f % 3)\n}\n')) == [
        "E031 9:3 cadence must be a constant, not a value that changes with time (set by effect 'e')"
    ]


def test_a_steps_constant_set_by_an_effect_must_be_whole():
    assert _errors(film('effect e { steps: 20.5 }\nscene s 1s {\n  prompt "p"\n  effect e\n}\n')) == [
        "E023 9:3 steps must be a whole number, not 20.5 (set by effect 'e')"
    ]


def test_a_zoom_that_overflows_per_frame_is_a_diagnostic_not_a_traceback(tmp_path):
    """`zoom: 1000` at `fps: 0.001` is 1000^1000 per frame: past any float. It is E023 at the
    value, not Python's OverflowError from the unit conversion."""
    from kscript.errors import ScriptErrors
    from kscript.compile import compile_source

    with pytest.raises(ScriptErrors) as err:
        compile_source('film "x" { fps: 0.001 size: 64x64 }\nscene a 4000s { prompt "p" zoom: 1000 }\n', str(tmp_path / "f.kscene"))
    messages = [d.message for d in err.value.diagnostics if d.code == "E023"]
    assert any(m.startswith("zoom overflows on frame 0") for m in messages), messages
