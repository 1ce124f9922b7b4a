"""The 3D camera in a build (issue #11): depth maps from the film's `depth:` model, loaded
through the same `from_pretrained` path as a published one, counted as the plan estimates;
a bad depth model stops the build before the first frame; the preview painter's own depths
show parallax without weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from kscript.backends.depth import FilmDepth
from kscript.backends.preview import PreviewBackend, paint_depth
from kscript.cli import main
from kscript.compile import compile_file, compile_source
from kscript.compile.cost import plan_estimate
from kscript.errors import ModelError
from kscript.render.build import BuildOptions, build
from kscript.render.depth_warp import scene_distance
from kscript.render.executor import Executor
from tiny_depth import build_depth_anything


def film(depth: str, body: str = 'scene s 1s {\n  prompt "a red house"\n  x: 20\n  z: 8\n}\n',
         extra: str = "") -> str:
    return f'film "t" {{\n  size: 64x64\n  fps: 4\n  depth: "{depth}"\n{extra}}}\n' + body


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_depth_anything(tmp_path_factory.mktemp("depth") / "tiny-depth")


def test_a_build_with_a_tiny_depth_model_makes_the_depth_calls_the_plan_estimates(tiny, tmp_path):
    # a relative folder, read from the film's folder (as `model:` is)
    (tmp_path / "models").mkdir()
    tiny.rename(tmp_path / "models" / "tiny-depth")
    try:
        path = tmp_path / "film.kscene"
        path.write_text(film("models/tiny-depth"), encoding="utf-8")
        plan = compile_file(path)
        est = plan_estimate(plan)
        assert est.depth_calls == 3 and est.as_dict()["depth_calls"] == 3  # frames 0..2 are moved
        report = build(plan, tmp_path / "out.mp4", BuildOptions())
        assert report.depth_calls == est.depth_calls
        assert report.depth_calls <= sum(fr.op != "warp" for fr in plan.frames)  # at most one per model frame
        assert report.model_calls["inpaint"] == est.model_calls["inpaint"] == 3  # the masked calls
        again = build(plan, tmp_path / "out.mp4", BuildOptions())
        assert again.depth_calls == 0 and again.frames_rendered == 0  # cached: no depth needed
    finally:
        (tmp_path / "models" / "tiny-depth").rename(tiny)


def test_plan_and_build_say_the_depth_calls(tiny, tmp_path, capsys):
    path = tmp_path / "film.kscene"
    path.write_text(film(str(tiny)), encoding="utf-8")
    assert main(["plan", str(path)]) == 0
    assert "depth calls:     3 (3 per video second" in capsys.readouterr().out
    assert main(["build", str(path), "--no-cache", "--report", str(tmp_path / "r.json")]) == 0
    assert "depth calls: 3 (3 per video second)" in capsys.readouterr().err
    assert json.loads((tmp_path / "r.json").read_text())["depth_calls"] == 3


def _fails_before_the_first_frame(plan, tmp_path) -> str:
    shown: list[int] = []
    with pytest.raises(ModelError) as info:
        build(plan, tmp_path / "out.mp4", BuildOptions(no_cache=True, on_frame=lambda i, _im: shown.append(i)))
    assert shown == []
    assert not (tmp_path / "out.mp4").exists()
    return str(info.value)


def test_a_missing_depth_model_is_an_error_before_the_first_frame(tmp_path):
    plan = compile_source(film(str(tmp_path / "nowhere")))
    assert "no such folder" in _fails_before_the_first_frame(plan, tmp_path)


def test_a_model_that_is_not_a_depth_estimator_is_an_error_before_the_first_frame(tmp_path, capsys):
    wrong = tmp_path / "bert"
    wrong.mkdir()
    (wrong / "config.json").write_text('{"model_type": "bert"}')
    (wrong / "preprocessor_config.json").write_text("{}")
    plan = compile_source(film(str(wrong)))
    assert "is a 'bert' model, not a depth estimator" in _fails_before_the_first_frame(plan, tmp_path)
    path = tmp_path / "film.kscene"
    path.write_text(film(str(wrong)), encoding="utf-8")
    assert main(["build", str(path), "--no-cache"]) != 0
    err = capsys.readouterr().err
    assert "not a depth estimator" in err and "Traceback" not in err


def test_preview_depth_needs_the_preview_painter():
    class Other:
        name = "stable-diffusion"

    with pytest.raises(ModelError, match="preview painter"):
        FilmDepth("preview", Other()).load()
    FilmDepth("preview", PreviewBackend()).load()


def test_the_preview_shows_parallax_near_things_pass_faster_than_far_ones():
    """Under a pan, each depth of the painter's picture moves by x * D / d pixels (D the scene's
    distance), measured on the rendered frames: the nearest ground and shapes by several
    times the sky's shift."""
    prompt = "a red balloon over green hills"
    plan = compile_source(film("preview", f'scene s 2f {{\n  prompt "{prompt}"\n  x: 40\n}}\n', extra="  strength: 0\n"))
    assert [fr.depth for fr in plan.frames] == [False, True]
    frames: dict[int, np.ndarray] = {}
    Executor(plan, PreviewBackend()).run(lambda i, im: frames.__setitem__(i, im.astype(np.float32).mean(-1)))
    f0, f1 = frames[0], frames[1]
    depth = paint_depth(prompt, plan.frames[0].seed, 64, 64)
    pan, distance = plan.frames[1].motion.x, scene_distance(depth)

    def moved_left(mask: np.ndarray) -> int:
        """The whole-pixel shift to the left that best maps frame 0's pixels in `mask` onto frame 1."""
        ys, xs = np.nonzero(mask)
        errors = {}
        for s in range(-30, 31):
            ok = (xs - s >= 0) & (xs - s < 64)
            if ok.sum() < len(xs) // 2:  # most of it would have left the frame
                continue
            errors[s] = float(np.mean(np.abs(f1[ys[ok], xs[ok] - s] - f0[ys[ok], xs[ok]])))
        return min(errors, key=errors.get)

    measured = {}
    for level in np.unique(depth):
        mask = cv2.erode((depth == level).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        if mask.sum() >= 50:
            measured[float(level)] = moved_left(mask)
    assert len(measured) >= 4
    for d, shift in measured.items():
        assert shift == pytest.approx(pan * distance / d, abs=1.0), d
    nearest, farthest = min(measured), max(measured)
    assert farthest == pytest.approx(20.0) and nearest < 3.0
    assert measured[nearest] >= 4 * max(1, measured[farthest])


def _cadence_plan():
    return compile_source(film("preview", 'scene s 3s {\n  prompt "a red house in a forest"\n  x: 20\n  z: 8\n}\n',
                               extra="  cadence: 3\n"))


def test_under_cadence_only_model_frames_pictures_need_a_depth_call():
    """A warp-only frame's picture is its input's moved without a model: its depth is its
    input's moved the same way, so the depth model runs once per model frame, as Deforum's."""
    plan = _cadence_plan()
    assert [fr.op for fr in plan.frames[:4]] == ["generate", "warp", "warp", "animate"]
    model_frames = [fr.index for fr in plan.frames if fr.op != "warp"]
    est = plan_estimate(plan)
    assert est.depth_calls == len(model_frames) == 4  # frames 0, 3, 6, 9 (the last, 11, is moved by none)
    ex = Executor(plan, PreviewBackend())
    stats = ex.run(lambda i, im: None)
    assert stats.depth_calls == est.depth_calls


def test_a_depth_carried_through_warp_only_frames_is_the_same_from_the_cache(tmp_path):
    """The depth of every chain image is a pure function of the plan: a frame re-rendered
    from cached inputs (its input a warp-only frame, the model frame before it cached too)
    comes out byte for byte as in a build from nothing."""
    from kscript.render.cache import FrameCache

    plan = _cadence_plan()
    fresh: dict[int, np.ndarray] = {}
    Executor(plan, PreviewBackend()).run(lambda i, im: fresh.__setitem__(i, im.copy()))
    cache = FrameCache(tmp_path / "cache", limit=None)
    first = Executor(plan, PreviewBackend(), cache)
    first.run(lambda i, im: None)
    assert plan.frames[5].op == "warp" and plan.frames[4].op == "warp" and plan.frames[3].op == "animate"
    cache.path(first.addr[5]).unlink()  # frame 5 reads 4 (warp-only), whose depth comes from 3's
    again: dict[int, np.ndarray] = {}
    ex = Executor(plan, PreviewBackend(), cache)
    stats = ex.run(lambda i, im: again.__setitem__(i, im.copy()))
    assert stats.frames_rendered == 1 and stats.depth_calls == 1  # frame 3's picture, from the cache
    assert all(np.array_equal(fresh[i], again[i]) for i in fresh)


def test_a_cluster_chain_gets_the_model_frame_whose_depth_its_first_frame_carries():
    """`render_chain` (a cluster worker's unit of work) starts from given images: a depth warp
    after warp-only depth warps reads the model frame before them as well as its input (it is
    in its dependencies, so the driver sends it), and renders what a whole build renders."""
    plan = _cadence_plan()
    fresh: dict[int, np.ndarray] = {}
    Executor(plan, PreviewBackend()).run(lambda i, im: fresh.__setitem__(i, im.copy()))
    worker = Executor(plan, PreviewBackend())
    assert worker.deps[5] == [4, 3] and worker.deps[4] == [3] and worker.deps[3] == [2, 0]
    out = dict(worker.render_chain([5, 6], {4: fresh[4], 3: fresh[3]}))
    assert np.array_equal(out[5], fresh[5]) and np.array_equal(out[6], fresh[6])


def test_a_depth_source_kept_between_builds_loads_once_and_reports_each_builds_own_calls(tiny, tmp_path,
                                                                                         monkeypatch):
    """Watch mode keeps the depth source between builds (`BuildOptions.depth`), as it keeps the
    backend: the depth model loads once per session; each build reports its own depth calls."""
    from kscript.backends import depth as depth_mod
    from kscript.backends.preview import PreviewBackend
    from kscript.render.build import film_depth
    from kscript.watch.pipeline import KscriptPipeline

    loads = []
    real = depth_mod.DepthModel.load
    monkeypatch.setattr(depth_mod.DepthModel, "load", staticmethod(lambda *a, **k: loads.append(1) or real(*a, **k)))
    path = tmp_path / "film.kscene"
    path.write_text(film(str(tiny)), encoding="utf-8")
    pipeline = KscriptPipeline(preview=True, cache=tmp_path / "cache")
    first = pipeline.render(pipeline.compile(path), progress=lambda e: None, should_cancel=lambda: False)
    path.write_text(film(str(tiny), body='scene s 1s {\n  prompt "a blue house"\n  x: 20\n  z: 8\n}\n'), encoding="utf-8")
    second = pipeline.render(pipeline.compile(path), progress=lambda e: None, should_cancel=lambda: False)
    assert first.frames_rendered == second.frames_rendered == 4  # the new prompt renders all again
    assert loads == [1]

    # build() itself: a kept source is used when it is the film's, and counts per build
    backend = PreviewBackend()
    backend.load()
    plan = compile_source(film(str(tiny)))
    kept = film_depth(plan, BuildOptions(backend=backend), backend)
    a = build(plan, tmp_path / "a.mp4", BuildOptions(backend=backend, depth=kept, no_cache=True))
    b = build(plan, tmp_path / "b.mp4", BuildOptions(backend=backend, depth=kept, no_cache=True))
    # the second build renders every frame again (no cache) and finds their depths kept by key
    assert (a.depth_calls, b.depth_calls, kept.calls) == (3, 0, 3)
    other = PreviewBackend()
    other.load()
    assert film_depth(plan, BuildOptions(backend=other, depth=kept), other) is not kept  # not its backend
