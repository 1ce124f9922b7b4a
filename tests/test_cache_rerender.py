"""Re-rendering after cache damage costs one render per damaged entry.

A chain image that the plan expected to load but found corrupt (or gone) is rendered again,
and so is each damaged entry after it; what was rendered stays in memory for the frames
that read it, so k damaged entries in a row cost k renders and k model calls, not
k(k+1)/2 (the whole chain again for every one of them). Hand-made 64x64 plans.
"""

from __future__ import annotations

import numpy as np
import pytest

from kscript.backends.preview import PreviewBackend
from kscript.plan import Motion
from kscript.render.build import BuildOptions, build
from kscript.render.cache import FrameCache
from kscript.render.executor import Executor
from plan_factory import SceneSpec, make_plan


def chain(frames: int = 30, coherence: str = "lab"):
    return make_plan([SceneSpec("s", frames, motion=Motion(zoom=0.98), coherence=coherence)])


def run(plan, cache):
    backend = PreviewBackend()
    out: dict[int, np.ndarray] = {}
    stats = Executor(plan, backend, cache).run(lambda i, img: out.__setitem__(i, img))
    return out, stats, backend.calls.as_dict()


def damage(cache: FrameCache, plan, frames, how: str) -> None:
    addrs = Executor(plan, PreviewBackend()).addr
    for i in frames:
        p = cache.path(addrs[i])
        if how == "truncated":
            p.write_bytes(p.read_bytes()[:40])
        else:
            assert how == "flipped"
            data = bytearray(p.read_bytes())
            data[-7] ^= 0x10
            p.write_bytes(bytes(data))


@pytest.mark.parametrize("k", [1, 10, 25])
@pytest.mark.parametrize("how", ["truncated", "flipped"])
def test_k_corrupt_entries_in_a_row_cost_k_renders(tmp_path, k, how):
    plan = chain()
    good, _, _ = run(plan, FrameCache(tmp_path))
    cache = FrameCache(tmp_path)
    damage(cache, plan, range(3, 3 + k), how)
    out, stats, calls = run(plan, cache)
    assert stats.frames_rendered == k
    # frames 3.. are animate frames: one model call each (a masked "inpaint" call where the
    # frame paints its revealed band, else img2img)
    assert calls["img2img"] + calls["inpaint"] == k and calls["text2image"] == 0
    assert cache.stats.corrupt == k
    # ... and the same frames as before, and the damage is healed for the next build
    assert all(np.array_equal(good[i], out[i]) for i in good)
    _, again, calls = run(plan, FrameCache(tmp_path))
    assert again.frames_rendered == 0 and sum(calls.values()) == 0


def test_entries_that_vanish_after_planning_cost_one_render_each(tmp_path, monkeypatch):
    """Another build's eviction may remove entries between `has` (planning) and `get`."""
    plan = chain(20, coherence="none")
    run(plan, FrameCache(tmp_path))
    cache = FrameCache(tmp_path)
    addrs = Executor(plan, PreviewBackend()).addr
    gone = {addrs[i] for i in range(5, 17)}
    real_get = FrameCache.get
    monkeypatch.setattr(FrameCache, "has", lambda self, a: True)
    monkeypatch.setattr(FrameCache, "get", lambda self, a: None if a in gone else real_get(self, a))
    _, stats, calls = run(plan, cache)
    assert stats.frames_rendered == 12 and calls["img2img"] + calls["inpaint"] == 12


def test_a_film_whose_every_entry_is_damaged_renders_each_frame_once(tmp_path):
    """All frames damaged and the scenes' segments gone: a rebuild costs a fresh build."""
    plan = make_plan([SceneSpec("a", 12, coherence="lab"), SceneSpec("b", 12, continues=True)])
    opts = BuildOptions(cache_dir=tmp_path / "c")
    fresh = build(plan, tmp_path / "f.mp4", opts)
    for seg in (tmp_path / "c" / "segments").iterdir():
        seg.unlink()
    cache = FrameCache(tmp_path / "c")
    damage(cache, plan, range(len(plan.frames)), "truncated")
    again = build(plan, tmp_path / "f.mp4", opts)
    assert again.frames_rendered == fresh.frames_rendered == 24
    assert again.model_calls == fresh.model_calls
