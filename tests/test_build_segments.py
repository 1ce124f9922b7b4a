"""Scene segments: an H.264 film is encoded one scene at a time into the cache and joined by
packet copy, so a rebuild encodes only the scenes whose shown frames changed and reads no
frame of the others (hand-made plans from tests/plan_factory.py, 64x64)."""

from __future__ import annotations

import av
import numpy as np
import pytest

from kscript.plan import Motion
from kscript.render.build import BuildOptions, build
from kscript.render.cache import FrameCache
from kscript.render.encode import frame_rate
from plan_factory import SceneSpec, make_plan


def film(middle: str = "a neon city street at night, rain", *, fps: float = 12, fade: int = 0, cont: bool = False):
    return make_plan(
        [
            SceneSpec("park", 5, "a misty autumn park at dawn, oil painting", motion=Motion(zoom=1.04)),
            SceneSpec("street", 6, middle, motion=Motion(x=2.0, angle=1.0), crossfade=fade),
            SceneSpec("sea", 4, "stormy sea, dramatic light", motion=Motion(zoom=0.97), crossfade=fade,
                      continues=cont),
        ],
        fps=fps,
    )


def video(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(s)]
        return frames, s.average_rate, s.codec_context.name, s.codec_context.pix_fmt


def segment_files(cache):
    return sorted(p for p in (cache / "segments").glob("*.mp4") if not p.name.startswith("."))


def count_loads(monkeypatch):
    loads: list[str] = []
    real_get = FrameCache.get
    monkeypatch.setattr(FrameCache, "get", lambda self, a: (loads.append(a), real_get(self, a))[1])
    return loads


def close(a, b, tol=4.0):
    return np.abs(a.astype(int) - b.astype(int)).mean() < tol


def test_an_unchanged_rebuild_encodes_nothing_and_reads_no_frame(tmp_path, monkeypatch):
    plan = film()
    opts = BuildOptions(cache_dir=tmp_path / "c")
    first = build(plan, tmp_path / "f.mp4", opts)
    assert first.segments_encoded == 3 and first.segments_cached == 0
    assert len(segment_files(tmp_path / "c")) == 3
    before = (tmp_path / "f.mp4").read_bytes()
    loads = count_loads(monkeypatch)
    again = build(plan, tmp_path / "f.mp4", opts)
    assert again.segments_encoded == 0 and again.segments_cached == 3
    assert again.frames_rendered == 0 and again.frames_loaded == 0 and loads == []
    assert again.frames_cached == again.frames_total == 15
    assert (tmp_path / "f.mp4").read_bytes() == before  # the same packets, joined the same way


@pytest.mark.parametrize("fps", [23.976, 30])
def test_an_edit_to_the_middle_scene_encodes_only_its_segment(tmp_path, monkeypatch, fps):
    opts = BuildOptions(cache_dir=tmp_path / "c")
    build(film(fps=fps), tmp_path / "f.mp4", opts)
    old = set(segment_files(tmp_path / "c"))
    edited = film("a sunny desert at noon, watercolour", fps=fps)
    loads = count_loads(monkeypatch)
    report = build(edited, tmp_path / "f.mp4", opts)
    assert report.segments_encoded == 1 and report.segments_cached == 2
    assert report.frames_rendered == 6 and report.frames_loaded == 0 and loads == []
    new = set(segment_files(tmp_path / "c")) - old
    assert len(new) == 1
    frames, rate, codec, pix_fmt = video(tmp_path / "f.mp4")
    assert len(frames) == 15 and rate == frame_rate(fps) and codec == "h264" and pix_fmt == "yuv420p"
    # Joined without re-encoding: the street frames are exactly the new segment's frames.
    street, _, _, _ = video(new.pop())
    assert all(np.array_equal(a, b) for a, b in zip(frames[5:11], street))
    # And the whole film shows what a single-pass build from nothing shows.
    build(edited, tmp_path / "single.mp4", BuildOptions(no_cache=True))
    single, single_rate, _, _ = video(tmp_path / "single.mp4")
    assert single_rate == rate and len(single) == len(frames)
    assert all(close(a, b) for a, b in zip(frames, single))


def test_a_corrupt_segment_is_encoded_again(tmp_path):
    opts = BuildOptions(cache_dir=tmp_path / "c")
    build(film(), tmp_path / "f.mp4", opts)
    good, _, _, _ = video(tmp_path / "f.mp4")
    broken = segment_files(tmp_path / "c")[0]
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 3])
    report = build(film(), tmp_path / "f.mp4", opts)
    assert report.segments_encoded == 1 and report.segments_cached == 2 and report.frames_rendered == 0
    frames, _, _, _ = video(tmp_path / "f.mp4")
    assert len(frames) == 15 and all(np.array_equal(a, b) for a, b in zip(frames, good))


