"""Issue #9.8 (and the Range part of #9.5): the watch server under hostile requests.

127.0.0.1 only, every loop bounded, every socket with a timeout.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from pathlib import Path

import pytest

from kscript.errors import ScriptErrors
from kscript.watch.pipeline import KscriptPipeline
from kscript.watch.server import MAX_CONNECTIONS, PreviewServer, SECURITY_HEADERS, _parse_range
from kscript.watch.state import LiveState
from kscript.watch.summary import diagnostics_payload, plan_summary

from test_watch_fakes import toy_plan


@pytest.fixture
def video(tmp_path) -> Path:
    path = tmp_path / "film.mp4"
    path.write_bytes(bytes(range(256)) * 8)
    return path


@pytest.fixture
def state(video) -> LiveState:
    state = LiveState(film="film.kscene")
    state.begin()
    state.compiled(plan_summary(toy_plan("Served", 4)))
    state.finished(video, {"seconds": 0.1, "frames_rendered": 4, "frames_cached": 0, "output": str(video)})
    return state


def get(port: int, path: str, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp, resp.read()
    finally:
        conn.close()


def test_a_range_with_thousands_of_digits_is_416_not_a_traceback(state, capfd):
    with PreviewServer(state, port=0) as srv:
        for header in ("bytes=0-" + "9" * 5000, "bytes=" + "1" * 5000 + "-", "bytes=-" + "7" * 5000):
            resp, _ = get(srv.port, "/video", {"Range": header})
            assert resp.status == 416 and resp.getheader("Content-Range") == "bytes */2048"
        resp, body = get(srv.port, "/video", {"Range": "bytes=0-9"})
        assert resp.status == 206 and body == bytes(range(10))
    assert "Traceback" not in capfd.readouterr().err
    assert _parse_range("bytes=0-" + "9" * 19, 100) is None and _parse_range("bytes=0-" + "9" * 18, 100) == (0, 99)


@pytest.mark.parametrize("path", ["/", "/video", "/api/state", "/assets/app.js", "/nowhere"])
def test_every_response_keeps_other_origins_out(state, path):
    with PreviewServer(state, port=0) as srv:
        resp, _ = get(srv.port, path)
        for name, value in SECURITY_HEADERS.items():
            assert resp.getheader(name) == value, name
        assert resp.getheader("Cross-Origin-Resource-Policy") == "same-origin"
        if path == "/":
            policy = resp.getheader("Content-Security-Policy")
            assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy


def test_connections_past_the_limit_get_503_and_do_not_make_threads(state):
    import threading

    limit = 8
    with PreviewServer(state, port=0, max_connections=limit) as srv:
        before = threading.active_count()
        idle = [socket.create_connection(("127.0.0.1", srv.port), timeout=5) for _ in range(limit + 40)]
        try:
            time.sleep(0.3)
            # The server holds at most `limit` handler threads, however many sockets are open.
            assert threading.active_count() - before <= limit
            late = idle[-1]
            late.settimeout(5)
            assert late.recv(100).startswith(b"HTTP/1.1 503")
        finally:
            for s in idle:
                s.close()
        # Once the idle ones are gone, the server answers again.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            resp, _ = get(srv.port, "/api/state")
            if resp.status == 200:
                break
            time.sleep(0.05)
        assert resp.status == 200
    assert MAX_CONNECTIONS >= 16  # a page and a few tabs fit


def test_a_silent_connection_is_closed_after_the_read_timeout(state):
    with PreviewServer(state, port=0, read_timeout=0.3) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
            sock.sendall(b"GET /api/state HTTP/1.1\r\n")  # never finishes the request
            t = time.monotonic()
            assert sock.recv(100) == b""  # closed by the server
            assert time.monotonic() - t < 3


def test_a_burst_of_connections_is_queued_not_delayed(state):
    with PreviewServer(state, port=0) as srv:
        t = time.monotonic()
        socks = [socket.create_connection(("127.0.0.1", srv.port), timeout=5) for _ in range(50)]
        for s in socks:
            s.close()
        assert time.monotonic() - t < 0.9  # a backlog of 5 made the 6th wait for a retransmit (1 s)


def test_an_import_of_a_file_that_is_not_a_kscene_is_never_quoted_on_the_page(tmp_path):
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$SECRETHASH$abc:19000:0:99999:7:::\n")
    film = tmp_path / "film.kscene"
    film.write_text(f'film "a" {{ size: 64x64 fps: 4 }}\nimport "{secret}"\nscene a 1s {{ prompt "x" }}\n')
    with pytest.raises(ScriptErrors) as info:
        KscriptPipeline().compile(film)
    state = LiveState(film=str(film))
    state.begin()
    state.failed(diagnostics_payload(info.value))
    shown = json.dumps(state.to_json())
    assert "only .kscene files can be imported" in shown
    assert "SECRETHASH" not in shown and "root:" not in shown
