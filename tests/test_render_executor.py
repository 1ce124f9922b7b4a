"""The executor: ops, caching (reruns, edits, lazy loads, corruption), scenes, cancellation."""

from __future__ import annotations

import numpy as np
import pytest

from kscript.errors import UsageError
from kscript.plan import Motion
from kscript.backends.interface import Backend, Request
from kscript.render.cache import FrameCache
from kscript.render.executor import BuildCancelled, Executor, Progress
from kscript.backends.preview import PreviewBackend
from plan_factory import SceneSpec, make_plan, three_scenes


class Recorder(PreviewBackend):
    """The preview painter, logging every call with the request it got."""

    def __init__(self, has_inpaint: bool = True) -> None:
        super().__init__()
        self.log: list[tuple[str, Request]] = []
        self._inpaint = has_inpaint

    @property
    def has_inpaint(self) -> bool:
        return self._inpaint

    def text2image(self, req):
        self.log.append(("text2image", req))
        return super().text2image(req)

    def img2img(self, image, req):
        self.log.append(("img2img", req))
        return super().img2img(image, req)

    def inpaint(self, image, mask, req):
        self.log.append(("inpaint", req))
        return super().inpaint(image, mask, req)


def run(plan, backend=None, cache=None, **kw):
    backend = backend or Recorder()
    out: dict[int, np.ndarray] = {}
    ex = Executor(plan, backend, cache, **kw)
    stats = ex.run(lambda i, img: out.__setitem__(i, img))
    return out, stats, backend


def test_model_calls_follow_the_plan_exactly():
    plan = three_scenes()
    out, stats, be = run(plan)
    assert sorted(out) == list(range(len(plan.frames)))
    assert stats.frames_rendered == len(plan.frames) and stats.frames_cached == 0
    expected = plan.model_calls()
    got = be.calls.as_dict()
    assert {k: got[k] for k in expected} == expected
    # In plan order, one text2image per generate frame, inpaint before img2img where flagged.
    ops = [op for op, _ in be.log]
    want = []
    for fr in plan.frames:
        if fr.op == "generate":
            want.append("text2image")
        elif fr.op in ("animate", "continue"):
            want += ["inpaint"] * fr.inpaint + ["img2img"]
    assert ops == want


def test_requests_carry_the_frame_values():
    plan = three_scenes()
    _, _, be = run(plan)
    street = [r for op, r in be.log if op == "img2img" and r.prompts[0][0].startswith("a neon")]
    assert street and street[0].strength == 0.35 and street[0].steps == 4 and street[0].width == 64
    blends = [r for _, r in be.log if len(r.prompts) == 2]
    assert blends and all(abs(sum(w for _, w in r.prompts) - 1) < 1e-6 for r in blends)


def test_a_frame_that_paints_its_band_makes_one_repaint_call_with_the_whole_band():
    base = make_plan([SceneSpec("s", 7, motion=Motion(x=3))])
    # frames 3 and 6 paint what the last 3 pans revealed (9 px); the others paint nothing
    frames = [f.model_copy(update={"inpaint": f.index in (3, 6), "reveal": 3 if f.index in (3, 6) else 0})
              for f in base.frames]
    plan = base.model_copy(update={"frames": frames})
    masks = []

    class Painter(Recorder):
        def repaint(self, image, mask, req):
            masks.append(np.asarray(mask))
            self.log.append(("repaint", req))
            n = len(self.log)
            out = super().repaint(image, mask, req)  # the painter's own inpaint + img2img
            del self.log[n:]
            return out

    _, _, be = run(plan, Painter())
    assert [op for op, _ in be.log] == ["text2image", "img2img", "img2img", "repaint",
                                                         "img2img", "img2img", "repaint"]
    assert be.calls.inpaint == 2 and be.calls.img2img == 4  # one call per model frame
    w = plan.film.width
    for mask in masks:  # the camera panned right by 3 x 3 px: a 9 px band on the right
        assert mask[:, w - 9:].min() > 0.5 and mask[:, : w - 16].max() == 0


