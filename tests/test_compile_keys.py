"""Content keys: a frame's key is the key of its chain image, so an edit changes exactly the
keys of the chain images it affects (and a crossfade, a composite at output time, none)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kscript.compile import compile_file, compile_source
from kscript.compile.keys import frame_key, frame_key_data, plan_keys
from kscript.plan import Crossfade, Frame, InitImage, Motion, WeightedPrompt, content_key

HEAD = 'film "k" {\n  size: 256x256\n  fps: 12\n  seed: 3\n}\n'


def film(second_prompt: str = "a street", third_continues: bool = True, first_length: str = "1s",
         crossfade: bool = False) -> str:
    return HEAD + f"""
scene one {first_length} {{
  prompt "a park"
  effect zoom_in
}}
scene two 1s {{
  prompt "{second_prompt}"
  x: 1
}}
scene three 1s {{
  {"continue" if third_continues else ""}
  prompt "the sea"
  {"transition crossfade 3f" if crossfade else ""}
}}
"""


def keys_by_scene(src: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in compile_source(src).frames:
        out.setdefault(f.scene, []).append(f.key)
    return out


def changed(a: list[str], b: list[str]) -> list[bool]:
    return [x != y for x, y in zip(a, b)]


def test_editing_scene_two_changes_scene_two_and_the_scene_that_continues_from_it():
    before = keys_by_scene(film())
    after = keys_by_scene(film(second_prompt="a rainy street"))
    assert before["one"] == after["one"]
    assert all(changed(before["two"], after["two"]))
    assert all(changed(before["three"], after["three"]))  # it starts from scene two's last frame


def test_a_scene_that_does_not_continue_keeps_its_keys():
    before = keys_by_scene(film(third_continues=False))
    after = keys_by_scene(film(second_prompt="a rainy street", third_continues=False))
    assert before["one"] == after["one"]
    assert all(changed(before["two"], after["two"]))
    assert before["three"] == after["three"]


def test_a_scene_that_only_crossfades_from_an_edited_scene_keeps_its_keys():
    before = keys_by_scene(film(third_continues=False, crossfade=True))
    after = keys_by_scene(film(second_prompt="a rainy street", third_continues=False, crossfade=True))
    assert before["one"] == after["one"]
    assert all(changed(before["two"], after["two"]))
    # Its chain images do not change: the fade is composited from two cached chain images.
    assert before["three"] == after["three"]


def test_a_scene_that_continues_and_crossfades_from_an_edited_scene_changes_every_key():
    before = keys_by_scene(film(third_continues=True, crossfade=True))
    after = keys_by_scene(film(second_prompt="a rainy street", third_continues=True, crossfade=True))
    assert before["one"] == after["one"]
    assert all(changed(before["three"], after["three"]))  # its chain starts from scene two


def test_a_change_to_a_transition_changes_no_key():
    assert keys_by_scene(film(third_continues=False, crossfade=True)) == keys_by_scene(film(third_continues=False))
    fade3 = compile_source(film(third_continues=False, crossfade=True))
    fade6 = compile_source(film(third_continues=False, crossfade=True).replace("crossfade 3f", "crossfade 6f"))
    assert [f.crossfade for f in fade3.frames] != [f.crossfade for f in fade6.frames]
    assert [f.key for f in fade3.frames] == [f.key for f in fade6.frames]


def test_lengthening_scene_one_leaves_later_scenes_keys_alone():
    before = keys_by_scene(film(third_continues=False))
    after = keys_by_scene(film(third_continues=False, first_length="2s"))
    assert len(after["one"]) == 2 * len(before["one"])
    assert before["two"] == after["two"]  # index and time are not in the key
    assert before["three"] == after["three"]


def test_film_size_is_in_every_key():
    a = keys_by_scene(film())
    b = keys_by_scene(film().replace("256x256", "320x256"))
    for scene in a:
        assert all(changed(a[scene], b[scene]))


def test_keys_are_unique_along_a_chain():
    plan = compile_source(film())
    keys = [f.key for f in plan.frames]
    assert len(set(keys)) == len(keys)


ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.kscene") if "\nscene " in p.read_text(encoding="utf-8"))


def test_the_key_is_the_hash_of_the_frame_key_data():
    plan = compile_source(film(crossfade=True).replace('prompt "the sea"', 'prompt "the sea"\n  coherence: rgb'))
    assert any(f.coherence_ref is not None for f in plan.frames) and any(f.crossfade for f in plan.frames)
    keys = [f.key for f in plan.frames]
    for f in plan.frames:
        assert f.key == content_key(frame_key_data(f, plan.film, keys)) == frame_key(f, plan.film, keys)
    assert plan_keys(plan.frames, plan.film) == keys


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_the_compiler_fast_path_agrees_with_the_key_function_on_every_example(path, monkeypatch):
    monkeypatch.chdir(ROOT)
    plan = compile_file(path.relative_to(ROOT).as_posix())
    assert plan_keys(plan.frames, plan.film) == [f.key for f in plan.frames]


# Frame fields a key leaves out on purpose: positions, the key itself, and the crossfade
# (a composite over the chain image). Every other field may change the chain image.
NOT_IN_KEY = {"index", "scene", "scene_frame", "time", "key", "crossfade"}
CHANGES = {
    "op": "warp",
    "motion": Motion(zoom=1.05),
    "strength": 0.5,
    "guidance": 7.0,
    "steps": 31,
    "seed": 99,
    "noise": 0.1,
    "prompts": [WeightedPrompt(text="a desert", weight=1.0)],
    "negative": "blurry",
    "coherence": "lab",
    "coherence_ref": 1,
    "inputs": [1],
    "inpaint": True,
    "reveal": 2,
    "image": InitImage(path="photo.png", sha256="0" * 64),
    "depth": True,
}


def test_every_field_the_executor_reads_is_in_the_key():
    plan = compile_source(film(crossfade=True, third_continues=False))
    keys = [f.key for f in plan.frames]
    fr = plan.frames[3]  # an animate frame of scene one: inputs [2], no coherence reference
    assert fr.op == "animate" and fr.inputs == [2] and fr.coherence_ref is None and not fr.inpaint
    # A new Frame field must be named here: in the key, or out of it with a reason.
    assert set(Frame.model_fields) == NOT_IN_KEY | set(CHANGES)
    base = frame_key(fr, plan.film, keys)
    for name, value in CHANGES.items():
        assert frame_key(fr.model_copy(update={name: value}), plan.film, keys, plan.frames) != base, name
    for name in ("width", "height", "model", "prior", "inpaint"):
        other = plan.film.model_copy(update={name: 320 if name in ("width", "height") else "other/model"})
        assert frame_key(fr, other, keys) != base, name
    # Moved, with the frame it is made from (as lengthening an earlier scene moves both):
    # the same key.
    moved = fr.model_copy(update={"index": 40, "scene": "x", "scene_frame": 9, "time": 3.0, "key": "",
                                  "inputs": [39], "crossfade": Crossfade(from_frame=0, weight=0.5)})
    shifted = keys + [""] * (41 - len(keys))
    shifted[39] = keys[2]
    assert frame_key(moved, plan.film, shifted) == base


def test_plan_keys_refuses_a_frame_that_reads_a_later_frame():
    plan = compile_source(film())
    frames = list(plan.frames)
    frames[2] = frames[2].model_copy(update={"inputs": [5]})
    with pytest.raises(ValueError, match="earlier"):
        plan_keys(frames, plan.film)


def test_plans_are_identical_across_processes(tmp_path):
    """Byte-identical JSON whatever the hash seed of the process (no set or id order leaks in)."""
    import os
    import subprocess
    import sys

    path = tmp_path / "film.kscene"
    path.write_text(film(crossfade=True))
    code = "import sys; from kscript.compile import compile_file; sys.stdout.write(compile_file(sys.argv[1]).to_json())"
    outs = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        outs.append(subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                                   env=env, check=True).stdout)
    assert outs[0] == outs[1] and outs[0].startswith("{")
