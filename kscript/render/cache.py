"""The content-addressed frame cache: finished chain images stored under their plan keys.

Nothing is lost: a build killed at any point (kill -9 included) resumes from the frames it
finished, and an edit re-renders only the frames whose keys changed.

Layout (default `.kscript/` beside the film)::

    .kscript/frames/ab/abcdef0123....frame
    .kscript/segments/0123abcd....mp4      (one scene's shown frames, encoded; see build.py)

The address is SHA-256 over the engine version, the frame's plan key (`Frame.key`: the key
of its chain image, chained through the frames it reads; kscript/compile/keys.py) and the
backend's fingerprint, so a preview frame is never reused for a diffusers build of the same
plan, and a change to the engine's warps invalidates old frames. Crossfades are not stored:
they are composited from two cached chain images when the video is written.

Entry format: ``b"KSF1"``, height, width, channels (three little-endian uint32), the
SHA-256 of the pixels (32 bytes), then the raw RGB pixels. Raw pixels, not PNG: encoding a
640x640 PNG costs 8-16 ms here (more than rendering a preview frame), hashing and writing
the raw 1.2 MB about 2 ms. Entries are written to a temporary file in the same folder,
fsync'ed and renamed into place (`os.replace`), so a reader sees a whole entry or none.
Every read checks the checksum; a corrupt or truncated entry counts as missing and is
deleted. The modification time of an entry is its last use (touched on every hit): eviction
removes the least recently used entries, frames and segments alike, until the cache is under
its size limit.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kscript.atomic import write_atomic
from kscript.errors import RenderError, UsageError
from kscript.render.worker import BackgroundWorker

#: bump when a change to the executor (warps, fills, coherence) changes the pixels of a frame
ENGINE_VERSION = "render-1"
MAGIC = b"KSF1"
_HEADER = struct.Struct("<4sIII32s")
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


def address(key: str, fingerprint: str) -> str:
    """The cache address of a frame: SHA-256 over engine version, plan key and backend."""
    return hashlib.sha256(f"{ENGINE_VERSION}\0{key}\0{fingerprint}".encode("utf-8")).hexdigest()


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


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    writes: int = 0
    corrupt: int = 0
    evicted: int = 0


class FrameCache:
    """Chain images on disk, by address (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str], limit: int | None = DEFAULT_LIMIT) -> None:
        self.root = Path(root)
        self.frames = self.root / "frames"
        self.segments = self.root / "segments"
        self.limit = limit
        self.stats = CacheStats()

    def path(self, addr: str) -> Path:
        return self.frames / addr[:2] / (addr[2:] + SUFFIX)

    def has(self, addr: str) -> bool:
        """Whether an entry exists (not verified: `get` verifies)."""
        return self.path(addr).is_file()

    def get(self, addr: str) -> np.ndarray | None:
        """The image stored at `addr`, or None when missing or corrupt (then deleted)."""
        p = self.path(addr)
        try:
            data = p.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            self.stats.misses += 1
            return None
        image = _decode(data)
        if image is None:
            self.stats.corrupt += 1
            self.stats.misses += 1
            try:
                p.unlink()
            except OSError:
                pass
            return None
        try:
            os.utime(p)  # last use, for LRU eviction
        except OSError:
            pass
        self.stats.hits += 1
        return image

    def put(self, addr: str, image: np.ndarray) -> None:
        """Store `image` atomically: a temp file in the same folder, fsync, rename."""
        p = self.path(addr)
        # Private (0600), as entries have always been: pixels of a film in progress.
        write_atomic(p, _encode(image), prefix=".tmp-", suffix=SUFFIX, mode=0o600)
        self.stats.writes += 1

    def segment_path(self, key: str) -> Path:
        """Where the encoded segment with this `segment_key` lives."""
        return self.segments / (key + SEGMENT_SUFFIX)

    def touch(self, path: Path) -> None:
        """Mark an entry as just used (for LRU eviction)."""
        try:
            os.utime(path)
        except OSError:
            pass

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
                # ".tmp-*": a frame being written; ".NAME.tmp-*": a segment being encoded.
                if f.name.startswith(".") and ".tmp-" in f.name:
                    if now - st.st_mtime > _STALE_TMP_SECONDS:
                        try:
                            f.unlink()
                        except OSError:
                            pass
                    continue
                if f.suffix == (SEGMENT_SUFFIX if sub == self.segments else SUFFIX):
                    out.append((f, st.st_size, st.st_mtime))
        return out

    def size(self) -> int:
        return sum(s for _, s, _ in self.entries())

    def evict(self, limit: int | None = None) -> int:
        """Delete least recently used entries until the cache is under `limit` bytes.

        Returns:
            the number of entries removed.
        """
        limit = self.limit if limit is None else limit
        if limit is None:
            return 0
        entries = self.entries()
        total = sum(s for _, s, _ in entries)
        removed = 0
        for path, size, _ in sorted(entries, key=lambda e: (e[2], e[0].name)):
            if total <= limit:
                break
            try:
                path.unlink()
            except OSError:
                continue
            total -= size
            removed += 1
        self.stats.evicted += removed
        return removed


def _encode(image: np.ndarray) -> bytes:
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim != 3:
        raise ValueError("cache entries are height x width x channels images")
    h, w, c = image.shape
    pixels = image.tobytes()
    return _HEADER.pack(MAGIC, h, w, c, hashlib.sha256(pixels).digest()) + pixels


def _decode(data: bytes) -> np.ndarray | None:
    if len(data) < _HEADER.size:
        return None
    magic, h, w, c, digest = _HEADER.unpack_from(data)
    pixels = memoryview(data)[_HEADER.size :]
    if magic != MAGIC or len(pixels) != h * w * c or hashlib.sha256(pixels).digest() != digest:
        return None
    return np.frombuffer(pixels, dtype=np.uint8).reshape(h, w, c).copy()


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
