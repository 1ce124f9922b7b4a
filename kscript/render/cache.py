"""The content-addressed frame cache: finished chain images stored under their plan keys.

Nothing is lost: a build killed at any point (kill -9 included) resumes from the frames it
finished, and an edit re-renders only the frames whose keys changed. Nothing wrong is
served: an entry proves it is the frame of its address, or it is rendered again.

Layout (default `.kscript/` beside the film)::

    .kscript/frames/ab/abcdef0123....frame
    .kscript/segments/KEY.HASH.mp4      (one scene's shown frames, encoded; see build.py)

The public API is by address: `has(addr)`, `get(addr)`, `put(addr, image)`, where
`address(key, fingerprint)` is SHA-256 over the engine version, the entry format, the
frame's plan key (`Frame.key`: the key of its chain image, chained through the frames it
reads; kscript/compile/keys.py) and the backend's fingerprint, so a preview frame is never
reused for a diffusers build of the same plan, and a change to the engine's warps or to the
entry format invalidates old frames. Crossfades are not stored: they are composited from
two cached chain images when the video is written.

Entry format (`KSF2`): magic, codec, height, width, channels (little-endian uint32), the
entry's own address (32 bytes), then the SHA-256 of all of that and the stored bytes (for
`raw-crc32`, their CRC-32 in the field's first 4 bytes), then the stored bytes. An entry is served only when its checksum holds and the address inside
it is the one asked for: a corrupt, truncated or misplaced entry (swapped with another
valid one) counts as missing, is deleted and rendered again.

Codecs (lossless; measured in benchmarks/bench_cache.py, 640x640 frames, one core):

- `zlib`, the default: each row minus the row above (PNG's "Up" filter, mod 256), then
  zlib level 1 with the run-length strategy. 1,228,800 raw bytes become about 230 KB for
  the preview painter's smooth frames and about 710 KB with model-like grain, for 20-45 ms
  on the writer thread; nothing next to a model frame's seconds.
- `raw`: the pixels as they are (1.2 MB, 0.70 ms to hash at load average 0.6). The preview painter makes
  a frame in about 3 ms, less than compressing it, so its frames are stored raw
  (`FrameCache(compress=False)`, chosen by build.py), as `raw-crc32`: the same with a CRC-32
  for a checksum (0.33-0.37 ms), since they are not fsync'ed either (`durable=False`).

Entries are written to a temporary file in the same folder, fsync'ed and renamed into
place (`os.replace`), so a reader sees a whole entry or none. The preview's entries are not
fsync'ed (`durable=False`): flushing 1.2 MB cost about 1.5 ms of the writer's time per
frame here and a third of a millisecond of CPU, more than the frame took to paint, and an
entry a power cut damaged fails its checksum and is painted again. The modification time of an
entry is its last use (touched on every hit).

Size limit: while a build runs (`begin_build`) every new entry first makes room by
evicting the least recently used entries of *other* films (frames and segments alike);
the current film's own entries are never evicted for its new ones. When the film alone
does not fit, its new entries are not stored (counted in `stats.skipped`, so the build
can say by how much the limit is too small), and the cache never grows past its limit.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kscript.atomic import write_atomic
from kscript.errors import RenderError, UsageError
from kscript.render.leftovers import cache_leftover
from kscript.render.worker import BackgroundWorker

#: bump when a change to the executor (warps, fills, coherence) changes the pixels of a frame
ENGINE_VERSION = "render-2"
#: the entry format, part of every address: entries of another format are never read
FORMAT_VERSION = "KSF2"
MAGIC = b"KSF2"
_HEADER = struct.Struct("<4sIIII32s")  # magic, codec, height, width, channels, address
_DIGEST = 32
CODECS = {"raw": 0, "zlib": 1, "raw-crc32": 2}  # raw-crc32: raw, its checksum a CRC-32 (`_checksum`)
SUFFIX = ".frame"
SEGMENT_SUFFIX = ".mp4"
DEFAULT_LIMIT = 2 * 1024**3
#: temporary files older than this are leftovers of a killed writer
_STALE_TMP_SECONDS = 600.0

_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2,
          "g": 1024**3, "gb": 1024**3, "gib": 1024**3, "t": 1024**4, "tb": 1024**4, "tib": 1024**4}


def parse_size(text: str) -> int:
    """Parse a size such as "2GB", "500M", "1.5gib" or "1000000" into bytes (K = 1024)."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _UNITS:
        raise UsageError(f"cannot read the size {text!r}", hint="write it like 500MB, 2GB or 1.5G")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def format_size(n: float) -> str:
    """Bytes for people: "812 KB", "57.3 MB", "2.0 GB" (K = 1024, as `parse_size` reads)."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def address(key: str, fingerprint: str) -> str:
    """The cache address of a frame: SHA-256 over engine version, entry format, plan key and backend."""
    return hashlib.sha256(f"{ENGINE_VERSION}\0{FORMAT_VERSION}\0{key}\0{fingerprint}".encode("utf-8")).hexdigest()


def segment_key(frames: list[tuple[str, str | None, float | None]], width: int, height: int, fps: str,
                encoder: dict[str, object]) -> str:
    """The address of an encoded segment: SHA-256 of canonical JSON of what it shows.

    Args:
        frames: per shown frame, its chain image's cache address (plan key, engine version
            and backend), and for a crossfade frame the address of the `from_frame` image
            and the weight (else None, None).
        width, height, fps: the video's size and exact frame rate (as text, "24000/1001").
        encoder: the encoder settings (codec, preset, crf, pix_fmt, ...).
    """
    doc = {
        "engine": ENGINE_VERSION,
        "frames": [[a, b, None if w is None else float(w)] for a, b, w in frames],
        "width": width,
        "height": height,
        "fps": fps,
        "encoder": encoder,
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def segment_digest(key: str, path: str | os.PathLike[str]) -> str:
    """SHA-256 over a segment's key and its bytes: part of its file name, so a segment proves
    it is the encoding of its key's frames (a flipped byte, or a file swapped or renamed
    from another key, no longer matches)."""
    h = hashlib.sha256(key.encode("ascii") + b"\0")
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    writes: int = 0
    corrupt: int = 0
    #: entries of other films removed to stay under the limit, and their bytes
    evicted: int = 0
    evicted_bytes: int = 0
    #: new entries of the current film not stored because the film alone exceeds the limit
    skipped: int = 0
    skipped_bytes: int = 0
    #: the current film's entries found in the cache at the start of the build (bytes)
    film_bytes_before: int = 0
    #: bytes of the current film's entries written in this build
    written_bytes: int = 0
    #: entries of the current film removed after the build because it alone exceeds a
    #: limit lowered since they were stored
    trimmed: int = 0
    #: entries not stored because the cache cannot be written
    unwritable: int = 0
    #: something in the way of an entry (a folder, a file where a folder belongs) was removed
    cleared: int = 0


def _remove(path: Path) -> bool:
    """Remove a file or a folder tree that stands where an entry of ours belongs."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


