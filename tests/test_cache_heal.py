"""Failures that heal: what stands in a cache entry's or a segment's place is removed and
made again, an unwritable cache is built without, a killed build's temporaries are removed
by the next build (never a running one's), and the size limit holds during a build without
ever evicting the film being built (hand-made 64x64 plans, the preview painter)."""

from __future__ import annotations

import errno
import math
import os
import tempfile

import av
import numpy as np
import pytest

from kscript.backends.preview import PreviewBackend
from kscript.plan import Motion
from kscript.render import cache as cache_mod
from kscript.render.build import BuildOptions, build
from kscript.render.cache import FrameCache
from kscript.render.executor import Executor
from kscript.render.leftovers import FolderClaim
from plan_factory import SceneSpec, make_plan


def film(prompt: str = "a misty autumn park at dawn", frames: int = 6):
    return make_plan([SceneSpec("a", frames, prompt, motion=Motion(zoom=1.03)),
                      SceneSpec("b", frames, prompt + ", at night", motion=Motion(x=1.5))])


def decoded(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]


def frame_files(root):
    return sorted((root / "frames").rglob("*.frame"))


# -- things in the way ------------------------------------------------------------------------


def test_a_folder_in_place_of_a_cache_entry_is_removed_and_the_entry_written(tmp_path):
    opts = BuildOptions(cache_dir=tmp_path / "c", no_cache=False)
    plan = film()
    build(plan, tmp_path / "f.webm", opts)  # single pass: every frame is read from the cache
    entry = FrameCache(tmp_path / "c").path(Executor(plan, PreviewBackend()).addr[3])
    entry.unlink()
    (entry / "junk").mkdir(parents=True)
    report = build(plan, tmp_path / "f.webm", opts)
    assert report.frames_rendered == 1 and entry.is_file()
    assert build(plan, tmp_path / "f.webm", opts).frames_rendered == 0


def test_a_file_in_place_of_a_shard_folder_is_removed(tmp_path):
    plan = film()
    cache = FrameCache(tmp_path / "c")
    addr = Executor(plan, PreviewBackend()).addr[0]
    cache.frames.mkdir(parents=True)
    (cache.frames / addr[:2]).write_bytes(b"not a folder")
    report = build(plan, tmp_path / "f.mp4", BuildOptions(cache_dir=tmp_path / "c"))
    assert report.frames_rendered == 12 and cache.path(addr).is_file()


def test_a_folder_in_place_of_a_segment_is_removed_and_the_segment_encoded(tmp_path):
    opts = BuildOptions(cache_dir=tmp_path / "c")
    build(film(), tmp_path / "f.mp4", opts)
    good = decoded(tmp_path / "f.mp4")
    seg = sorted((tmp_path / "c" / "segments").glob("*.mp4"))[0]
    seg.unlink()
    (seg / "inside").mkdir(parents=True)
    report = build(film(), tmp_path / "f.mp4", opts)
    assert report.segments_encoded == 1 and seg.is_file()
    assert all(np.array_equal(a, b) for a, b in zip(decoded(tmp_path / "f.mp4"), good))


def test_a_file_in_place_of_the_segments_folder_is_removed(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "segments").write_text("x")
    report = build(film(), tmp_path / "f.mp4", BuildOptions(cache_dir=tmp_path / "c"))
    assert report.segments_encoded == 2 and len(list((tmp_path / "c" / "segments").glob("*.mp4"))) == 2


# -- an unwritable cache ----------------------------------------------------------------------


def deny_writes_under(monkeypatch, root):
    """The cache's folder as a read-only mount or another user's folder would behave."""
    root = str(root)
    real_write, real_mkdtemp = cache_mod.write_atomic, tempfile.mkdtemp

    def write(path, *a, **k):
        if str(path).startswith(root):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_write(path, *a, **k)

    def mkdtemp(prefix="", dir=None):
        if str(dir).startswith(root):
            raise OSError(errno.EROFS, "Read-only file system", str(dir))
        return real_mkdtemp(prefix=prefix, dir=dir)

    monkeypatch.setattr(cache_mod, "write_atomic", write)
    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)


