"""The 3D camera in the language and the plan (issue #11): `depth:`, the `z` channel, E037.

- `depth:` names the film's depth model; the plan records it (`FilmInfo.depth`) and marks
  every frame that the executor warps through depth (`Frame.depth`): a translating move
  (`x`, `y`, `z`) in a film with a depth model. Rotations and zoom stay homographies.
- Such a frame's key holds the depth model: another model re-renders those frames and what
  is made from them, and nothing else.
- `z` without a depth model is E037 at the place it is written, with a hint.
- A film without depth has the plan (JSON and keys) it had before the 3D camera.
"""

from __future__ import annotations

import json

import pytest

from kscript.compile import compile_source
from kscript.compile.keys import plan_keys
from kscript.compile.plan_file import problems as plan_problems
from kscript.errors import ScriptErrors
from kscript.plan import RenderPlan


def film(body: str, depth: str | None = "preview", fps: int = 4) -> str:
    line = f'  depth: "{depth}"\n' if depth is not None else ""
    return f'film "t" {{\n  size: 64x64\n  fps: {fps}\n{line}}}\n' + body


PAN_AND_FORWARD = 'scene s 1s {\n  prompt "a house"\n  x: 20\n  z: 10\n}\n'


def _errors(source: str) -> list[str]:
    with pytest.raises(ScriptErrors) as info:
        compile_source(source, "film.kscene")
    return [f"{d.code} {d.span.line}:{d.span.col} {d.message} | {d.hint}" for d in info.value.diagnostics]


def test_z_is_a_percent_of_the_scenes_distance_per_second_and_marks_depth_warps():
    plan = compile_source(film(PAN_AND_FORWARD))
    assert plan.film.depth == "preview"
    first, rest = plan.frames[0], plan.frames[1:]
    assert first.op == "generate" and not first.depth
    assert all(fr.depth for fr in rest)
    assert all(fr.motion.z == pytest.approx(10 / 100 / 4) for fr in rest)
    # the executor decides the mask: every depth-warp model frame makes the one masked call
    assert all(fr.inpaint and fr.reveal == 1 for fr in rest if fr.op == "animate")
    assert plan_problems(RenderPlan.model_validate_json(plan.to_json())) == []


def test_turns_and_zoom_need_no_depth_even_in_a_film_with_a_depth_model():
    plan = compile_source(film('scene s 1s {\n  prompt "a house"\n  turn: 8\n  zoom: 1.2\n}\n'))
    assert not any(fr.depth for fr in plan.frames)
    plain = compile_source(film('scene s 1s {\n  prompt "a house"\n  turn: 8\n  zoom: 1.2\n}\n', depth=None))
    assert [f.key for f in plan.frames] == [f.key for f in plain.frames]


def test_a_film_without_depth_has_the_plan_it_had_before_the_3d_camera():
    plan = compile_source(film('scene s 1s {\n  prompt "a house"\n  x: 20\n}\n', depth=None))
    data = json.loads(plan.to_json())
    assert "depth" not in data["film"]
    assert all("depth" not in fr and "z" not in fr["motion"] for fr in data["frames"])
    assert not any(fr.depth for fr in plan.frames)
    # with a depth model the same pans are depth warps: other keys from the first warp on
    deep = compile_source(film('scene s 1s {\n  prompt "a house"\n  x: 20\n}\n'))
    assert deep.frames[0].key == plan.frames[0].key
    assert all(a.key != b.key for a, b in zip(deep.frames[1:], plan.frames[1:]))


def test_the_depth_model_is_in_the_keys_of_depth_warps_and_what_is_made_from_them():
    a = compile_source(film(PAN_AND_FORWARD, depth="models/depth-a"))
    b = compile_source(film(PAN_AND_FORWARD, depth="models/depth-b"))
    assert a.frames[0].key == b.frames[0].key  # text2image reads no depth
    assert all(x.key != y.key for x, y in zip(a.frames[1:], b.frames[1:]))
    assert [f.key for f in a.frames] == plan_keys(a.frames, a.film)  # the compiler's keys are keys.py's
    assert json.loads(b.to_json())["film"]["depth"] == "models/depth-b"


def test_z_without_a_depth_model_is_E037_where_it_is_written():
    src = film('scene s 1s {\n  prompt "a house"\n  z: 10\n}\n', depth=None)
    (msg,) = _errors(src)
    assert msg.startswith("E037 7:6 z moves the camera through a depth map, but the film has no depth model | ")
    assert 'depth: "' in msg and "zoom" in msg  # the hint names the setting and the homography's move


def test_z_in_the_film_block_a_camera_block_or_an_effect_is_E037_too():
    src = (
        'film "t" {\n  size: 64x64\n  fps: 4\n  z: 5\n}\n'
        'effect push() {\n  z: 20\n}\n'
        'scene s 2s {\n  prompt "a house"\n  camera {\n    z: keys { 0s: 0, 2s: 30 }\n  }\n  effect push() from 1s to 2s\n}\n'
    )
    codes = [m.split(" ")[:2] for m in _errors(src)]
    assert codes == [["E037", "4:6"], ["E037", "12:8"], ["E037", "14:3"]]


def test_depth_must_be_a_string():
    src = 'film "t" {\n  size: 64x64\n  depth: 3\n}\nscene s 1s {\n  prompt "p"\n}\n'
    (msg,) = _errors(src)
    assert msg.startswith("E024 3:10 depth is a string in quotes")


def test_a_hand_made_plan_with_a_depth_warp_and_no_depth_model_is_refused():
    plan = compile_source(film(PAN_AND_FORWARD))
    data = json.loads(plan.to_json())
    data["film"].pop("depth")
    problems = plan_problems(RenderPlan.model_validate(data))
    assert "frames.1: a depth warp in a film without a depth model (film.depth)" in problems
    data = json.loads(plan.to_json())
    data["frames"][2].pop("depth")
    assert "frames.2.motion.z is 0.025, but only a depth warp moves forward (frames.2.depth)" in plan_problems(
        RenderPlan.model_validate(data))


def test_under_a_depth_model_cadence_keeps_a_chain_of_depth_warps_not_blended_in_betweens():
    """Blended in-betweens are homographies of two model frames and would lose the parallax:
    with `depth:` each warp-only frame is a depth warp of the frame before it."""
    body = 'scene s 2s {\n  prompt "a house"\n  cadence: 3\n  x: 20\n}\n'
    deep = compile_source(film(body))
    warps = [fr for fr in deep.frames if fr.op == "warp"]
    assert warps and all(fr.depth and fr.inputs == [fr.index - 1] for fr in warps)
    flat = compile_source(film(body, depth=None))  # without depth: in-betweens of both neighbours
    assert any(len(fr.inputs) == 2 for fr in flat.frames if fr.op == "warp")