class FrameCache:
    """Chain images on disk, by address (see the module docstring).

    Args:
        root: the cache folder.
        limit: its size limit in bytes, or None for none.
        compress: store frames with the `zlib` codec (default) or raw (`raw`, or
            `raw-crc32` when not durable).
        durable: fsync every entry before it is renamed into place (default). False for
            frames that cost less to make again than to flush (the preview's): entries are
            still atomic and verified on read, and one a power cut damaged is made again.
    """

    def __init__(self, root: str | os.PathLike[str], limit: int | None = DEFAULT_LIMIT, *, compress: bool = True,
                 durable: bool = True) -> None:
        self.root = Path(root)
        self.frames = self.root / "frames"
        self.segments = self.root / "segments"
        self.limit = limit
        self.codec = "zlib" if compress else ("raw" if durable else "raw-crc32")
        self.durable = durable
        self.stats = CacheStats()
        #: set when a write found the cache unwritable; later writes are skipped
        self.read_only = False
        self._lock = threading.Lock()
        #: path -> (size, mtime) of every entry, while a size limit is kept (see `_budget`)
        self._index: dict[Path, tuple[int, float]] | None = None
        self._total = 0
        self._protect_frames: set[str] = set()
        self._protect_segments: set[str] = set()
        self._order: dict[str, int] = {}

    # -- frames --------------------------------------------------------------------------------

    def path(self, addr: str) -> Path:
        return self.frames / addr[:2] / (addr[2:] + SUFFIX)

    def has(self, addr: str) -> bool:
        """Whether an entry exists (not verified: `get` verifies)."""
        return self.path(addr).is_file()

    def get(self, addr: str) -> np.ndarray | None:
        """The image stored at `addr`, or None when missing, corrupt or another address's
        entry (then deleted)."""
        p = self.path(addr)
        try:
            data = p.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            self.stats.misses += 1
            return None
        except IsADirectoryError:
            self.stats.misses += 1
            self.stats.corrupt += 1
            if _remove(p):
                self.stats.cleared += 1
            return None
        image = decode_entry(addr, data)
        if image is None:
            self.stats.corrupt += 1
            self.stats.misses += 1
            try:
                p.unlink()
            except OSError:
                pass
            self._forget(p)
            return None
        try:
            os.utime(p)  # last use, for LRU eviction
        except OSError:
            pass
        self.stats.hits += 1
        return image

    def put(self, addr: str, image: np.ndarray) -> bool:
        """Store `image` atomically (a temp file in the same folder, fsync, rename).

        Returns:
            False when it was not stored: the current film alone fills the limit, or the
            cache cannot be written (`read_only`: permissions, a read-only filesystem; the
            build goes on without storing). Other write errors (a full disk) raise.
        """
        if self.read_only:
            self.stats.unwritable += 1
            return False
        data = entry_parts(addr, image, self.codec)
        size = sum(len(part) for part in data)
        p = self.path(addr)
        if not self._budget(p, size):
            return False
        try:
            self.clear_way(p)
            # Private (0600), as entries have always been: pixels of a film in progress.
            write_atomic(p, data, prefix=".tmp-", suffix=SUFFIX, mode=0o600, sync=self.durable)
        except OSError as err:
            self._forget(p)
            if not is_read_only(err):
                raise
            self.read_only, self.stats.unwritable = True, self.stats.unwritable + 1
            return False
        self._admitted(p, size)
        self.stats.writes += 1
        return True

    def clear_way(self, p: Path) -> None:
        """Remove what stands where an entry or its folders belong (a folder named like an
        entry, a file named like a shard folder): the cache heals instead of failing every
        build. Only paths inside the cache, named as ours, are touched."""
        q = self.root
        for part in p.relative_to(self.root).parts[:-1]:
            q = q / part
            if (q.is_file() or q.is_symlink()) and _remove(q):
                self.stats.cleared += 1
        if p.is_dir() and not p.is_symlink() and _remove(p):
            self.stats.cleared += 1

    # -- segments ------------------------------------------------------------------------------

    def segment_path(self, key: str, digest: str) -> Path:
        """Where the encoded segment with this `segment_key` and content digest lives."""
        return self.segments / f"{key}.{digest}{SEGMENT_SUFFIX}"

    def find_segments(self) -> dict[str, list[Path]]:
        """Segment files by key (unverified: `verify_segment` checks one)."""
        out: dict[str, list[Path]] = {}
        try:
            names = os.listdir(self.segments)
        except OSError:
            return out
        for name in names:
            parts = name.split(".")
            if len(parts) == 3 and "." + parts[2] == SEGMENT_SUFFIX and len(parts[0]) == 64 and len(parts[1]) == 64:
                out.setdefault(parts[0], []).append(self.segments / name)
        return out

    def verify_segment(self, key: str, path: Path) -> bool:
        """Whether `path` holds the segment of `key` byte for byte; if not it is removed."""
        digest = path.name.split(".")[1]
        try:
            ok = path.is_file() and segment_digest(key, path) == digest
        except OSError:
            ok = False
        if not ok:
            self.stats.corrupt += 1
            if _remove(path):
                self._forget(path)
        return ok

    def admit_segment(self, key: str, scratch: Path) -> Path | None:
        """Move a freshly encoded segment from `scratch` (in the same filesystem) into the
        cache under its key and digest. Returns its new path, or None when it stays where it
        is (the limit leaves no room for it, or the cache cannot be written)."""
        size = scratch.stat().st_size
        target = self.segment_path(key, segment_digest(key, scratch))
        if not self._budget(target, size):
            return None
        try:
            self.clear_way(target)
            os.replace(scratch, target)
        except OSError:
            self._forget(target)
            raise
        self._admitted(target, size)
        return target

    def touch(self, path: Path) -> None:
        """Mark an entry as just used (for LRU eviction)."""
        try:
            os.utime(path)
        except OSError:
            pass

    # -- size ----------------------------------------------------------------------------------

    def entries(self) -> list[tuple[Path, int, float]]:
        """(path, size, mtime) of every entry, frames and segments; removes stale temp files."""
        out: list[tuple[Path, int, float]] = []
        now = time.time()
        folders = [sub for sub in self.frames.iterdir() if sub.is_dir()] if self.frames.is_dir() else []
        if self.segments.is_dir():
            folders.append(self.segments)
        for sub in folders:
            for f in sub.iterdir():
                try:
                    st = f.stat()
                except OSError:
                    continue
                # ".tmp-*": a frame or a build's segments being written; ".NAME.tmp-*": a
                # segment being encoded.
                if f.name.startswith(".") and ".tmp-" in f.name:
                    # A build's folder of new segments is a leftover only when no build
                    # runs (kscript.render.leftovers); a frame's temporary lives a second.
                    if not cache_leftover(f.name) and now - st.st_mtime > _STALE_TMP_SECONDS:
                        _remove(f)
                    continue
                if f.is_file() and f.suffix == (SEGMENT_SUFFIX if sub == self.segments else SUFFIX):
                    out.append((f, st.st_size, st.st_mtime))
        return out

    def size(self) -> int:
        return sum(s for _, s, _ in self.entries())

    def begin_build(self, frames: list[str], segments: set[str]) -> None:
        """Keep the size limit while a build writes (see the module docstring): index the
        entries once, and never evict `frames` (addresses, in plan order) and `segments`
        (keys), the entries of the film being built, for its new ones."""
        with self._lock:
            self._protect_frames, self._protect_segments = set(frames), set(segments)
            self._order = {a: n for n, a in enumerate(frames)}
            self._index = {p: (s, m) for p, s, m in self.entries()} if self.root.is_dir() else {}
            self._total = sum(s for s, _ in self._index.values())
            self.stats.film_bytes_before = sum(s for p, (s, _) in self._index.items() if self._protected(p))

    def _protected(self, p: Path) -> bool:
        if p.suffix == SUFFIX:
            return p.parent.name + p.stem in self._protect_frames
        return p.name.split(".")[0] in self._protect_segments

    def _budget(self, p: Path, size: int) -> bool:
        """Make room for `size` new bytes at `p`: evict other films' least recently used
        entries; False when only the current film's own entries are left."""
        if self.limit is None:
            return True
        with self._lock:
            if self._index is None:
                self._index = {q: (s, m) for q, s, m in self.entries()} if self.root.is_dir() else {}
                self._total = sum(s for s, _ in self._index.values())
            replaced = self._index.get(p, (0, 0.0))[0]
            need = self._total - replaced + size - self.limit
            if need > 0:
                victims = sorted((m, q.name, q, s) for q, (s, m) in self._index.items()
                                 if q != p and not self._protected(q))
                for _m, _n, q, s in victims:
                    if need <= 0:
                        break
                    if _remove(q):
                        del self._index[q]
                        self._total -= s
                        need -= s
                        self.stats.evicted += 1
                        self.stats.evicted_bytes += s
            if need > 0:
                self.stats.skipped += 1
                self.stats.skipped_bytes += size
                return False
            # Reserved now: a write on another thread (frames, segments) counts it at once.
            self._total += size - replaced
            self._index[p] = (size, time.time())
            return True

    def _admitted(self, p: Path, size: int) -> None:
        self.stats.written_bytes += size
        if self._index is None or self.limit is not None:
            return  # with a limit, `_budget` has counted it
        with self._lock:
            self._total += size - self._index.get(p, (0, 0.0))[0]
            self._index[p] = (size, time.time())

    def _forget(self, p: Path) -> None:
        if self._index is None:
            return
        with self._lock:
            old = self._index.pop(p, None)
            if old is not None:
                self._total -= old[0]

    def usage(self) -> tuple[int, int]:
        """(bytes of the whole cache, bytes of the current film's entries; see `begin_build`)."""
        entries = self.entries()
        return sum(s for _, s, _ in entries), sum(s for p, s, _ in entries if self._protected(p))

    def evict(self, limit: int | None = None) -> int:
        """Delete least recently used entries until the cache is under `limit` bytes.

        The entries of the film being built (`begin_build`) go last, and only when the
        film alone is over the limit (a limit lowered since they were stored): its last
        frames first, then its segments, so what stays is what a build under this limit
        would have kept (its first frames).

        Returns:
            the number of entries removed (`stats.evicted` counts those of other films).
        """
        limit = self.limit if limit is None else limit
        if limit is None:
            return 0
        entries = self.entries()
        total = sum(s for _, s, _ in entries)
        removed = 0
        others = sorted((e for e in entries if not self._protected(e[0])), key=lambda e: (e[2], e[0].name))
        own = sorted((e for e in entries if self._protected(e[0])),
                     key=lambda e: (e[0].suffix != SUFFIX, -self._order.get(e[0].parent.name + e[0].stem, 0)))
        for n, (path, size, _) in enumerate(others + own):
            if total <= limit:
                break
            try:
                path.unlink()
            except OSError:
                continue
            total -= size
            removed += 1
            if n < len(others):
                self.stats.evicted += 1
                self.stats.evicted_bytes += size
            else:
                self.stats.trimmed += 1
        self._index = None  # re-read on the next write
        return removed