def test_an_unwritable_cache_is_built_without_and_says_so(tmp_path, monkeypatch):
    plan = film()
    opts = BuildOptions(cache_dir=tmp_path / "c")
    build(plan, tmp_path / "first.mp4", BuildOptions(cache_dir=tmp_path / "c", cache_limit=None))
    edited = film("a sunny desert at noon")  # both scenes change: two segments to write
    deny_writes_under(monkeypatch, tmp_path / "c")
    report = build(edited, tmp_path / "f.mp4", opts)
    assert report.cache.read_only and report.frames_rendered == 12
    assert any("cannot be written" in n for n in report.notes)
    assert len(decoded(tmp_path / "f.mp4")) == 12
    assert not [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name]  # scratch segments gone
    # What the cache holds is still read.
    again = build(plan, tmp_path / "g.mp4", opts)
    assert again.frames_rendered == 0 and again.segments_cached == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only folders")
def test_a_read_only_cache_folder_is_built_without(tmp_path):
    cache = tmp_path / "c"
    (cache / "frames").mkdir(parents=True)
    (cache / "segments").mkdir()
    for p in (cache / "frames", cache / "segments", cache):
        p.chmod(0o555)
    try:
        report = build(film(), tmp_path / "f.mp4", BuildOptions(cache_dir=cache))
    finally:
        for p in (cache, cache / "frames", cache / "segments"):
            p.chmod(0o755)
    assert report.cache.read_only and len(decoded(tmp_path / "f.mp4")) == 12


# -- leftovers of killed builds ---------------------------------------------------------------


def test_a_killed_builds_temporaries_beside_the_film_are_removed_by_the_next_build(tmp_path):
    left = [tmp_path / ".f.mp4.tmp-1a2b3c.mp4", tmp_path / ".f.mp4.tmp-segments-9f8e"]
    left[0].write_bytes(b"\0" * 1000)
    left[1].mkdir()
    (left[1] / "k.mp4").write_bytes(b"x")
    others = [tmp_path / ".other.mp4.tmp-1a2b3c.mp4", tmp_path / "notes.txt"]
    for p in others:
        p.write_text("not ours")
    build(film(), tmp_path / "f.mp4", BuildOptions(cache_dir=tmp_path / "c"))
    assert not any(p.exists() for p in left) and all(p.exists() for p in others)


def test_a_running_builds_temporaries_are_never_removed(tmp_path):
    live = tmp_path / ".f.mp4.tmp-77aa.mp4"
    live.write_bytes(b"being written")
    scratch = tmp_path / "c" / "segments" / ".tmp-build-xyz"
    scratch.mkdir(parents=True)
    with FolderClaim(tmp_path) as a, FolderClaim(tmp_path / "c" / "segments") as b:  # another build runs
        a.clean(lambda name: False)
        b.clean(lambda name: False)
        build(film(), tmp_path / "f.mp4", BuildOptions(cache_dir=tmp_path / "c"))
    assert live.exists() and scratch.exists()
    build(film(), tmp_path / "f.mp4", BuildOptions(cache_dir=tmp_path / "c"))  # now it has ended
    assert not live.exists() and not scratch.exists()


# -- the size limit ---------------------------------------------------------------------------


def track_peak(monkeypatch, root):
    peak = [0]
    real_put = FrameCache.put

    def put(self, addr, image):
        ok = real_put(self, addr, image)
        # Scan under the cache's lock: the build's other thread evicts (under it) while a
        # scan walks the folders, and a scan that counted an entry just before it was
        # evicted and a new one just after it was written saw two that never coexisted.
        with self._lock:
            peak[0] = max(peak[0], FrameCache(root).size())
        return ok

    monkeypatch.setattr(FrameCache, "put", put)
    return peak


def test_the_limit_holds_during_the_build_and_evicts_other_films_first(tmp_path, monkeypatch):
    other = film("stormy sea, dramatic light", frames=10)
    build(other, tmp_path / "other.mp4", BuildOptions(cache_dir=tmp_path / "c", cache_limit=None))
    full = FrameCache(tmp_path / "c").size()
    plan = film()
    peak = track_peak(monkeypatch, tmp_path / "c")
    limit = full  # room for this film only by evicting the other's entries
    report = build(plan, tmp_path / "f.mp4", BuildOptions(cache_dir=tmp_path / "c", cache_limit=limit))
    assert peak[0] <= limit and report.cache.bytes <= limit
    assert report.cache.evicted > 0 and report.cache.evicted_bytes > 0 and report.cache.not_stored == 0
    assert report.cache.film_bytes == report.cache.film_bytes_needed > 0
    again = build(plan, tmp_path / "f.webm", BuildOptions(cache_dir=tmp_path / "c", cache_limit=limit))
    assert again.frames_rendered == 0 and again.evicted == 0