def test_warp_frames_make_no_model_call_and_move_the_image():
    plan = make_plan([SceneSpec("s", 4, motion=Motion(x=3), strength=0.0)])
    out, _, be = run(plan)
    assert [op for op, _ in be.log] == ["text2image"]
    assert np.array_equal(out[1][:, :-4], out[0][:, 3:-1])  # content moved left by 3 pixels


def test_cadence_runs_the_model_every_nth_frame():
    plan = make_plan([SceneSpec("s", 7, cadence=3, motion=Motion(zoom=1.02))])
    _, _, be = run(plan)
    assert [op for op, _ in be.log] == ["text2image", "img2img", "img2img"]


def test_two_runs_give_identical_frames():
    a, _, _ = run(three_scenes())
    b, _, _ = run(three_scenes())
    assert all(a[i].tobytes() == b[i].tobytes() for i in a)


def test_crossfade_blends_the_previous_scenes_last_frame():
    plan = three_scenes()
    out, _, _ = run(plan)
    street0 = plan.scenes[1].start_frame
    fr = plan.frames[street0]
    assert fr.crossfade is not None
    chain, _, _ = run(make_plan([SceneSpec("street", 1, "a neon city street at night, rain", motion=Motion(x=2.0, angle=1.0))], seed=8))
    w = fr.crossfade.weight
    expect = (1 - w) * out[fr.crossfade.from_frame].astype(float) + w * chain[0].astype(float)
    assert np.abs(out[street0].astype(float) - expect).max() <= 1.0
    # After the transition the frame is the scene's own chain image again.
    assert plan.frames[street0 + 3].crossfade is None


def test_continue_starts_from_the_previous_scenes_last_frame():
    plan = three_scenes()
    out, _, be = run(plan)
    sea0 = plan.scenes[2].start_frame
    assert plan.frames[sea0].op == "continue"
    assert "text2image" not in [op for op, r in be.log if r.prompts[0][0].startswith("stormy")]
    # Zooming out from the street's last frame: its middle survives, shrunk.
    before = out[sea0 - 1].astype(float).mean()
    assert abs(out[sea0].astype(float).mean() - before) < 40


def test_rerun_loads_everything_from_cache_without_model_calls(tmp_path):
    plan = three_scenes()
    first, _, _ = run(plan, cache=FrameCache(tmp_path))
    second, stats, be = run(plan, cache=FrameCache(tmp_path))
    assert be.log == [] and stats.frames_rendered == 0 and stats.frames_cached == len(plan.frames)
    assert all(first[i].tobytes() == second[i].tobytes() for i in first)


def test_an_edit_re_renders_exactly_the_frames_whose_keys_changed(tmp_path):
    plan = three_scenes()
    run(plan, cache=FrameCache(tmp_path))
    edited = make_plan(
        [
            SceneSpec("park", 6, "a misty autumn park at dusk, watercolour", motion=Motion(zoom=1.04)),
            SceneSpec("street", 6, "a neon city street at night, rain", later_prompts=[("the same street at sunrise", 2, 2)],
                      motion=Motion(x=2.0, angle=1.0), crossfade=3),
            SceneSpec("sea", 6, "stormy sea, dramatic light", motion=Motion(zoom=0.97), continues=True, coherence="lab"),
        ]
    )
    changed = {i for i, (a, b) in enumerate(zip(plan.frames, edited.frames)) if a.key != b.key}
    assert changed == set(range(6))  # the park scene only
    out, stats, be = run(edited, cache=FrameCache(tmp_path))
    assert stats.frames_rendered == 6 and stats.frames_cached == 12
    assert len(be.log) == 1 + 5 + sum(f.inpaint for f in edited.frames[1:6])


