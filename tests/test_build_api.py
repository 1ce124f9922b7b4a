"""build(plan, output, options): backend choice, report, cache placement, atomic output."""

from __future__ import annotations

import json
import os

import av
import pytest

from kscript.errors import ModelError
from kscript.render.build import BuildOptions, BuildReport, build
from kscript.render.cache import FrameCache
from kscript.render.executor import BuildCancelled
from kscript.render.output import default_output
from kscript.backends.preview import PreviewBackend
from plan_factory import SceneSpec, make_plan, three_scenes


def frame_count(path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def test_report_fields_and_json(tmp_path):
    plan = three_scenes()
    report = build(plan, tmp_path / "film.mp4", BuildOptions(cache_dir=tmp_path / "cache"))
    assert isinstance(report, BuildReport)
    data = json.loads(report.to_json())
    for field in ("frames_total", "frames_rendered", "frames_cached", "model_calls", "seconds", "output", "backend"):
        assert field in data
    assert data["frames_total"] == data["frames_rendered"] == len(plan.frames) and data["frames_cached"] == 0
    assert set(data["model_calls"]) == {"text2image", "img2img", "inpaint", "prior"}
    assert {k: data["model_calls"][k] for k in plan.model_calls()} == plan.model_calls()
    assert data["backend"] == "preview" and data["seconds"] > 0
    assert frame_count(tmp_path / "film.mp4") == len(plan.frames)

    again = build(plan, tmp_path / "film.mp4", BuildOptions(cache_dir=tmp_path / "cache"))
    # Every scene's encoded segment is cached: the video is joined from them, no frame read.
    assert again.frames_rendered == 0 and again.frames_cached == len(plan.frames) and again.frames_loaded == 0
    assert again.segments_encoded == 0 and again.segments_cached == len(plan.scenes)
    assert data["segments_encoded"] == len(plan.scenes) and data["segments_cached"] == 0
    assert again.model_calls == {"text2image": 0, "img2img": 0, "inpaint": 0, "prior": 0}


def test_defaults_put_video_and_cache_beside_the_film(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "films").mkdir()
    plan = make_plan([SceneSpec("s", 3)], file=str(tmp_path / "films" / "autumn.kscene"))
    report = build(plan)
    assert report.output == str(tmp_path / "films" / "autumn.mp4")
    assert (tmp_path / "films" / ".kscript" / "frames").is_dir()
    assert default_output("a/b/film.kscene").as_posix() == "a/b/film.mp4"


def test_no_cache_writes_no_cache(tmp_path):
    build(make_plan([SceneSpec("s", 3)]), tmp_path / "f.mp4", BuildOptions(no_cache=True, cache_dir=tmp_path / "c"))
    assert not (tmp_path / "c").exists()


def test_a_cache_limit_too_small_for_the_film_keeps_its_first_frames_and_says_so(tmp_path):
    plan = make_plan([SceneSpec("s", 6)])
    report = build(plan, tmp_path / "f.mp4", BuildOptions(cache_dir=tmp_path / "c", cache_limit="30KB"))
    frames = list((tmp_path / "c" / "frames").rglob("*.frame"))
    # The limit holds during the build; the film's own frames are never evicted for its later
    # ones: the first frames stay, the rest are not stored, and the build says by how much.
    assert FrameCache(tmp_path / "c").size() <= 30 * 1024 and report.cache.bytes <= 30 * 1024
    assert report.evicted == 0 and 1 <= len(frames) < 6
    assert report.cache.not_stored == 7 - len(frames) - len(list((tmp_path / "c" / "segments").glob("*.mp4")))
    assert report.cache.film_bytes_needed > 30 * 1024
    assert any("too small for this film" in n for n in report.notes)


def test_old_segments_are_evicted_like_frames(tmp_path):
    plan = make_plan([SceneSpec("a", 3), SceneSpec("b", 3)])
    build(plan, tmp_path / "f.mp4", BuildOptions(cache_dir=tmp_path / "c"))
    segments = sorted((tmp_path / "c" / "segments").glob("*.mp4"))
    assert len(segments) == 2
    os.utime(segments[0], (1, 1))  # the least recently used entry
    cache = FrameCache(tmp_path / "c")
    total = cache.size()
    assert total == sum(p.stat().st_size for p in (tmp_path / "c").rglob("*") if p.is_file())
    assert cache.evict(total - 1) == 1
    assert not segments[0].exists() and segments[1].exists()


def test_preview_option_overrides_a_real_model(tmp_path):
    plan = make_plan([SceneSpec("s", 2)], model="kandinsky-community/kandinsky-2-2-decoder")
    report = build(plan, tmp_path / "f.mp4", BuildOptions(preview=True, no_cache=True))
    assert report.backend == "preview"


def test_a_missing_model_fails_before_any_frame(tmp_path):
    plan = make_plan([SceneSpec("s", 2)], model=str(tmp_path / "no-such-model"))
    with pytest.raises(ModelError):
        build(plan, tmp_path / "f.mp4", BuildOptions(cache_dir=tmp_path / "c"))
    assert not (tmp_path / "f.mp4").exists() and not (tmp_path / "c").exists()


class Crashing(PreviewBackend):
    def __init__(self, after: int):
        super().__init__()
        self.after = after

    def img2img(self, image, req):
        if self.calls.img2img >= self.after:
            raise RuntimeError("CUDA out of memory")
        return super().img2img(image, req)


def test_a_failing_build_leaves_the_previous_video_intact(tmp_path):
    out = tmp_path / "film.mp4"
    build(make_plan([SceneSpec("s", 4)]), out, BuildOptions(no_cache=True))
    good = out.read_bytes()
    # the backend's error reaches the user as kscript's ModelError, not a traceback
    with pytest.raises(ModelError, match="ran out of memory"):
        build(three_scenes(), out, BuildOptions(no_cache=True, backend=Crashing(after=5)))
    assert out.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4"]


def test_a_cancelled_build_keeps_its_frames_and_the_old_video(tmp_path):
    out = tmp_path / "film.mp4"
    build(make_plan([SceneSpec("s", 4)]), out, BuildOptions(no_cache=True))
    good = out.read_bytes()
    done = []
    opts = BuildOptions(cache_dir=tmp_path / "c", on_frame=lambda i, img: done.append(i), should_cancel=lambda: len(done) >= 5)
    with pytest.raises(BuildCancelled):
        build(three_scenes(), out, opts)
    assert out.read_bytes() == good
    report = build(three_scenes(), out, BuildOptions(cache_dir=tmp_path / "c"))
    assert report.frames_rendered == len(three_scenes().frames) - 5


def test_on_frame_sees_every_output_frame_in_order(tmp_path):
    seen = []
    plan = three_scenes()
    build(plan, tmp_path / "f.mp4", BuildOptions(no_cache=True, on_frame=lambda i, img: seen.append((i, img.shape))))
    assert seen == [(i, (64, 64, 3)) for i in range(len(plan.frames))]


def test_two_builds_give_byte_identical_frames(tmp_path):
    plan = three_scenes(width=96, height=96)
    build(plan, str(tmp_path / "a") + "/", BuildOptions(no_cache=True))
    build(plan, str(tmp_path / "b") + "/", BuildOptions(no_cache=True))
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert len(names) == len(plan.frames)
    assert all((tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes() for n in names)
    first = (tmp_path / "a" / names[0]).read_bytes()
    assert first != (tmp_path / "a" / names[6]).read_bytes()


class Unloadable(PreviewBackend):
    """A backend whose model cannot be loaded (counts attempts)."""

    loads = 0

    def load(self):
        Unloadable.loads += 1
        raise ModelError("the model 'x' is not there")


def test_the_model_loads_before_any_frame_and_not_at_all_when_everything_is_cached(tmp_path, monkeypatch):
    from kscript.render import build as build_mod

    plan = make_plan([SceneSpec("s", 4)])
    monkeypatch.setattr(build_mod, "make_backend", lambda plan, options: Unloadable())
    rendered = []
    with pytest.raises(ModelError):
        build(plan, tmp_path / "f.mp4", BuildOptions(cache_dir=tmp_path / "c", on_frame=lambda i, im: rendered.append(i)))
    assert Unloadable.loads == 1 and rendered == [] and not (tmp_path / "f.mp4").exists()
    # Fill the cache with a working backend, then rebuild: no load is needed.
    monkeypatch.setattr(build_mod, "make_backend", lambda plan, options: PreviewBackend())
    build(plan, tmp_path / "f.mp4", BuildOptions(cache_dir=tmp_path / "c"))
    monkeypatch.setattr(build_mod, "make_backend", lambda plan, options: Unloadable())
    report = build(plan, tmp_path / "g.mp4", BuildOptions(cache_dir=tmp_path / "c"))
    assert report.frames_cached == 4 and Unloadable.loads == 1