def test_a_limit_too_small_for_the_film_keeps_what_it_stored_and_says_by_how_much(tmp_path):
    plan = film(frames=8)
    entry = len(cache_mod.encode_entry("0" * 64, np.zeros((64, 64, 3), np.uint8), "raw"))
    limit = 5 * entry + 100  # five of the sixteen raw preview frames
    opts = BuildOptions(cache_dir=tmp_path / "c", cache_limit=limit)
    first = build(plan, tmp_path / "f.webm", opts)
    assert first.cache.not_stored == 11 and len(frame_files(tmp_path / "c")) == 5
    assert first.cache.film_bytes_needed == 16 * entry and first.cache.bytes <= limit
    (note,) = [n for n in first.notes if "too small" in n]
    assert "needs about" in note and f"--cache-limit {math.ceil(16 * entry / 1024)}KB" in note
    # The next build reuses the five frames kept, renders the rest, and keeps the same five:
    # the film's own frames are never evicted in favour of its later ones.
    kept = frame_files(tmp_path / "c")
    second = build(plan, tmp_path / "f.webm", opts)
    assert second.frames_rendered == 11 and frame_files(tmp_path / "c") == kept


def test_a_lowered_limit_keeps_the_films_first_frames_and_says_so(tmp_path):
    plan = film(frames=8)
    build(plan, tmp_path / "f.webm", BuildOptions(cache_dir=tmp_path / "c", cache_limit=None))
    order = Executor(plan, PreviewBackend()).addr
    cache = FrameCache(tmp_path / "c")
    entry = cache.path(order[0]).stat().st_size
    report = build(plan, tmp_path / "f.webm", BuildOptions(cache_dir=tmp_path / "c", cache_limit=6 * entry))
    assert report.frames_rendered == 0 and report.cache.bytes <= 6 * entry
    assert [cache.has(a) for a in order] == [True] * 6 + [False] * 10
    assert report.cache.film_bytes_needed == 16 * entry and report.cache.not_stored == 10
    assert any("too small for this film" in n for n in report.notes)


@pytest.mark.parametrize("output", ["out/", "f.webm", "f.mp4"])
def test_after_a_kill_9_the_next_build_leaves_no_temporary_behind(tmp_path, output):
    import signal
    import subprocess
    import sys
    import time

    from kscript.cli import main
    from test_build_cli import SLOW_BUILD, write_plan

    plan = make_plan([SceneSpec("a", 30, motion=Motion(zoom=1.01)), SceneSpec("b", 10, "stormy sea")])
    film_file = write_plan(tmp_path / "film.json", plan)
    args = ["build", str(film_file), "-q", "-o", str(tmp_path / output)]

    def temporaries():
        return [p for p in [*tmp_path.iterdir(), *(tmp_path / ".kscript" / "segments").glob(".*")]
                if ".tmp-" in p.name] if (tmp_path / ".kscript").exists() else []

    proc = subprocess.Popen([sys.executable, "-c", SLOW_BUILD, *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not (
            temporaries() and len(FrameCache(tmp_path / ".kscript").entries()) >= 4):
        time.sleep(0.01)
    assert proc.poll() is None, "the build ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert temporaries(), "the killed build left nothing to clean"
    assert main(args) == 0
    assert temporaries() == []


def test_the_summary_shows_the_caches_size_this_films_share_and_what_was_evicted(tmp_path):
    from kscript.commands.build import summary

    build(film("stormy sea"), tmp_path / "other.webm", BuildOptions(cache_dir=tmp_path / "c", cache_limit=None))
    limit = FrameCache(tmp_path / "c").size()
    report = build(film(), tmp_path / "f.webm", BuildOptions(cache_dir=tmp_path / "c", cache_limit=limit))
    line = [ln for ln in summary(report).splitlines() if ln.strip().startswith("cache ")]
    assert len(line) == 1 and "this film" in line[0] and f"evicted {report.cache.evicted} entries" in line[0]
    assert report.cache.evicted > 0
    assert "cache " not in summary(build(film(), tmp_path / "g.webm", BuildOptions(no_cache=True)))