def test_only_what_is_needed_is_loaded(tmp_path):
    plan = make_plan([SceneSpec("s", 8, motion=Motion(zoom=1.03))])
    run(plan, cache=FrameCache(tmp_path))
    cache = FrameCache(tmp_path)
    for i in (5, 6, 7):
        cache.path(Executor(plan, Recorder()).addr[i]).unlink()
    loads = []
    real_get = cache.get
    cache.get = lambda a: (loads.append(a), real_get(a))[1]
    out, stats, _ = run(plan, cache=cache)
    # Frames 0-4 are shown, so loaded; 5-7 are rendered from frame 4 in memory.
    assert stats.frames_cached == 5 and stats.frames_rendered == 3 and len(loads) == 5


def test_a_scene_alone_renders_its_frames_and_what_they_need(tmp_path):
    plan = three_scenes()
    out, stats, be = run(plan, scene="sea")
    sea = [f.index for f in plan.frames if f.scene == "sea"]
    assert sorted(out) == sea
    # sea continues from street's last frame, which needs all of street (and not park: the
    # crossfade is only a composite of street's first frames).
    assert stats.frames_rendered == 12
    assert not [r for _, r in be.log if r.prompts[0][0].startswith("a misty")]
    with pytest.raises(UsageError, match="no scene 'seaa'") as err:
        Executor(plan, Recorder(), scene="seaa")
    assert err.value.hint == "did you mean 'sea'?"


def test_a_corrupt_entry_mid_chain_is_re_rendered_identically(tmp_path):
    plan = make_plan([SceneSpec("s", 6, motion=Motion(zoom=0.97))])
    good, _, _ = run(plan, cache=FrameCache(tmp_path))
    cache = FrameCache(tmp_path)
    p = cache.path(Executor(plan, Recorder()).addr[3])
    p.write_bytes(p.read_bytes()[:100])
    out, stats, _ = run(plan, cache=cache)
    assert stats.frames_rendered == 1 and cache.stats.corrupt == 1
    assert all(good[i].tobytes() == out[i].tobytes() for i in good)


def test_resuming_from_a_partial_cache_gives_the_same_frames(tmp_path):
    plan = three_scenes()
    full, _, _ = run(plan)
    calls = {"n": 0}

    def cancel_after_7():
        calls["n"] += 1
        return calls["n"] > 7

    with pytest.raises(BuildCancelled):
        run(plan, cache=FrameCache(tmp_path), should_cancel=cancel_after_7)
    done = len(FrameCache(tmp_path).entries())
    assert 0 < done < len(plan.frames)
    out, stats, _ = run(plan, cache=FrameCache(tmp_path))
    assert stats.frames_rendered == len(plan.frames) - done
    assert all(full[i].tobytes() == out[i].tobytes() for i in full)


class Stepper(Recorder):
    """A painter that takes its request's steps one by one, like a diffusers pipeline."""

    def text2image(self, req):
        for s in range(1, req.steps + 1):
            req.on_step(s, req.steps)
        return super().text2image(req)


def test_cancellation_inside_a_model_call_stops_at_the_next_step():
    plan = three_scenes()
    seen: list[Progress] = []
    with pytest.raises(BuildCancelled):
        run(plan, Stepper(), progress=seen.append, should_cancel=lambda: any(p.step == 2 for p in seen))
    assert [p.step for p in seen if p.phase == "step"] == [1, 2]
    assert seen[-1].frames_done == 0


def test_progress_reports_each_frame_its_steps_and_its_end():
    """Per frame: 'frame', one 'step' per step the backend reports, 'done' (frames_done + 1).

    The preview painter reports one step per model call, and these frames make one call
    each (a generate, then two animates with no border to inpaint).
    """
    plan = make_plan([SceneSpec("s", 3)])
    assert [(f.op, f.inpaint) for f in plan.frames] == [("generate", False), ("animate", False), ("animate", False)]
    seen: list[Progress] = []
    run(plan, progress=seen.append)
    expected = []
    for i in range(3):
        expected += [("frame", i, 0, i), ("step", i, 1, i), ("done", i, 0, i + 1)]
    assert [(p.phase, p.frame, p.step, p.frames_done) for p in seen] == expected
    assert seen[-1].frames_done == 3 == seen[-1].frames_total


