"""What the plan says for each rule of the language (docs/language.md, "How channels combine").

Each test compiles a small film and reads the frames it cares about. The plan's motion is
per frame (pixels, degrees, factors); `plan_of` reads it back in the language's units
(per second, percent of the frame: /work/UNITS.md, docs/language.md "Channels") with the
formulas written out here, to 4 decimals, so the rules read in the units the film is
written in. tests/test_channels.py tests the conversion itself.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from kscript.compile import compile_source
from kscript.plan import RenderPlan

HEAD = 'film "t" {\n  size: 256x256\n  fps: 24\n  seed: 10\n}\n'


def per_second(m, fps: float, width: int, height: int) -> SimpleNamespace:
    """A plan `Motion` (per frame) in the language's units (per second, % of the frame)."""
    return SimpleNamespace(
        zoom=round(m.zoom**fps, 4),
        angle=round(m.angle * fps, 4) + 0.0,
        x=round(m.x * fps * 100 / width, 4) + 0.0,
        y=round(m.y * fps * 100 / height, 4) + 0.0,
        turn=round(m.turn * fps, 4) + 0.0,
        tilt=round(m.tilt * fps, 4) + 0.0,
        fov=m.fov,
    )


def plan_of(body: str, head: str = HEAD) -> RenderPlan:
    plan = compile_source(head + body)
    film = plan.film
    frames = [fr.model_copy(update={"motion": per_second(fr.motion, film.fps, film.width, film.height)})
              for fr in plan.frames]
    return plan.model_copy(update={"frames": frames})


def frames_of(plan: RenderPlan, scene: str):
    return [f for f in plan.frames if f.scene == scene]


def test_two_zoom_effects_multiply_and_other_channels_add():
    plan = plan_of(
        """
effect z1() { zoom: 1.02
  x: 1 }
effect z2() { zoom: 1.03
  x: 2 }
scene s 1s {
  prompt "p"
  effect z1
  effect z2
  x: 0.5
}
"""
    )
    for fr in plan.frames:
        assert fr.motion.zoom == round(1.02 * 1.03, 6)
        assert fr.motion.x == 3.5


def test_outside_its_window_an_effect_is_the_identity():
    plan = plan_of(
        """
effect z() { zoom: 1.02
  angle: 3 }
scene s 4s {
  prompt "p"
  effect z from 1s to 2s
}
"""
    )
    fr = plan.frames
    # A rate moves the frames whose interval's middle is in the window (kscript/channels.py,
    # `Sample`): frame 25's move covers 24/24..25/24 s, frame 48's 47/24..48/24 s.
    assert [f.motion.zoom for f in fr[:25]] == [1.0] * 25
    assert [f.motion.zoom for f in fr[25:49]] == [1.02] * 24
    assert [f.motion.zoom for f in fr[49:]] == [1.0] * 47
    assert [f.motion.angle for f in fr[49:]] == [0.0] * 47


def test_inside_a_window_t_is_scene_time_and_ramps_run_over_the_window():
    plan = plan_of(
        """
effect e() { x: t
  y: 0 -> 10 }
scene s 4s {
  prompt "p"
  effect e from 1s to 2s
}
"""
    )
    fr = plan.frames
    # A rate is read at the middle of each frame's interval: frame 25 at t = 24.5 / 24 s.
    assert fr[25].motion.x == round(24.5 / 24, 4)  # scene time, not window time
    # the ramp spans the window's time, 1 s to 2 s: 0 at its start, 10 at its end
    assert fr[25].motion.y == round(10 * 0.5 / 24, 4) and fr[48].motion.y == round(10 * 23.5 / 24, 4)
    assert fr[24].motion.x == 0.0 and fr[49].motion.x == 0.0


def test_direct_assignment_replaces_the_film_default():
    head = HEAD.replace("seed: 10", "seed: 10\n  strength: 0.5\n  guidance: 7")
    plan = plan_of(
        """
scene a 1s {
  prompt "a"
  strength: 0.2
}
scene b 1s {
  prompt "b"
}
""",
        head,
    )
    assert {f.strength for f in frames_of(plan, "a")} == {0.2}
    assert {f.strength for f in frames_of(plan, "b")} == {0.5}
    assert {f.guidance for f in plan.frames} == {7.0}


