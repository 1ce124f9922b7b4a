"""The preview page's HTTP server: a handful of fixed routes on 127.0.0.1, nothing else.

Routes (GET and HEAD):

    /                     the page (package data kscript/watch/page/index.html)
    /assets/<name>        the page's own files (app.js, style.css), by exact name
    /video                the latest good video
    /video/<id>.mp4       a kept video by build id (cache busting); Range requests -> 206
    /frames/<n>.jpg       a frame of the current render, as it finished
    /api/state            the session state as JSON (see `LiveState.to_json`)
    /events               Server-Sent Events: start, compiled, progress, finished, error, ...

Requests are matched against these patterns on the *raw* request target, before any
decoding or normalisation, so `/../x`, `/%2e%2e/x`, `//etc/passwd` and absolute-form
targets match nothing and get 404. No file is ever opened from a name in the URL: assets
come from a fixed list, videos and frames from the state by number. Only requests whose
Host is this server's own address are answered (a DNS-rebinding page cannot read the
state). Self-contained: the page loads nothing from the network.

Bounded (#9.8): at most `MAX_CONNECTIONS` connections are served at once (the rest get a
503 and are closed at once, so 2,000 idle sockets cannot make 2,000 threads), a connection
that sends nothing for `READ_TIMEOUT_S` is closed, the listen backlog takes a burst
(`BACKLOG`; the standard library's 5 made bursts wait a second), and a Range header with
numbers too long to be a byte offset is a 416. Every response says
`Cross-Origin-Resource-Policy: same-origin` (another origin's page cannot embed /video to
read its size and duration) and the page a strict Content-Security-Policy.
"""

from __future__ import annotations

import json
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

from kscript.errors import UsageError
from kscript.watch.state import LiveState