def test_crossfades_live_in_the_segment_of_the_scene_that_shows_them(tmp_path, monkeypatch):
    opts = BuildOptions(cache_dir=tmp_path / "c")
    plan = film(fade=2, cont=True)
    build(plan, tmp_path / "f.mp4", opts)
    old = set(segment_files(tmp_path / "c"))
    # Edit the park: street crossfades from it, so street's segment shows changed frames and is
    # encoded again, but none of street's chain images is rendered (their keys did not change).
    edited = make_plan(
        [
            SceneSpec("park", 5, "a sunny desert at noon, watercolour", motion=Motion(zoom=1.04)),
            SceneSpec("street", 6, "a neon city street at night, rain", motion=Motion(x=2.0, angle=1.0), crossfade=2),
            SceneSpec("sea", 4, "stormy sea, dramatic light", motion=Motion(zoom=0.97), crossfade=2, continues=True),
        ]
    )
    loads = count_loads(monkeypatch)
    report = build(edited, tmp_path / "f.mp4", opts)
    assert report.frames_rendered == 5  # the park only
    assert report.segments_encoded == 2 and report.segments_cached == 1  # park and street; sea kept
    assert report.frames_loaded == len(loads) == 6  # street's shown frames, to encode them
    assert len(set(segment_files(tmp_path / "c")) - old) == 2
    frames, _, _, _ = video(tmp_path / "f.mp4")
    build(edited, tmp_path / "single.mp4", BuildOptions(no_cache=True))
    single, _, _, _ = video(tmp_path / "single.mp4")
    assert len(frames) == len(single) == 15 and all(close(a, b) for a, b in zip(frames, single))


@pytest.mark.parametrize(
    "output,extra",
    [("f.webm", {}), ("f.mkv", {}), ("f.mp4", {"scene": "street"}), ("frames/", {})],
)
def test_single_pass_outputs_make_no_segments(tmp_path, output, extra):
    report = build(film(), tmp_path / output, BuildOptions(cache_dir=tmp_path / "c", **extra))
    assert report.segments_encoded == report.segments_cached == 0
    assert not (tmp_path / "c" / "segments").exists()


def test_no_cache_makes_no_segments(tmp_path):
    report = build(film(), tmp_path / "f.mp4", BuildOptions(no_cache=True, cache_dir=tmp_path / "c"))
    assert report.segments_encoded == 0 and not (tmp_path / "c").exists()
    frames, _, _, _ = video(tmp_path / "f.mp4")
    assert len(frames) == 15


def test_a_cancelled_build_keeps_finished_segments_and_no_partial_one(tmp_path):
    from kscript.render.executor import BuildCancelled

    seen = []

    def cancel_in_street():
        return len(seen) > 0 and seen[-1] == 7

    opts = BuildOptions(cache_dir=tmp_path / "c", should_cancel=cancel_in_street,
                        on_frame=lambda i, img: seen.append(i))
    with pytest.raises(BuildCancelled):
        build(film(), tmp_path / "f.mp4", opts)
    assert len(segment_files(tmp_path / "c")) == 1  # the park's
    assert not [p for p in (tmp_path / "c" / "segments").iterdir() if p.name.startswith(".")]
    assert not (tmp_path / "f.mp4").exists()
    report = build(film(), tmp_path / "f.mp4", BuildOptions(cache_dir=tmp_path / "c"))
    assert report.segments_cached == 1 and report.segments_encoded == 2


def test_a_cancel_keeps_a_segment_whose_frames_all_came_though_the_encoder_trails(tmp_path, monkeypatch):
    """The encoder runs behind the build thread (at a lower priority): when a build is
    cancelled, a scene all of whose frames were handed over is still encoded and kept; only
    the scene being made is dropped."""
    import time

    from kscript.render.executor import BuildCancelled
    from kscript.render.segments import SegmentEncoder

    real = SegmentEncoder.handle
    monkeypatch.setattr(SegmentEncoder, "handle", lambda self, n, image: (time.sleep(0.03), real(self, n, image)))
    seen = []
    opts = BuildOptions(cache_dir=tmp_path / "c", should_cancel=lambda: bool(seen) and seen[-1] == 7,
                        on_frame=lambda i, img: seen.append(i))
    with pytest.raises(BuildCancelled):
        build(film(), tmp_path / "f.mp4", opts)
    assert len(segment_files(tmp_path / "c")) == 1  # the park's, encoded after the cancel
    assert not [p for p in (tmp_path / "c" / "segments").iterdir() if p.name.startswith(".")]


def test_a_mov_film_is_joined_from_segments_too(tmp_path):
    report = build(film(fade=2), tmp_path / "f.mov", BuildOptions(cache_dir=tmp_path / "c"))
    assert report.segments_encoded == 3
    frames, rate, codec, pix_fmt = video(tmp_path / "f.mov")
    assert len(frames) == 15 and rate == 12 and codec == "h264" and pix_fmt == "yuv420p"
