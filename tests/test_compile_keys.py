"""Content keys: an edit changes exactly the keys of the frames it affects."""

from __future__ import annotations

from kscript.compile import compile_source
from kscript.compile.compiler import frame_key_data
from kscript.plan import content_key

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


def test_a_crossfade_depends_on_the_previous_scene_last_frame():
    before = keys_by_scene(film(third_continues=False, crossfade=True))
    after = keys_by_scene(film(second_prompt="a rainy street", third_continues=False, crossfade=True))
    # The cross-faded frames and the chain after them change; nothing in scene one.
    assert before["one"] == after["one"]
    assert all(changed(before["three"], after["three"]))


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


def test_the_key_is_the_hash_of_the_frame_key_data():
    plan = compile_source(film(crossfade=True).replace('prompt "the sea"', 'prompt "the sea"\n  coherence: rgb'))
    for f in plan.frames:
        assert f.key == content_key(frame_key_data(plan, f))


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