DEFAULT_PORT = 8765
KEEPALIVE_S = 15.0
#: connections served at once: a page holds two or three (events, video, a frame)
MAX_CONNECTIONS = 64
#: seconds a connection may stay silent while we wait for its request (or may block a write)
READ_TIMEOUT_S = 20.0
#: connections the kernel queues before we accept them
BACKLOG = 128
#: headers on every response
SECURITY_HEADERS = {
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
#: the page's policy: its own files, frames and videos only, never framed by another page
PAGE_POLICY = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
               "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}

_VIDEO = re.compile(r"^/video/([0-9]{1,9})\.(mp4|webm)$")
_FRAME = re.compile(r"^/frames/([0-9]{1,9})\.jpg$")
_ASSET = re.compile(r"^/assets/([A-Za-z0-9_][A-Za-z0-9_.-]{0,63})$")
# Byte offsets of at most 18 digits: anything longer is no file's offset (and int() refuses
# strings past 4,300 digits with a ValueError).
_RANGE = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")
_CHUNK = 64 * 1024


def page_file(name: str) -> bytes:
    """A file of the page, read from the installed package."""
    return (resources.files("kscript.watch") / "page" / name).read_bytes()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = BACKLOG
    state: LiveState
    keepalive: float
    allowed_hosts: set[str]
    max_connections = MAX_CONNECTIONS

    def server_activate(self) -> None:
        self._slots = threading.BoundedSemaphore(self.max_connections)
        super().server_activate()

    def process_request(self, request: Any, client_address: Any) -> None:
        """A thread per connection, up to `max_connections`; past that a 503, closed at once."""
        if not self._slots.acquire(blocking=False):
            try:
                request.settimeout(1.0)
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                b"Retry-After: 1\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser drops media and event connections all the time (seeking, swapping the
        # video, closing the tab): not worth a traceback in the user's terminal.
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT_S  # socket timeout: a silent connection is closed, not kept for ever

    def version_string(self) -> str:
        return "kscript-watch"

    def end_headers(self) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    # -- dispatch ------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def _dispatch(self, head: bool) -> None:
        try:
            if not self._host_ok():
                self._send_text(HTTPStatus.FORBIDDEN, "forbidden host\n", head)
                return
            path = self.path.split("?", 1)[0]
            if path == "/":
                self._send_bytes(page_file("index.html"), "text/html; charset=utf-8", head,
                                 extra={"Content-Security-Policy": PAGE_POLICY})
            elif m := _ASSET.match(path):
                name = m.group(1)
                if name not in ASSETS:
                    self._not_found(head)
                else:
                    self._send_bytes(page_file(name), ASSETS[name], head)
            elif path == "/api/state":
                body = json.dumps(self.server.state.to_json(), ensure_ascii=False).encode("utf-8")
                self._send_bytes(body, "application/json; charset=utf-8", head)
            elif path == "/events":
                self._events(head)
            elif path == "/video":
                self._video(None, head)
            elif m := _VIDEO.match(path):
                self._video(int(m.group(1)), head, m.group(2))
            elif m := _FRAME.match(path):
                self._frame(int(m.group(1)), head)
            else:
                self._not_found(head)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
            self.close_connection = True  # the browser gave up on a request: normal for media

    def _host_ok(self) -> bool:
        host = self.headers.get("Host")
        return host is None or host.lower() in self.server.allowed_hosts

    # -- responses -----------------------------------------------------------------------
    def _send_bytes(self, body: bytes, ctype: str, head: bool, status: int = HTTPStatus.OK,
                    extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _send_text(self, status: int, text: str, head: bool) -> None:
        self._send_bytes(text.encode("utf-8"), "text/plain; charset=utf-8", head, status)

    def _not_found(self, head: bool) -> None:
        self._send_text(HTTPStatus.NOT_FOUND, "not found\n", head)

    def _video(self, video_id: int | None, head: bool, ext: str | None = None) -> None:
        entry = self.server.state.video(video_id)
        if entry is None or (ext is not None and entry.path.suffix.lower() not in (f".{ext}", "")):
            self._not_found(head)
            return
        try:
            f = open(entry.path, "rb")
        except OSError:
            self._not_found(head)
            return
        with f:
            size = Path(entry.path).stat().st_size
            start, end = 0, size - 1
            status = HTTPStatus.OK
            header = self.headers.get("Range")
            if header:
                parsed = _parse_range(header, size)
                if parsed is None:
                    self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start, end = parsed
                status = HTTPStatus.PARTIAL_CONTENT
            length = end - start + 1 if size else 0
            self.send_response(status)
            self.send_header("Content-Type", entry.mime)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(length))
            if status == HTTPStatus.PARTIAL_CONTENT:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.send_header("Cache-Control", "no-store" if video_id is None else "private, max-age=3600")
            self.end_headers()
            if head or not length:
                return
            f.seek(start)
            left = length
            while left > 0:
                chunk = f.read(min(_CHUNK, left))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)

    def _frame(self, index: int, head: bool) -> None:
        found = self.server.state.frame(index)
        if found is None:
            self._not_found(head)
            return
        body, ctype = found
        self._send_bytes(body, ctype, head)

    def _events(self, head: bool) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.send_header("X-Accel-Buffering", "no")
        self.end_headers()
        self.close_connection = True
        if head:
            return
        state = self.server.state
        sub = state.subscribe()
        try:
            self.wfile.write(b"retry: 1000\n\n")
            self.wfile.flush()
            while True:
                item = sub.get(self.server.keepalive)
                if item is None:
                    return
                if item is False:
                    self.wfile.write(b": keep-alive\n\n")
                else:
                    event, data = item
                    payload = json.dumps(data, ensure_ascii=False)
                    self.wfile.write(f"event: {event}\ndata: {payload}\n\n".encode("utf-8"))
                self.wfile.flush()
        finally:
            state.unsubscribe(sub)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
        pass


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One byte range of `size` bytes as (first, last), or None when unsatisfiable.

    Several ranges (`bytes=0-1,5-6`) are answered with the first: browsers never ask for
    more for media, and a single 206 is always a valid answer to one of them.
    """
    first_spec = header.split(",", 1)[0].strip()
    m = _RANGE.match(first_spec)
    if not m or size == 0:
        return None
    a, b = m.groups()
    if a == "" and b == "":
        return None
    if a == "":  # suffix: the last b bytes
        n = int(b)
        if n == 0:
            return None
        return max(size - n, 0), size - 1
    start = int(a)
    end = size - 1 if b == "" else min(int(b), size - 1)
    if start >= size or end < start:
        return None
    return start, end


class PreviewServer:
    """The page's server on 127.0.0.1; `port=0` picks a free port (tests)."""

    def __init__(self, state: LiveState, port: int = DEFAULT_PORT, *, keepalive: float = KEEPALIVE_S,
                 max_connections: int = MAX_CONNECTIONS, read_timeout: float = READ_TIMEOUT_S) -> None:
        self.state = state
        try:
            server_class = type("_BoundServer", (_Server,), {"max_connections": max_connections})
            handler_class = type("_BoundHandler", (_Handler,), {"timeout": read_timeout})
            self._httpd = server_class(("127.0.0.1", port), handler_class)
        except OSError as err:
            raise UsageError(
                f"cannot serve the preview page on 127.0.0.1:{port}: {err.strerror or err}",
                hint="another program uses that port; pick another with --port N (0 picks a free one)",
            ) from None
        self._httpd.state = state
        self._httpd.keepalive = keepalive
        self.port = int(self._httpd.server_address[1])
        self._httpd.allowed_hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        if self.port == 80:
            self._httpd.allowed_hosts |= {"127.0.0.1", "localhost"}
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="kscript-watch-http", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> "PreviewServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the event streams, stop serving, close the socket."""
        self.state.close()
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "PreviewServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
