"""The cache never serves a wrong frame: an entry proves it is the frame of its address,
and a segment that it is the encoding of its frames, or they are made again.

Swapped entries, swapped or renamed segments and flipped bytes all give the right film
(hand-made 64x64 plans, the preview painter)."""

from __future__ import annotations

import shutil

import av
import numpy as np
import pytest

from kscript.backends.preview import PreviewBackend
from kscript.plan import Motion
from kscript.render.build import BuildOptions, build
from kscript.render.cache import FrameCache, address, decode_entry, encode_entry
from kscript.render.executor import Executor
from plan_factory import SceneSpec, make_plan


def image(seed: int, size: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def film():
    return make_plan([
        SceneSpec("park", 5, "a misty autumn park at dawn, oil painting", motion=Motion(zoom=1.04)),
        SceneSpec("street", 6, "a neon city street at night, rain", motion=Motion(x=2.0, angle=1.0)),
        SceneSpec("sea", 4, "stormy sea, dramatic light", motion=Motion(zoom=0.97)),
    ])


def decoded(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]


def segment_files(root):
    return sorted(p for p in (root / "segments").glob("*.mp4"))


@pytest.mark.parametrize("codec", ["zlib", "raw", "raw-crc32"])
def test_an_entry_round_trips_losslessly_and_only_at_its_address(codec):
    a, b = address("k1", "fp"), address("k2", "fp")
    data = encode_entry(a, image(1, 64), codec)
    assert np.array_equal(decode_entry(a, data), image(1, 64))
    assert decode_entry(b, data) is None  # the right bytes at the wrong address


@pytest.mark.parametrize("codec", ["zlib", "raw", "raw-crc32"])
def test_any_changed_byte_or_a_cut_entry_is_refused(codec):
    """Every codec's checksum covers the header and the stored bytes: one byte changed
    anywhere, or the entry cut short, and it is not served (whichever checksum it has)."""
    a = address("k1", "fp")
    data = encode_entry(a, image(3, 32), codec)
    rng = np.random.default_rng(0)
    for at in [0, 5, 20, 40, 70, len(data) // 2, len(data) - 1, *rng.integers(0, len(data), 40)]:
        bad = bytearray(data)
        bad[at] ^= 1 << int(rng.integers(0, 8))
        assert decode_entry(a, bytes(bad)) is None, at
    assert decode_entry(a, data[:-1]) is None
    assert decode_entry(a, data + b"\0") is None


def test_the_preview_codec_checks_a_crc32_and_others_a_sha256():
    import hashlib
    import zlib

    from kscript.render import cache as cache_mod

    a = address("k1", "fp")
    img = image(2, 16)
    header, check, payload = cache_mod.entry_parts(a, img, "raw-crc32")
    assert check == zlib.crc32(bytes(payload), zlib.crc32(header)).to_bytes(4, "big") + bytes(28)
    header, check, payload = cache_mod.entry_parts(a, img, "raw")
    assert check == hashlib.sha256(header + bytes(payload)).digest()
    # a CRC-32 field in an entry that says `raw` is refused, and the other way round
    swapped = bytearray(encode_entry(a, img, "raw-crc32"))
    swapped[4:8] = (cache_mod.CODECS["raw"]).to_bytes(4, "little")
    assert decode_entry(a, bytes(swapped)) is None


def test_compressed_entries_are_smaller_than_the_raw_pixels():
    smooth = np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (64, 1, 3))
    assert len(encode_entry(address("k", "fp"), smooth)) < smooth.nbytes // 4
    assert len(encode_entry(address("k", "fp"), smooth, "raw")) > smooth.nbytes


def test_swapped_entries_are_detected_deleted_and_re_rendered(tmp_path):
    plan = make_plan([SceneSpec("s", 12, motion=Motion(zoom=0.98))])
    good: dict[int, np.ndarray] = {}
    Executor(plan, PreviewBackend(), FrameCache(tmp_path)).run(lambda i, im: good.__setitem__(i, im))
    cache = FrameCache(tmp_path)
    addrs = Executor(plan, PreviewBackend()).addr
    # Swap entries 2<->9 and 4<->6: each is a whole, valid entry, in the wrong place.
    for i, j in [(2, 9), (4, 6)]:
        pi, pj = cache.path(addrs[i]), cache.path(addrs[j])
        a, b = pi.read_bytes(), pj.read_bytes()
        pi.write_bytes(b)
        pj.write_bytes(a)
    out: dict[int, np.ndarray] = {}
    stats = Executor(plan, PreviewBackend(), cache).run(lambda i, im: out.__setitem__(i, im))
    assert cache.stats.corrupt == 4 and stats.frames_rendered == 4
    assert all(np.array_equal(good[i], out[i]) for i in good)


def test_swapped_segments_are_detected_and_encoded_again(tmp_path):
    opts = BuildOptions(cache_dir=tmp_path / "c")
    build(film(), tmp_path / "f.mp4", opts)
    good = decoded(tmp_path / "f.mp4")
    a, b = segment_files(tmp_path / "c")[:2]
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    report = build(film(), tmp_path / "f.mp4", opts)
    assert report.segments_encoded == 2 and report.segments_cached == 1 and report.cache.corrupt == 2
    frames = decoded(tmp_path / "f.mp4")
    assert len(frames) == 15 and all(np.array_equal(x, y) for x, y in zip(frames, good))


def test_a_segment_renamed_to_another_key_is_not_used(tmp_path):
    """The digest in a name covers the key: another scene's file under this key's name fails."""
    opts = BuildOptions(cache_dir=tmp_path / "c")
    build(film(), tmp_path / "f.mp4", opts)
    good = decoded(tmp_path / "f.mp4")
    files = segment_files(tmp_path / "c")
    victim, other = files[0], files[1]
    key = victim.name.split(".")[0]
    victim.unlink()
    shutil.copy(other, victim.with_name(f"{key}.{other.name.split('.')[1]}.mp4"))
    report = build(film(), tmp_path / "f.mp4", opts)
    assert report.segments_encoded == 1 and report.segments_cached == 2
    assert all(np.array_equal(x, y) for x, y in zip(decoded(tmp_path / "f.mp4"), good))


def test_flipped_bytes_in_a_segment_are_detected_and_it_is_encoded_again(tmp_path):
    opts = BuildOptions(cache_dir=tmp_path / "c")
    build(film(), tmp_path / "f.mp4", opts)
    good = decoded(tmp_path / "f.mp4")
    for seg in segment_files(tmp_path / "c"):
        data = bytearray(seg.read_bytes())
        rng = np.random.default_rng(len(data))
        for pos in rng.integers(len(data) // 2, len(data), 20):  # the packets, past the headers
            data[pos] ^= 0xFF
        seg.write_bytes(bytes(data))
    report = build(film(), tmp_path / "f.mp4", opts)
    assert report.segments_encoded == 3 and report.frames_rendered == 0
    frames = decoded(tmp_path / "f.mp4")
    assert len(frames) == 15 and all(np.array_equal(x, y) for x, y in zip(frames, good))