def test_builtin_defaults():
    plan = plan_of('scene s 1s {\n  prompt "p"\n}\n')
    f = plan.frames[1]
    assert (f.strength, f.guidance, f.steps, f.noise, f.motion.fov, f.motion.zoom) == (0.35, 4.0, 30, 0.0, 40.0, 1.0)


def test_a_ramp_starts_on_the_first_frame_and_ends_on_the_last():
    plan = plan_of('scene s 2s {\n  prompt "p"\n  strength: 0.45 -> 0.3 ease_in_out\n}\n')
    values = [f.strength for f in plan.frames]
    assert values[0] == 0.45 and values[-1] == 0.3
    assert all(0.3 <= v <= 0.45 for v in values)
    assert values == sorted(values, reverse=True)


def test_keyframes_hit_their_values_and_hold_outside():
    # guidance is read at each frame's own time (a rate such as zoom at the middle of the
    # frame's interval: tests/test_motion_fps.py)
    plan = plan_of('scene s 4s {\n  prompt "p"\n  guidance: keys { 1s: 2, 2s: 6, 3s: 2 ease_out }\n}\n')
    z = [f.guidance for f in plan.frames]
    assert z[:25] == [2.0] * 25  # holds before the first key
    assert z[36] == 4.0  # linear into the 2s key
    assert z[48] == 6.0
    assert z[72:] == [2.0] * 24  # holds after the last key
    assert z[60] < 4.0  # ease_out (down to 2): past half-way at half time


def test_durations_in_frames_use_the_film_fps():
    plan = plan_of('scene s 36f {\n  prompt "p"\n  guidance: t / 12f\n}\n', HEAD.replace("fps: 24", "fps: 12"))
    assert len(plan.frames) == 36
    assert plan.frames[12].guidance == 1.0  # t = 1 s, 12f = 1 s


def test_prompt_weights_blend_linearly_and_sum_to_one():
    plan = plan_of('scene s 4s {\n  prompt "a"\n  prompt "b" at 2s blend 1s\n}\n')
    fr = plan.frames
    assert [(p.text, p.weight) for p in fr[47].prompts] == [("a", 1.0)]
    assert [(p.text, p.weight) for p in fr[48].prompts] == [("a", 1.0)]  # weight 0 is left out
    assert [(p.text, p.weight) for p in fr[60].prompts] == [("a", 0.5), ("b", 0.5)]
    assert [(p.text, p.weight) for p in fr[72].prompts] == [("b", 1.0)]
    for f in fr:
        assert math.isclose(sum(p.weight for p in f.prompts), 1.0, abs_tol=1e-9)
        assert all(p.weight > 0 for p in f.prompts)


def test_a_prompt_without_blend_takes_over_at_once():
    plan = plan_of('scene s 2s {\n  prompt "a"\n  prompt "b" at 1s\n}\n')
    assert [p.text for p in plan.frames[23].prompts] == ["a"]
    assert [p.text for p in plan.frames[24].prompts] == ["b"]


def test_cadence_warps_between_model_frames():
    plan = plan_of('scene s 1s {\n  prompt "p"\n  cadence: 3\n}\n')
    ops = [f.op for f in plan.frames]
    assert ops[0] == "generate"
    assert ops[1:7] == ["warp", "warp", "animate", "warp", "warp", "animate"]


def test_strength_zero_is_warp_only():
    plan = plan_of('scene s 1s {\n  prompt "p"\n  strength: 0\n  zoom: 1.01\n}\n')
    assert [f.op for f in plan.frames] == ["generate"] + ["warp"] * 23
    assert plan.model_calls() == {"text2image": 1, "img2img": 0, "inpaint": 0}


def test_low_strength_gets_at_least_one_denoising_step():
    plan = plan_of('scene s 1s {\n  prompt "p"\n  strength: 0.01\n  steps: 30\n}\n')
    animate = [f for f in plan.frames if f.op == "animate"]
    assert animate and all(f.steps == 100 and int(f.steps * f.strength) == 1 for f in animate)
    assert plan.frames[0].steps == 30  # text-to-image uses all its steps


