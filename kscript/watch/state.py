"""The watch session's shared state: what the page shows, and the events that announce it.

The build thread writes, the HTTP handlers read. Every change bumps `seq` and is broadcast
to the Server-Sent-Events subscribers as a small event (`start`, `compiled`, `progress`,
`finished`, `error`, `cancelled`, `missing`); the page refetches `/api/state` for the full
picture (plan summary, curves, diagnostics) on the events that change it.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# How many good videos stay reachable under /video/<id>.mp4 (a player still streaming the
# previous one must not have it pulled away the moment a new build lands).
KEEP_VIDEOS = 3
# Finished frames kept for /frames/<n>.jpg: the page shows the latest; a few more cover a
# request that arrives after the next frame finished. (Frames can be 1 MB each as arrays.)
KEEP_FRAMES = 8
# Progress events are sent at most this often (a preview render finishes ~100 frames/s).
PROGRESS_INTERVAL_S = 0.05


@dataclass
class VideoEntry:
    id: int
    path: Path
    mime: str


class Subscription:
    """One SSE client: a queue of (event, data) pairs; `None` means the session ended."""

    def __init__(self) -> None:
        self.queue: "queue.Queue[tuple[str, dict[str, Any]] | None]" = queue.Queue(maxsize=1000)

    def get(self, timeout: float) -> tuple[str, dict[str, Any]] | None | bool:
        """The next event, `None` when the session closed, or `False` on timeout."""
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return False


@dataclass
class LiveState:
    """Everything the page can ask for. Thread-safe; mutate only through the methods."""

    film: str = ""
    seq: int = 0
    build: int = 0
    status: str = "idle"  # idle | compiling | rendering | error | missing
    message: str = ""
    progress: dict[str, Any] = field(default_factory=lambda: {"done": 0, "total": 0})
    summary: dict[str, Any] | None = None
    diagnostics: dict[str, Any] | None = None
    last_result: dict[str, Any] | None = None
    _videos: list[VideoEntry] = field(default_factory=list)
    _frames: dict[int, Any] = field(default_factory=dict)
    _last_progress: float = 0.0
    _latest_frame: int | None = None
    _subs: list[Subscription] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closed: bool = False

    # -- readers -------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return self._public()

    def _public(self) -> dict[str, Any]:
        video = self._videos[-1] if self._videos else None
        return {
            "film": self.film,
            "seq": self.seq,
            "build": self.build,
            "status": self.status,
            "message": self.message,
            "progress": dict(self.progress),
            "video": None if video is None else {"id": video.id, "url": f"/video/{video.id}{_ext(video)}"},
            # the live frame belongs to a render in progress; afterwards the video shows it
            "frame": None if self._latest_frame is None or self.status != "rendering" else {
                "index": self._latest_frame,
                "url": f"/frames/{self._latest_frame}.jpg?b={self.build}",
            },
            "summary": self.summary,
            "diagnostics": self.diagnostics,
            "result": self.last_result,
            "time": time.time(),
        }

    def video(self, video_id: int | None = None) -> VideoEntry | None:
        """The latest good video, or the one with this id while it is kept."""
        with self._lock:
            if video_id is None:
                return self._videos[-1] if self._videos else None
            return next((v for v in self._videos if v.id == video_id), None)

    def frame(self, index: int) -> tuple[bytes, str] | None:
        """Frame `index` of the current render as (image bytes, content type), while kept."""
        with self._lock:
            image = self._frames.get(index)
        if image is None:
            return None
        data = frame_image(image)
        if data is not None and not isinstance(image, bytes):
            with self._lock:  # encode once, however many times it is asked for
                if index in self._frames:
                    self._frames[index] = data
        return None if data is None else (data, image_type(data))

    # -- writers (the build thread) ------------------------------------------------------
    def begin(self) -> int:
        with self._lock:
            self.build += 1
            self.status = "compiling"
            self.message = ""
            self.progress = {"done": 0, "total": 0}
            self._frames.clear()
            self._latest_frame = None
            self._emit("start", {"build": self.build})
            return self.build

    def compiled(self, summary: dict[str, Any]) -> None:
        with self._lock:
            self.status = "rendering"
            self.summary = summary
            self.diagnostics = None
            total = int(summary.get("film", {}).get("frame_count", 0) or 0)
            self.progress = {"done": 0, "total": total}
            self._emit("compiled", {"build": self.build})

    def frame_done(self, done: int, total: int, index: int | None, image: Any) -> None:
        with self._lock:
            self.progress = {"done": done, "total": total}
            if index is not None and image is not None:
                self._frames[int(index)] = image
                self._latest_frame = int(index)
                for old in sorted(self._frames)[:-KEEP_FRAMES]:
                    del self._frames[old]
            now = time.monotonic()
            if done < total and now - self._last_progress < PROGRESS_INTERVAL_S:
                return
            self._last_progress = now
            self._emit(
                "progress",
                {"build": self.build, "done": done, "total": total, "frame": self._latest_frame},
            )

    def finished(self, video: Path | None, result: dict[str, Any]) -> None:
        with self._lock:
            self.status = "idle"
            self.message = ""
            self.last_result = result
            if video is not None:
                self._videos.append(VideoEntry(self.build, video, _mime(video)))
                del self._videos[:-KEEP_VIDEOS]
            self.progress = {"done": self.progress.get("total", 0), "total": self.progress.get("total", 0)}
            self._emit("finished", {"build": self.build, "video": video is not None})

    def failed(self, diagnostics: dict[str, Any]) -> None:
        with self._lock:
            self.status = "error"
            self.diagnostics = diagnostics
            self.message = diagnostics.get("text", "").splitlines()[0] if diagnostics.get("text") else ""
            self._emit("error", {"build": self.build})

    def cancelled(self) -> None:
        with self._lock:
            self._emit("cancelled", {"build": self.build})

    def missing(self, message: str) -> None:
        with self._lock:
            self.status = "missing"
            self.message = message
            self._emit("missing", {"build": self.build, "message": message})

    def kept_videos(self) -> list[VideoEntry]:
        with self._lock:
            return list(self._videos)

    # -- subscribers ---------------------------------------------------------------------
    def subscribe(self) -> Subscription:
        sub = Subscription()
        with self._lock:
            if self._closed:
                sub.queue.put(None)
            else:
                self._subs.append(sub)
                sub.queue.put(("hello", {"build": self.build, "seq": self.seq, "status": self.status}))
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def close(self) -> None:
        """End every event stream (server shutdown)."""
        with self._lock:
            self._closed = True
            for sub in self._subs:
                _put(sub, None)
            self._subs.clear()

    def _emit(self, event: str, data: dict[str, Any]) -> None:
        # Called with the lock held.
        self.seq += 1
        data = dict(data, seq=self.seq, status=self.status)
        for sub in list(self._subs):
            _put(sub, (event, data))


#: JPEG quality of the live frames. They are a glimpse of the render in progress (the video
#: is the result): at 640x640 a JPEG at this quality is about 0.7 ms to encode and 60 KB,
#: where a PNG was about 19 ms and 530 KB, and a preview render finishes a frame every few
#: milliseconds on the same two cores.
LIVE_JPEG_QUALITY = 90


def frame_image(image: Any) -> bytes | None:
    """Image bytes of a frame given as bytes (served as they are), an image file, or an
    RGB numpy image (encoded as JPEG)."""
    if isinstance(image, (bytes, bytearray)):
        return bytes(image)
    if isinstance(image, (str, Path)):
        try:
            return Path(image).read_bytes()
        except OSError:
            return None
    try:
        import cv2
        import numpy as np

        array = np.ascontiguousarray(image)
        bgr = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, LIVE_JPEG_QUALITY])
        return data.tobytes() if ok else None
    except Exception:  # an image we cannot encode is simply not shown
        return None


def image_type(data: bytes) -> str:
    """The content type of image bytes, from their signature (PNG unless they say JPEG)."""
    return "image/jpeg" if data[:3] == b"\xff\xd8\xff" else "image/png"


def _put(sub: Subscription, item: Any) -> None:
    try:
        sub.queue.put_nowait(item)
    except queue.Full:  # a client that stopped reading: drop the event, it will refetch
        pass


def _mime(path: Path) -> str:
    return {".webm": "video/webm", ".mp4": "video/mp4", ".mov": "video/quicktime"}.get(
        path.suffix.lower(), "application/octet-stream"
    )


def _ext(video: VideoEntry) -> str:
    return video.path.suffix.lower() if video.path.suffix.lower() in (".mp4", ".webm") else ".mp4"
