"""How a plan is split into chains, and what of a chain a worker is sent (no Ray needed)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kscript.cluster.chains import chain_work, needed, split_chains
from kscript.plan import Motion
from kscript.render.executor import dependencies
from plan_factory import SceneSpec, make_plan


def _plan():
    return make_plan([
        SceneSpec("a", 4, motion=Motion(zoom=1.02)),
        SceneSpec("b", 5, "neon city", crossfade=2, coherence="rgb"),
        SceneSpec("c", 3, "stormy sea", continues=True, coherence="rgb"),
        SceneSpec("d", 2, "desert"),
    ])


def test_a_fresh_scene_and_the_scenes_that_continue_from_it_are_one_chain():
    plan = _plan()
    deps = [dependencies(f) for f in plan.frames]
    chains = split_chains(plan, deps)
    assert [c.scenes for c in chains] == [("a",), ("b", "c"), ("d",)]
    assert [c.frames for c in chains] == [tuple(range(0, 4)), tuple(range(4, 12)), (12, 13)]
    # The crossfade of b reads a's last image only when the video is written: no dependency.
    assert plan.frames[4].crossfade is not None and plan.frames[4].crossfade.from_frame == 3


def test_cached_frames_are_not_sent_and_a_chain_resumes_from_its_last_cached_frame():
    plan = _plan()
    deps = [dependencies(f) for f in plan.frames]
    b_c = split_chains(plan, deps)[1]
    cached = {4, 5, 6}  # b's first three frames were finished by an earlier build
    work = chain_work(b_c, deps, needed(plan, deps, list(range(len(plan.frames))), cached), cached)
    assert work.render == list(range(7, 12))
    # Frame 7 is made from 6; b's frames match colours to b's first frame (4); c's first
    # frame (9) continues from 8 and c's frames match colours to 9, both rendered.
    assert work.start == [4, 6]
    assert chain_work(b_c, deps, needed(plan, deps, list(range(len(plan.frames))), set(b_c.frames)), set(b_c.frames)) is None


def test_one_scene_asks_for_the_frames_it_is_made_from_and_no_others():
    plan = _plan()
    deps = [dependencies(f) for f in plan.frames]
    c_frames = [f.index for f in plan.frames if f.scene == "c"]
    need = needed(plan, deps, c_frames, cached=set())
    assert need == set(range(4, 12))  # c continues b; nothing of a or d


def test_importing_kscript_and_its_build_api_does_not_import_ray():
    code = ("import sys, kscript.render.build, kscript.cluster, kscript.cli, kscript.commands.build; "
            "assert 'ray' not in sys.modules, 'ray was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_ray_cluster_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    from kscript.cli import main

    film = tmp_path / "film.kscene"
    film.write_text('film "t" { size: 64x64 }\nscene a 2f { prompt "a park" }\n')
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    assert main(["build", str(film), "--cluster", "local"]) == 2
    err = capsys.readouterr().err
    assert "needs Ray" in err and 'pip install "kscript[cluster]"' in err
    assert not (tmp_path / "film.mp4").exists()


def test_a_seed_sweep_builds_one_video_per_film_seed_without_a_cluster_too(tmp_path, capsys):
    from kscript.cli import main

    film = tmp_path / "film.kscene"
    film.write_text('film "t" { size: 64x64\n seed: 4 }\nscene a 3f { prompt "a park"\n zoom: 1.02 }\n')
    assert main(["build", str(film), "--seeds", "1-2,7", "-q"]) == 0
    videos = sorted(p.name for p in tmp_path.glob("*.mp4"))
    assert videos == ["film.seed1.mp4", "film.seed2.mp4", "film.seed7.mp4"]
    assert len({(tmp_path / v).read_bytes() for v in videos}) == 3  # other seeds, other frames
    with pytest.raises(SystemExit) as stop:  # argparse's usage error
        main(["build", str(film), "--seeds", "1,x"])
    assert stop.value.code == 2
    assert "write them like 1,2,3 or 1-4" in capsys.readouterr().err


# ---------------------------------------------------------------- cadence in-betweens

CADENCE = ('film "c" {\n  size: 64x64\n  fps: 12\n}\nscene s 1s {\n  prompt "a forest"\n  cadence: 3\n'
           '  x: 10\n  strength: 0.5\n  coherence: rgb\n}\nscene t 6f {\n  prompt "a sea"\n  cadence: 2\n}\n')


def test_an_in_between_needs_its_next_model_frame_and_what_that_one_reads():
    from kscript.api import plan as plan_of

    plan = plan_of("c.kscene", CADENCE)
    deps = [dependencies(f) for f in plan.frames]
    assert plan.frames[4].inputs == [3, 6] and deps[4] == [3, 6]
    assert [c.scenes for c in split_chains(plan, deps)] == [("s",), ("t",)]
    # Frame 3 is cached: in-between 4 still needs 6, and 6 matches colours to frame 0.
    assert needed(plan, deps, [4], cached={3}) == {0, 3, 4, 6}
    chain = split_chains(plan, deps)[0]
    work = chain_work(chain, deps, needed(plan, deps, [4], cached={3}), {3})
    assert work.render == [0, 4, 6] and work.start == [3]


def test_a_worker_renders_a_chain_with_in_betweens_as_a_local_build_does():
    import numpy as np

    from kscript.api import plan as plan_of
    from kscript.backends.preview import PreviewBackend
    from kscript.cluster.chains import start_frames
    from kscript.render.executor import Executor

    plan = plan_of("c.kscene", CADENCE)
    local: dict[int, np.ndarray] = {}
    Executor(plan, PreviewBackend(), None).run(lambda i, img: local.__setitem__(i, img))
    chain = split_chains(plan, [dependencies(f) for f in plan.frames])[0]
    backend = PreviewBackend()
    ex = Executor(plan, backend, None)
    got = list(ex.render_chain(list(chain.frames), {}))
    assert [i for i, _ in got] == list(chain.frames)  # in plan order, the model frames made early
    assert all(np.array_equal(img, local[i]) for i, img in got)
    model = [f for f in plan.frames if f.scene == "s" and f.op != "warp"]
    assert sum(backend.calls.as_dict().values()) == len(model)  # each model frame once
    # Resumed from the middle of a cadence (in-between 4 onward), as after a lost worker.
    rest = [i for i in chain.frames if i >= 4]
    deps = [dependencies(f) for f in plan.frames]
    start = {d: local[d] for d in start_frames(rest, deps)}
    assert sorted(start) == [0, 3]
    again = list(Executor(plan, PreviewBackend(), None).render_chain(rest, start))
    assert all(np.array_equal(img, local[i]) for i, img in again)