# -- entries ------------------------------------------------------------------------------------


def _up(image: np.ndarray) -> np.ndarray:
    d = image.copy()
    d[1:] -= image[:-1]  # uint8: mod 256
    return d


def entry_parts(addr: str, image: np.ndarray, codec: str = "zlib") -> tuple[bytes | memoryview, ...]:
    """A cache entry for `image` at `addr` (see the module docstring), as the pieces to write
    one after another: a raw entry's pixels are its image's own buffer, not copied into one
    bytes object first (that 1.2 MB join: 0.06 ms on one thread at load average 0.6, about
    0.12 ms a frame on the writer thread of the mini film's build)."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim != 3:
        raise ValueError("cache entries are height x width x channels images")
    h, w, c = image.shape
    if codec == "zlib":
        z = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
        payload: bytes | memoryview = z.compress(_up(image).data) + z.flush()
    else:
        payload = memoryview(image).cast("B")  # raw: the pixels' own buffer
    header = _HEADER.pack(MAGIC, CODECS[codec], h, w, c, bytes.fromhex(addr))
    return header, _checksum(CODECS[codec], header, payload), payload


def _checksum(codec: int, header: bytes | memoryview, payload: bytes | memoryview) -> bytes:
    """An entry's checksum field: the SHA-256 of its header and stored bytes, or for
    `raw-crc32` their CRC-32 (0.33-0.37 ms for a 640x640 frame against SHA-256's 0.70 ms, one
    thread, load average 0.6) padded
    to the field's size. A CRC-32 catches a torn or damaged entry as surely as a hash does
    (it is not made to resist a forger, which a cache beside the film need not); it is for
    the preview's entries, which are cheaper to make again than to flush."""
    if codec == CODECS["raw-crc32"]:
        return zlib.crc32(payload, zlib.crc32(header)).to_bytes(4, "big") + bytes(_DIGEST - 4)
    digest = hashlib.sha256(header)
    digest.update(payload)
    return digest.digest()