def test_a_strength_too_faint_for_one_step_in_500_is_warp_only():
    from kscript.plan import MAX_STEPS

    # A ramp from 0 starts with strengths like 5e-7 (ease_in): no step count could give
    # them one denoising step, and diffusers refuses more than 1000.
    plan = plan_of('scene s 2s {\n  prompt "p"\n  strength: 0 -> 0.4 ease_in\n  steps: 4\n}\n')
    frames = plan.frames[1:]
    assert all(f.steps <= MAX_STEPS for f in plan.frames)
    faint = [f for f in frames if f.strength > 0 and int(MAX_STEPS * f.strength) < 1]
    assert faint and all(f.op == "warp" and f.steps == 4 for f in faint)
    assert all(int(f.steps * f.strength) >= 1 for f in frames if f.op == "animate")
    assert any(f.op == "animate" and f.steps > 4 for f in frames)  # raised where it can be
    assert plan.model_calls()["img2img"] == sum(1 for f in frames if f.op == "animate")


def test_crossfade_weights_and_source():
    plan = plan_of('scene a 1s {\n  prompt "a"\n}\nscene b 1s {\n  prompt "b"\n  transition crossfade 3f\n}\n')
    b = frames_of(plan, "b")
    assert [f.crossfade.weight for f in b[:3]] == [0.25, 0.5, 0.75]
    assert all(f.crossfade.from_frame == 23 for f in b[:3])
    assert all(f.crossfade is None for f in b[3:])
    assert plan.scenes[1].transition.kind == "crossfade" and plan.scenes[1].transition.frames == 3


def test_continue_starts_from_the_previous_scene_last_frame():
    plan = plan_of('scene a 1s {\n  prompt "a"\n}\nscene b 1s {\n  continue\n  prompt "b"\n}\n')
    first = frames_of(plan, "b")[0]
    assert first.op == "continue" and first.inputs == [23]
    assert plan.scenes[1].continues
    assert plan.model_calls()["text2image"] == 1


def test_seeds_are_film_seed_plus_scene_frame_unless_set():
    plan = plan_of('scene a 1s {\n  prompt "a"\n}\nscene b 1s {\n  prompt "b"\n  seed: 42\n}\n')
    assert [f.seed for f in frames_of(plan, "a")] == [10 + i for i in range(24)]
    assert {f.seed for f in frames_of(plan, "b")} == {42}


def test_coherence_refers_to_the_scene_first_frame():
    plan = plan_of('scene a 1s {\n  prompt "a"\n}\nscene b 1s {\n  prompt "b"\n  coherence: lab\n}\n')
    a, b = frames_of(plan, "a"), frames_of(plan, "b")
    assert all(f.coherence == "none" and f.coherence_ref is None for f in a)
    assert b[0].coherence_ref is None
    assert all(f.coherence == "lab" and f.coherence_ref == 24 for f in b[1:])


def test_the_revealed_band_is_painted_once_it_is_material():
    plan = compile_source(HEAD + 'scene a 1s {\n  prompt "a"\n  zoom: 0.5\n}\nscene b 1s {\n  prompt "b"\n  zoom: 2\n}\n')
    assert not plan.frames[0].inpaint  # generate
    a = frames_of(plan, "a")
    # Halving the picture size each second is a zoom of 0.9715 a frame: 3.6 px on each side at
    # 256 px, so two warps reveal a band of 8 pixel centres: painted every 2nd frame.
    assert a[1].motion.zoom == 0.971532
    assert [(f.scene_frame, f.reveal) for f in a if f.inpaint] == [(2 * k, 2) for k in range(1, 12)]
    assert all(f.reveal == 0 for f in a if not f.inpaint)
    assert not any(f.inpaint for f in frames_of(plan, "b"))  # zooming in reveals nothing


def test_a_zoom_in_pushes_an_unpainted_band_out_of_the_frame():
    # 2 px pans a frame reach the 8 px band on every 4th frame; a zoom in between pushes the
    # band out of the frame (what a warp crops is gone), so it starts again from nothing.
    pan = compile_source(HEAD + 'scene a 9f {\n  prompt "a"\n  x: 18.75\n}\n')
    assert pan.frames[1].motion.x == 2.0
    assert [f.scene_frame for f in pan.frames if f.inpaint] == [4, 8]
    zoomed = compile_source(HEAD + 'scene a 9f {\n  prompt "a"\n  x: if f == 3 then 0 else 18.75\n'
                            '  zoom: if f == 3 then 542.8 else 1\n}\n')
    assert zoomed.frames[3].motion.zoom == 1.3
    assert [f.scene_frame for f in zoomed.frames if f.inpaint] == [7]


