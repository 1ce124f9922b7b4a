"""The frame cache: whole entries or none, verified on read, least recently used evicted."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from kscript.errors import UsageError
from kscript.render import cache as cache_mod
from kscript.render.cache import FrameCache, address, parse_size


def image(seed: int, size: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def test_round_trip(tmp_path):
    c = FrameCache(tmp_path)
    a = address("k1", "preview-1")
    assert c.get(a) is None and not c.has(a)
    c.put(a, image(1))
    assert c.has(a)
    assert np.array_equal(c.get(a), image(1))
    assert c.path(a).parent.name == a[:2]


def test_address_depends_on_key_and_backend():
    assert address("k", "preview-1") != address("k", "kandinsky-2.2")
    assert address("k", "preview-1") != address("k2", "preview-1")
    assert address("k", "preview-1") == address("k", "preview-1")


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[: len(b) // 2],  # truncated (a torn write)
        lambda b: b[:-1],
        lambda b: b[:60] + bytes([b[60] ^ 1]) + b[61:],  # one flipped bit in the pixels
        lambda b: b"XXXX" + b[4:],  # wrong magic
        lambda b: b"",
    ],
)
def test_a_corrupt_entry_counts_as_missing_and_is_deleted(tmp_path, damage):
    c = FrameCache(tmp_path)
    a = address("k", "fp")
    c.put(a, image(2))
    p = c.path(a)
    p.write_bytes(damage(p.read_bytes()))
    assert c.get(a) is None
    assert not p.exists()
    assert c.stats.corrupt == 1


def test_a_failed_write_leaves_no_entry_and_no_temp(tmp_path, monkeypatch):
    c = FrameCache(tmp_path)
    a = address("k", "fp")
    c.put(a, image(3))

    def boom(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_mod.os, "fsync", boom)
    with pytest.raises(OSError):
        c.put(a, image(4))
    # The previous entry is untouched, no temporary is left behind.
    assert np.array_equal(c.get(a), image(3))
    assert [f.name for f in c.path(a).parent.iterdir()] == [c.path(a).name]


def test_writes_go_through_a_temp_file_and_a_rename(tmp_path, monkeypatch):
    c = FrameCache(tmp_path)
    seen = []
    real = os.replace
    monkeypatch.setattr(cache_mod.os, "replace", lambda s, d: (seen.append((os.path.basename(s), str(d))), real(s, d))[1])
    a = address("k", "fp")
    c.put(a, image(5))
    assert len(seen) == 1 and seen[0][0].startswith(".tmp-") and seen[0][1] == str(c.path(a))


def test_stale_temp_files_are_ignored_and_cleaned(tmp_path):
    c = FrameCache(tmp_path)
    a = address("k", "fp")
    c.put(a, image(6))
    junk = c.path(a).parent / ".tmp-dead.frame"
    junk.write_bytes(b"half")
    old = time.time() - 3600
    os.utime(junk, (old, old))
    assert [p for p, _, _ in c.entries()] == [c.path(a)]
    assert not junk.exists()


def test_lru_eviction_removes_least_recently_used_first(tmp_path):
    c = FrameCache(tmp_path, limit=None)
    addrs = [address(f"k{i}", "fp") for i in range(5)]
    for i, a in enumerate(addrs):
        c.put(a, image(i))
        t = 1_000_000 + i
        os.utime(c.path(a), (t, t))
    entry = c.path(addrs[0]).stat().st_size
    c.get(addrs[0])  # a hit makes k0 the most recently used
    removed = c.evict(limit=3 * entry)
    assert removed == 2
    assert [c.has(a) for a in addrs] == [True, False, False, True, True]
    assert c.size() <= 3 * entry


def test_no_eviction_under_the_limit(tmp_path):
    c = FrameCache(tmp_path, limit=10**9)
    c.put(address("k", "fp"), image(1))
    assert c.evict() == 0 and c.has(address("k", "fp"))


@pytest.mark.parametrize(
    "text,expected",
    [("2GB", 2 * 1024**3), ("500M", 500 * 1024**2), ("1.5gib", int(1.5 * 1024**3)), ("1000", 1000), ("64kb", 65536)],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "2 parsecs", "-1GB"])
def test_parse_size_rejects_nonsense(text):
    with pytest.raises(UsageError):
        parse_size(text)


def test_background_writes_land_and_errors_surface(tmp_path, monkeypatch):
    from kscript.errors import RenderError
    from kscript.render.cache import BackgroundWriter

    c = FrameCache(tmp_path)
    w = BackgroundWriter(c)
    for i in range(6):
        w.put(address(f"k{i}", "fp"), image(i))
    w.close()
    assert all(np.array_equal(c.get(address(f"k{i}", "fp")), image(i)) for i in range(6))

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(c, "put", full)
    w = BackgroundWriter(c)
    w.put(address("x", "fp"), image(9))
    with pytest.raises(RenderError, match="No space left"):
        w.close()


def test_a_build_evicts_other_films_entries_first_and_never_its_own_for_its_new_ones(tmp_path):
    raw = FrameCache(tmp_path, limit=None, compress=False)
    others = [address(f"old{i}", "fp") for i in range(3)]
    for i, a in enumerate(others):
        raw.put(a, image(i))
        os.utime(raw.path(a), (1_000 + i, 1_000 + i))
    entry = raw.path(others[0]).stat().st_size
    c = FrameCache(tmp_path, limit=4 * entry, compress=False)
    film = [address(f"k{i}", "fp") for i in range(6)]
    c.begin_build(film, set())
    stored = [c.put(a, image(10 + i)) for i, a in enumerate(film)]
    # Room for four: the other film's three entries go (oldest first), then the film's own
    # first four stay and its last two are not stored.
    assert stored == [True, True, True, True, False, False]
    assert not any(c.has(a) for a in others) and c.stats.evicted == 3
    assert c.stats.skipped == 2 and c.stats.skipped_bytes == 2 * entry
    assert c.size() <= 4 * entry and c.usage() == (4 * entry, 4 * entry)


@pytest.mark.parametrize("durable", [True, False])
def test_entries_are_flushed_to_disk_unless_the_cache_holds_cheap_frames(tmp_path, monkeypatch, durable):
    """A model frame's entry is fsync'ed before its rename; the preview's (`durable=False`)
    are not, and stay atomic and verified: a reader still sees whole entries."""
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    c = FrameCache(tmp_path, durable=durable, compress=durable)
    a = address("k", "fp")
    c.put(a, image(4))
    assert len(synced) == (1 if durable else 0)
    assert np.array_equal(c.get(a), image(4))
    assert not list(c.path(a).parent.glob(".tmp-*"))


@pytest.mark.parametrize("painter", [True, False])
def test_a_preview_build_stores_its_frames_raw_and_unflushed_a_models_compressed_and_flushed(tmp_path, monkeypatch,
                                                                                           painter):
    """build.py picks the cache's codec and durability by what a frame costs: the painter's
    are cheaper to make again than to compress or flush; a model's (here a backend by
    another name) are not."""
    from kscript.backends.preview import PreviewBackend
    from kscript.render import build as build_mod
    from plan_factory import SceneSpec, make_plan

    class Model(PreviewBackend):
        name = "some-model"

    made = []

    class Recording(FrameCache):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            made.append(self)

    monkeypatch.setattr(build_mod, "FrameCache", Recording)
    plan = make_plan([SceneSpec("a", 3, "a field")], width=32, height=32)
    backend = PreviewBackend() if painter else Model()
    backend.load()
    build_mod.build(plan, tmp_path / "a.mp4", build_mod.BuildOptions(cache_dir=tmp_path / "cache", backend=backend))
    [cache] = made
    assert (cache.codec, cache.durable) == (("raw-crc32", False) if painter else ("zlib", True))
    entries = list((tmp_path / "cache" / "frames").rglob("*" + cache_mod.SUFFIX))
    assert len(entries) == 3
    assert all(cache_mod.decode_entry(e.parent.name + e.name[: -len(cache_mod.SUFFIX)], e.read_bytes()) is not None
               for e in entries)