def encode_entry(addr: str, image: np.ndarray, codec: str = "zlib") -> bytes:
    """The bytes of a cache entry for `image` at `addr` (`entry_parts`, joined)."""
    return b"".join(entry_parts(addr, image, codec))


def decode_entry(addr: str, data: bytes) -> np.ndarray | None:
    """The image in an entry's bytes, or None unless it is whole and is `addr`'s entry."""
    start = _HEADER.size + _DIGEST
    if len(data) < start:
        return None
    magic, codec, h, w, c, own = _HEADER.unpack_from(data)
    if magic != MAGIC or own != bytes.fromhex(addr):
        return None
    if codec not in CODECS.values():
        return None  # not a codec of ours
    view = memoryview(data)
    if _checksum(codec, view[: _HEADER.size], view[start:]) != bytes(view[_HEADER.size : start]):
        return None
    try:
        pixels = zlib.decompress(view[start:]) if codec == CODECS["zlib"] else view[start:]
    except zlib.error:
        return None
    if len(pixels) != h * w * c:
        return None
    image = np.frombuffer(pixels, dtype=np.uint8).reshape(h, w, c)
    if codec == CODECS["zlib"]:
        return np.cumsum(image, axis=0, dtype=np.uint8)
    return image.copy()


def is_read_only(err: BaseException) -> bool:
    """Whether a write error means the cache folder cannot be written at all (permissions,
    a read-only filesystem): then a build goes on without storing, rather than failing."""
    return isinstance(err, OSError) and err.errno in (errno.EACCES, errno.EPERM, errno.EROFS)


class BackgroundWriter(BackgroundWorker):
    """Writes cache entries on a worker thread, so hashing, writing and fsync overlap the
    next frame's rendering. At most `depth` entries wait; `close()` waits for all of them
    and re-raises the first write error as a `RenderError` naming the cache.

    A build killed before a queued entry is written just renders that frame again.
    """

    def __init__(self, cache: FrameCache, depth: int = 4) -> None:
        self.cache = cache
        super().__init__(name="kscript-cache-writer", depth=depth)

    def handle(self, addr: str, image: np.ndarray) -> None:
        self.cache.put(addr, image)

    def wrap_error(self, err: BaseException) -> BaseException:
        return RenderError(
            f"cannot write the frame cache in '{self.cache.root}': {err}",
            hint="pass --cache DIR to keep finished frames elsewhere, or --no-cache",
        )
