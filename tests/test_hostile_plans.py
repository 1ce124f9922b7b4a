"""Issue #9.6: a plan JSON is validated as strictly as a compiled plan.

`kscript build plan.json` trusted its file: width 0, fps NaN, a crossfade from frame 10^9,
NaN weights and stale keys gave tracebacks (cv2.error, ZeroDivisionError, a 27.9 GiB
allocation) or silently wrong frames. Every hostile plan below is a usage error (exit 2)
naming what is wrong, within a second, and a plan edited by hand renders with its keys
recomputed.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest

from kscript.cli import main
from kscript.compile import compile_file, compile_source
from kscript.compile.keys import plan_keys
from kscript.compile.plan_file import load_plan, problems

FILM = """film "tiny" { size: 64x64 fps: 4 seed: 3 }
scene a 1s { prompt "red" zoom: 1.01 }
scene b 1s { prompt "blue" transition crossfade 2f coherence: rgb }
"""
EXAMPLES = sorted(p for p in Path(__file__).parent.parent.joinpath("examples").glob("*.kscene")
                  if "scene " in p.read_text())  # not the files made to be imported


@pytest.fixture(scope="module")
def plan_dict() -> dict:
    return json.loads(compile_source(FILM, "tiny.kscene").to_json())


def write(tmp_path: Path, data: dict | str) -> Path:
    p = tmp_path / "plan.json"
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return p


def build(path: Path, capsys) -> tuple[int, str]:
    t = time.perf_counter()
    rc = main(["build", str(path), "-o", str(path.with_suffix(".mp4")), "-q", "--no-cache"])
    err = capsys.readouterr().err
    return rc, err, time.perf_counter() - t


def _set(d: dict, where: str, value) -> dict:
    d = copy.deepcopy(d)
    *path, last = where.split(".")
    node = d
    for part in path:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return d


NAN, INF = float("nan"), float("inf")
HOSTILE = [
    ("film.width", 0, "film.width"),
    ("film.width", -64, "film.width"),
    ("film.width", 100000, "film.width"),
    ("film.height", 100000, "film.height"),
    ("film.fps", 0, "film.fps"),
    ("film.fps", 1e-9, "film.fps"),
    ("film.fps", NAN, "film.fps"),
    ("film.fps", INF, "film.fps"),
    ("film.frame_count", 10**9, "film.frame_count"),
    ("frames.5.crossfade.from_frame", 10**9, "from_frame"),
    ("frames.5.crossfade.from_frame", -5, "from_frame"),
    ("frames.5.crossfade.from_frame", 1, "previous scene's last frame, 3"),
    ("frames.5.crossfade.weight", NAN, "weight"),
    ("frames.1.prompts.0.weight", NAN, "weight"),
    ("frames.1.prompts.0.weight", 0.5, "sum to 0.5"),
    ("frames.1.strength", NAN, "strength"),
    ("frames.1.strength", 7, "strength"),
    ("frames.1.noise", INF, "noise"),
    ("frames.1.guidance", -1, "guidance"),
    ("frames.1.steps", 10**9, "steps"),
    ("frames.1.seed", -1, "seed"),
    ("frames.1.motion.zoom", NAN, "motion.zoom"),
    ("frames.1.motion.zoom", 1e-6, "motion.zoom"),
    ("frames.1.motion.x", 1e9, "motion.x"),
    ("frames.1.motion.fov", 0, "fov"),
    ("frames.1.inputs", [3], "inputs"),
    ("frames.1.inputs", [-1], "inputs"),
    ("frames.2.index", 7, "frames.2.index"),
    ("frames.2.scene", "b", "frames.2.scene"),
    ("frames.2.op", "generate", "only the first frame"),
    ("frames.0.op", "animate", "the first frame of a scene"),
    ("frames.6.coherence_ref", 6, "coherence_ref"),
    ("frames.6.coherence_ref", 10**9, "coherence_ref"),
    ("scenes.1.start_frame", 2, "start_frame"),
    ("scenes.1.frame_count", 10**6, "scenes.1.frame_count"),
    ("scenes.1.frame_count", 5, "the scenes have 9 frames but the plan has 8"),
    ("frames.1.key", "x" * 64, "frames.1.key"),
    ("version", 2, "version"),
    ("frames.1.prompts.0.text", "p" * 20_000, "text"),
    ("frames.1.extra", 1, "extra"),
]


@pytest.mark.parametrize("where,value,said", HOSTILE, ids=[f"{w}={v!r}"[:40] for w, v, _ in HOSTILE])
def test_a_hostile_plan_is_a_usage_error_naming_the_problem(tmp_path, capsys, plan_dict, where, value, said):
    rc, err, took = build(write(tmp_path, _set(plan_dict, where, value)), capsys)
    assert rc == 2, err
    assert "is not a render plan" in err and said in err
    assert "Traceback" not in err and took < 5


@pytest.mark.parametrize("text,said", [("", "is not a render plan"), ("{", "is not a render plan"),
                                       ("[]", "is not a render plan"), ('{"film": 1e999}', "is not a render plan")])
def test_a_file_that_is_not_a_plan_at_all_is_a_usage_error(tmp_path, capsys, text, said):
    rc, err, _ = build(write(tmp_path, text), capsys)
    assert rc == 2 and said in err


def test_a_huge_sparse_plan_is_refused_by_its_size(tmp_path, capsys):
    from kscript import limits

    p = tmp_path / "plan.json"
    with open(p, "wb") as f:
        f.truncate(limits.MAX_PLAN_BYTES + 1)
    rc, err, took = build(p, capsys)
    assert rc == 2 and "more than this file may be (512 MiB)" in err and took < 2


def test_an_edited_plan_renders_the_edit_with_recomputed_keys(tmp_path, capsys, plan_dict):
    edited = _set(plan_dict, "frames.1.strength", 0.9)
    path = write(tmp_path, edited)
    plan, stale = load_plan(path)
    # Frame 1 changed, and so did every frame that reads it, directly or not.
    assert stale == 3 and plan.frames[1].key != plan_dict["frames"][1]["key"]
    assert [fr.key for fr in plan.frames] == plan_keys(plan.frames, plan.film)
    rc, err, _ = build(path, capsys)
    assert rc == 0 and "3 frame keys in" in err and "the recomputed keys are used" in err


def test_an_unedited_plan_loads_unchanged(tmp_path, plan_dict):
    plan, stale = load_plan(write(tmp_path, plan_dict))
    assert stale == 0 and json.loads(plan.to_json()) == plan_dict


@pytest.mark.parametrize("film", EXAMPLES, ids=lambda p: p.name)
def test_every_compiled_example_plan_passes_the_plan_checks(film):
    plan = compile_file(film)
    assert problems(plan) == []