def test_negative_from_scene_or_film():
    head = HEAD.replace("seed: 10", 'seed: 10\n  negative: "blur"')
    plan = plan_of('scene a 1s {\n  prompt "a"\n}\nscene b 1s {\n  prompt "b"\n  negative "text"\n}\n', head)
    assert {f.negative for f in frames_of(plan, "a")} == {"blur"}
    assert {f.negative for f in frames_of(plan, "b")} == {"text"}


def test_lets_may_use_lets_and_expressions_evaluate_per_frame():
    plan = plan_of('let a = 2\nlet b = a * t\nscene s 1s {\n  prompt "p"\n  guidance: if b > 1 then 1 else b\n}\n')
    xs = [f.guidance for f in plan.frames]
    assert xs[0] == 0.0 and xs[6] == 0.5 and xs[12] == 1.0 and xs[20] == 1.0


def test_scene_layout_and_times():
    plan = plan_of('scene a 1s {\n  prompt "a"\n}\nscene b 500ms {\n  prompt "b"\n}\n')
    assert [(s.name, s.start_frame, s.frame_count) for s in plan.scenes] == [("a", 0, 24), ("b", 24, 12)]
    assert plan.film.frame_count == 36 and plan.film.duration == 1.5
    assert plan.frames[30].time == 1.25 and plan.frames[30].scene_frame == 6


def test_the_plan_is_a_valid_pydantic_plan_and_deterministic():
    src = HEAD + 'scene a 1s {\n  prompt "a"\n  effect zoom_in\n}\nscene b 1s {\n  continue\n  prompt "b"\n  transition crossfade 4f\n}\n'
    one, two = compile_source(src).to_json(), compile_source(src).to_json()
    assert one == two
    assert RenderPlan.model_validate_json(one).to_json() == one


def test_issue_example_film_compiles(tmp_path):
    (tmp_path / "shared_moves.kscene").write_text("let breath = 0.1\n")
    src = ISSUE_FILM
    plan = compile_source(src, str(tmp_path / "film.kscene"))
    assert [(s.name, s.frame_count) for s in plan.scenes] == [("park", 96), ("street", 96), ("sea", 96)]
    sea = frames_of(plan, "sea")
    assert sea[0].op == "continue"
    street = frames_of(plan, "street")
    assert street[0].crossfade is not None and street[11].crossfade is not None and street[12].crossfade is None
    assert street[0].negative == "people"


ISSUE_FILM = '''
film "Autumn in the city" {
  size: 640x640
  fps: 24
  seed: 1234
  model: "preview"
  steps: 30
  guidance: 4
  strength: 0.35
  negative: "low quality, text, watermark"
}

import "shared_moves.kscene"

let wobble = 0.8 * sin(2 * pi * t / 3s)

effect drift(speed = 1.5, sway = 0) {
  x: speed
  angle: sway * sin(2 * pi * t / 2s)
}

scene park 4s {
  prompt "a misty autumn park at dawn, oil painting"
  effect zoom_in
  strength: 0.45 -> 0.3 ease_in_out
}

scene street 4s {
  prompt "a neon city street at night, rain"
  prompt "the same street at sunrise" at 2s blend 1s
  negative "people"
  zoom: keys { 0s: 1.0, 2s: 1.03 ease_out, 4s: 1.0 }
  effect drift(speed = 2)
  transition crossfade 12f
}

scene sea 96f {
  continue
  prompt "stormy sea, dramatic light, oil painting"
  effect spin_left(rate = 2) from 1s to 3s
  angle: wobble
}
'''


@pytest.mark.parametrize("bad", ["", "film", "scene", "}}}", "\x00", "scene a 4s { prompt \"x\" zoom: 1/0 }"])
def test_any_input_gives_diagnostics_not_exceptions(bad):
    from kscript.errors import ScriptErrors

    with pytest.raises(ScriptErrors):
        compile_source(bad)


def test_a_parameter_default_may_use_the_parameters_before_it():
    plan = plan_of('effect e(a = 2, b = a * 3) { x: b }\nscene s 1s {\n  prompt "p"\n  effect e(a = 1)\n}\n')
    assert plan.frames[0].motion.x == 3.0


def test_effect_arguments_may_be_positional_and_change_with_time():
    plan = plan_of('effect e(a, b = 0) { x: a\n  y: b }\nscene s 1s {\n  prompt "p"\n  effect e(t, 2)\n}\n')
    # x is a rate, read at the middle of frame 12's interval: t = 11.5 / 24 s
    assert plan.frames[12].motion.x == round(11.5 / 24, 4) and plan.frames[12].motion.y == 2.0