class Wrong(Backend):
    name = "wrong"
    fingerprint = "wrong"

    def text2image(self, req):
        return np.zeros((8, 8, 3), np.uint8)

    img2img = inpaint = lambda self, *a: None  # type: ignore[assignment]


def test_a_backend_returning_the_wrong_size_is_an_error():
    from kscript.errors import RenderError

    with pytest.raises(RenderError, match="shape"):
        run(make_plan([SceneSpec("s", 1)]), Wrong())


def _films(park_prompt: str = "a misty autumn park at dawn, oil painting", fade: int = 3, sea_continues: bool = True):
    return make_plan(
        [
            SceneSpec("park", 6, park_prompt, motion=Motion(zoom=1.04)),
            SceneSpec("street", 6, "a neon city street at night, rain", later_prompts=[("the same street at sunrise", 2, 2)],
                      motion=Motion(x=2.0, angle=1.0), crossfade=fade),
            SceneSpec("sea", 6, "stormy sea, dramatic light", motion=Motion(zoom=0.97), continues=sea_continues,
                      coherence="lab"),
        ]
    )


def test_the_cache_is_addressed_by_the_plan_key():
    from kscript.render.cache import address

    plan = three_scenes()
    ex = Executor(plan, Recorder())
    assert ex.addr == [address(f.key, ex.backend.fingerprint) for f in plan.frames]


def test_an_edit_to_a_scene_the_next_crossfades_from_re_renders_only_that_scene(tmp_path):
    plan = _films()
    first, _, _ = run(plan, cache=FrameCache(tmp_path))
    edited = _films(park_prompt="a sunny desert at noon, watercolour")
    street = [f.index for f in edited.frames if f.scene == "street"]
    fading = [i for i in street if edited.frames[i].crossfade is not None]
    assert len(fading) == 3 and all(edited.frames[i].crossfade.from_frame == 5 for i in fading)
    shown: dict[int, np.ndarray] = {}
    out, stats, be = run(edited, cache=FrameCache(tmp_path), on_frame=lambda i, img: shown.__setitem__(i, img.copy()))
    # Only park's chain images are rendered; street and sea come from the cache.
    assert stats.frames_rendered == 6 and stats.frames_cached == 12
    assert {r.prompts[0][0] for _, r in be.log} == {"a sunny desert at noon, watercolour"}
    # The fade still shows the new park: the same frames as a build from nothing.
    fresh, _, _ = run(edited)
    assert all(fresh[i].tobytes() == out[i].tobytes() == shown[i].tobytes() for i in fresh)
    for i in fading:
        assert first[i].tobytes() != out[i].tobytes()
    after = street[len(fading)]
    assert first[after].tobytes() == out[after].tobytes()  # past the fade: street's own chain image


def test_a_change_to_a_transition_renders_nothing(tmp_path):
    run(_films(fade=3), cache=FrameCache(tmp_path))
    longer = _films(fade=5)
    out, stats, be = run(longer, cache=FrameCache(tmp_path))
    assert stats.frames_rendered == 0 and be.log == []
    fresh, _, _ = run(longer)
    assert all(fresh[i].tobytes() == out[i].tobytes() for i in fresh)


def test_a_plan_frame_made_from_no_frame_is_refused():
    from kscript.errors import RenderError

    plan = make_plan([SceneSpec("s", 3)])
    frames = list(plan.frames)
    frames[1] = frames[1].model_copy(update={"inputs": []})
    with pytest.raises(RenderError, match="made from no frame"):
        Executor(plan.model_copy(update={"frames": frames}), Recorder())


def test_without_an_inpaint_model_the_border_is_filled_before_img2img():
    seen = []

    class NoInpaint(Recorder):
        def img2img(self, image, req):
            seen.append(image.copy())
            return super().img2img(image, req)

    plan = make_plan([SceneSpec("s", 4, motion=Motion(zoom=0.85))])
    run(plan, NoInpaint(has_inpaint=False))
    # What img2img gets has no black (unfilled) border: the edge-aware fill covered it.
    for image in seen:
        border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
        assert border.max(axis=1).min() > 20


@pytest.mark.parametrize("motion,total", [(Motion(zoom=1.02), Motion(zoom=1.02**15)), (Motion(x=2), Motion(x=30)), (Motion(angle=1.5), Motion(angle=22.5))])
def test_the_preview_shows_camera_motion(motion, total):
    from kscript.render import warp

    plan = make_plan([SceneSpec("s", 16, "a neon city street at night", motion=motion)], width=128, height=128)
    out, _, _ = run(plan)
    moved = warp.warp(out[0], warp.matrix(total, 128, 128))
    inner = (slice(24, 104), slice(24, 104))
    # After 15 frames of img2img at strength 0.35 the picture is where the camera says,
    # not where it started.
    def d(a, b):
        return float(np.abs(a[inner].astype(int) - b[inner].astype(int)).mean())

    assert d(out[15], moved) < 0.6 * d(out[15], out[0])


def test_the_preview_shows_a_prompt_change():
    plan = make_plan(
        [SceneSpec("s", 40, "a forest at noon", later_prompts=[("the sea at night", 4, 6)], motion=Motion(zoom=1.0), strength=0.5)],
        width=96,
        height=96,
    )
    out, _, be = run(plan)
    from kscript.backends.interface import Request

    night = be.painting(Request((("the sea at night", 1.0),), "", 0, 4, 4.0, 0.5, 96, 96)).pixels.astype(float)
    gap = [float(np.abs(out[i].astype(float) - night).mean()) for i in (3, 10, 20, 39)]
    assert gap[0] > gap[1] > gap[2] > gap[3]
    assert gap[3] < 0.5 * gap[0]


def test_frames_left_out_of_show_are_not_loaded(tmp_path):
    """`build` leaves out the frames of scenes whose encoded segment is cached: they are
    neither handed over nor read, unless a frame that is made is made from them."""
    plan = _films()
    run(plan, cache=FrameCache(tmp_path))
    cache = FrameCache(tmp_path)
    loads = []
    real_get = cache.get
    cache.get = lambda a: (loads.append(a), real_get(a))[1]
    ex = Executor(plan, Recorder(), cache)
    sea = {f.index for f in plan.frames if f.scene == "sea"}
    out: dict[int, np.ndarray] = {}
    stats = ex.run(lambda i, img: out.__setitem__(i, img), show=sea)
    assert set(out) == sea and stats.frames_rendered == 0
    assert len(loads) == stats.frames_loaded == len(sea)
    assert stats.frames_cached == len(plan.frames)  # reused: read as pixels or not at all

    # Nothing to show: nothing read, nothing rendered.
    loads.clear()
    stats = Executor(plan, Recorder(), cache).run(lambda i, img: None, show=set())
    assert loads == [] and stats.frames_rendered == 0 and stats.frames_loaded == 0


def test_an_edit_shown_elsewhere_loads_only_what_it_is_made_from(tmp_path):
    plan = _films()
    run(plan, cache=FrameCache(tmp_path))
    edited = _films(park_prompt="a sunny desert at noon, watercolour")
    park = {f.index for f in edited.frames if f.scene == "park"}
    progress: list[Progress] = []
    ex = Executor(edited, Recorder(), FrameCache(tmp_path), progress=progress.append)
    out: dict[int, np.ndarray] = {}
    stats = ex.run(lambda i, img: out.__setitem__(i, img), show=park)
    assert set(out) == park and stats.frames_rendered == 6 and stats.frames_loaded == 0
    done = [p.frames_done for p in progress if p.phase == "done"]
    assert done == list(range(13, 19))  # the frames left out count as done from the start
