"""The preview server: its routes, and nothing else.

Paths are sent raw (sockets and http.client, which do not normalise), so `/../` and its
encodings reach the server as written.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from pathlib import Path

import pytest

from kscript.watch.server import PreviewServer, _parse_range, page_file
from kscript.watch.state import LiveState
from kscript.watch.summary import plan_summary
from test_watch_fakes import toy_plan


@pytest.fixture
def video(tmp_path) -> Path:
    path = tmp_path / "film.mp4"
    path.write_bytes(bytes(range(256)) * 40)  # 10240 bytes with a known pattern
    return path


@pytest.fixture
def server(video):
    state = LiveState(film="film.kscene")
    state.begin()
    state.compiled(plan_summary(toy_plan("Served", 6)))
    state.frame_done(1, 6, 0, b"\x89PNG fake")
    state.finished(video, {"seconds": 0.1, "frames_rendered": 6, "frames_cached": 0, "output": str(video)})
    with PreviewServer(state, port=0, keepalive=0.2) as srv:
        yield srv


def get(server, path: str, headers: dict | None = None, method: str = "GET"):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request(method, path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp, body


def raw(server, target: str, host: str | None = None) -> bytes:
    """Send a request line exactly as written; return the status line."""
    host = host or f"127.0.0.1:{server.port}"
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data.split(b"\r\n", 1)[0]


def test_binds_to_loopback_only(server):
    assert server._httpd.server_address[0] == "127.0.0.1"
    assert server.url == f"http://127.0.0.1:{server.port}/"


def test_the_page_and_its_assets(server):
    resp, body = get(server, "/")
    assert resp.status == 200 and resp.getheader("Content-Type").startswith("text/html")
    assert body == page_file("index.html")
    for name, ctype in (("app.js", "text/javascript"), ("style.css", "text/css")):
        resp, body = get(server, f"/assets/{name}")
        assert resp.status == 200 and resp.getheader("Content-Type").startswith(ctype)
        assert body == page_file(name)


def test_the_page_is_self_contained():
    for name in ("index.html", "app.js", "style.css"):
        text = page_file(name).decode()
        assert "http://" not in text.replace("http://127.0.0.1", "") and "https://" not in text, name
        assert "//cdn" not in text and "@import" not in text


def test_state_is_json_with_the_plan_summary(server):
    resp, body = get(server, "/api/state")
    assert resp.status == 200
    state = json.loads(body)
    assert state["status"] == "idle" and state["build"] == 1
    assert state["video"] == {"id": 1, "url": "/video/1.mp4"}
    summary = state["summary"]
    assert [s["name"] for s in summary["scenes"]] == ["scene0", "scene1"]
    assert summary["scenes"][1]["start"] == pytest.approx(3 / 8)
    assert summary["scenes"][0]["prompts"][0]["text"] == "Served prompt 0"
    assert set(summary["curves"]) == {"zoom", "angle", "x", "y", "turn", "tilt", "strength"}
    # plotted in the language's units: the plan's zoom per frame, per second
    fps = summary["film"]["fps"]
    assert summary["curves"]["zoom"] == pytest.approx([z**fps for z in (1.0, 1.01, 1.02, 1.03, 1.04, 1.05)], rel=1e-5)


def test_video_whole_and_by_id_and_head(server, video):
    data = video.read_bytes()
    for path in ("/video", "/video/1.mp4", "/video/1.mp4?t=123"):
        resp, body = get(server, path)
        assert resp.status == 200, path
        assert resp.getheader("Content-Type") == "video/mp4"
        assert resp.getheader("Accept-Ranges") == "bytes"
        assert body == data
    resp, body = get(server, "/video/1.mp4", method="HEAD")
    assert resp.status == 200 and body == b"" and resp.getheader("Content-Length") == str(len(data))
    assert get(server, "/video/2.mp4")[0].status == 404  # no such build


@pytest.mark.parametrize(
    "header, first, last",
    [("bytes=0-99", 0, 99), ("bytes=100-", 100, 10239), ("bytes=-10", 10230, 10239), ("bytes=10000-20000", 10000, 10239)],
)
def test_range_requests_get_206(server, video, header, first, last):
    data = video.read_bytes()
    resp, body = get(server, "/video/1.mp4", {"Range": header})
    assert resp.status == 206
    assert resp.getheader("Content-Range") == f"bytes {first}-{last}/{len(data)}"
    assert resp.getheader("Content-Length") == str(last - first + 1)
    assert body == data[first : last + 1]


@pytest.mark.parametrize("header", ["bytes=20000-", "bytes=50-10", "bytes=-0", "items=0-1"])
def test_unsatisfiable_ranges_get_416(server, video, header):
    resp, body = get(server, "/video", {"Range": header})
    assert resp.status == 416
    assert resp.getheader("Content-Range") == f"bytes */{video.stat().st_size}"


def test_parse_range_takes_the_first_of_several():
    assert _parse_range("bytes=0-1, 5-6", 10) == (0, 1)
    assert _parse_range("bytes=-", 10) is None


def test_frames_as_they_finish(server):
    resp, body = get(server, "/frames/0.jpg")
    # Bytes a pipeline hands over are served as they are, with the type their signature says.
    assert resp.status == 200 and resp.getheader("Content-Type") == "image/png" and body == b"\x89PNG fake"
    assert get(server, "/frames/1.jpg")[0].status == 404
    assert get(server, "/frames/0.png")[0].status == 404  # one name per frame


@pytest.mark.parametrize(
    "target",
    [
        "/../",
        "/../etc/passwd",
        "/assets/../server.py",
        "/assets/..%2fserver.py",
        "/%2e%2e/",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/assets/%2e%2e/__init__.py",
        "//etc/passwd",
        "/etc/passwd",
        "/assets/",
        "/assets/index.html.bak",
        "/assets/__init__.py",
        "/assets/.hidden",
        "/page/app.js",
        "/kscript/watch/page/app.js",
        "/video/../../etc/passwd",
        "/video/1.mp4/..",
        "/video/-1.mp4",
        "/frames/../0.jpg",
        "/favicon.ico",
        "/index.html",
        "/api/state/",
        "/api",
        "http://127.0.0.1/etc/passwd",
        "*",
    ],
)
def test_everything_else_is_404(server, target):
    assert raw(server, target) == b"HTTP/1.1 404 Not Found", target


def test_a_foreign_host_is_refused(server):
    # A web page that rebinds its own name to 127.0.0.1 must not read the state.
    assert raw(server, "/api/state", host="evil.example:8765") == b"HTTP/1.1 403 Forbidden"
    assert raw(server, "/api/state", host=f"localhost:{server.port}") == b"HTTP/1.1 200 OK"


def test_a_port_in_use_is_a_usage_error():
    from kscript.errors import UsageError

    with PreviewServer(LiveState(), port=0) as first:
        with pytest.raises(UsageError, match="in use") as err:
            PreviewServer(LiveState(), port=first.port)
        assert "--port" in err.value.hint


def read_events(sock_file, want: set[str], timeout: float = 5.0) -> list[tuple[str, dict]]:
    events: list[tuple[str, dict]] = []
    event = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = sock_file.readline().decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event:
            events.append((event, json.loads(line[6:])))
            if event in want:
                return events
            event = None
    raise AssertionError(f"no {want} event; got {events}")


def test_events_stream_build_steps_and_keepalives(server, video):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
        f = sock.makefile("rb")
        assert f.readline() == b"HTTP/1.1 200 OK\r\n"
        head = b""
        while (line := f.readline()) != b"\r\n":
            head += line
        assert b"Content-Type: text/event-stream" in head
        assert read_events(f, {"hello"})[-1][1]["build"] == 1

        def build() -> None:
            time.sleep(0.1)
            server.state.begin()
            server.state.compiled({"film": {"frame_count": 2}})
            server.state.frame_done(1, 2, 0, None)
            server.state.finished(video, {"seconds": 0.0})

        threading.Thread(target=build).start()
        got = read_events(f, {"finished"})
        kinds = [e for e, _ in got]
        assert kinds == ["start", "compiled", "progress", "finished"]
        assert got[-1][1]["build"] == 2
        # idle: keep-alive comments keep proxies and the browser from timing out
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            if f.readline() == b": keep-alive\n":
                break
        else:
            raise AssertionError("no keep-alive comment")


def test_stop_ends_open_event_streams(video):
    state = LiveState()
    srv = PreviewServer(state, port=0).start()
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    sock.sendall(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n\r\n".encode())
    f = sock.makefile("rb")
    read_events(f, {"hello"})
    srv.stop()
    rest = f.read()  # the server closes the stream: read returns instead of hanging
    assert b"event:" not in rest
    sock.close()


def test_frames_given_as_images_are_encoded_to_jpeg_on_request(server):
    import cv2
    import numpy as np

    image = np.zeros((16, 24, 3), dtype=np.uint8)
    image[..., 0] = 200  # red, in RGB
    server.state.frame_done(2, 6, 1, image)
    resp, body = get(server, "/frames/1.jpg")
    assert resp.status == 200 and resp.getheader("Content-Type") == "image/jpeg" and body.startswith(b"\xff\xd8\xff")
    decoded = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (16, 24, 3)
    assert np.abs(decoded[0, 0].astype(int) - (0, 0, 200)).max() <= 4  # BGR, within JPEG's error
    assert get(server, "/frames/1.jpg")[1] == body  # encoded once, then served as stored


def test_only_the_latest_frames_are_kept(server):
    for i in range(20):
        server.state.frame_done(i + 1, 20, i, b"png %d" % i)
    assert get(server, "/frames/19.jpg")[1] == b"png 19"
    assert get(server, "/frames/3.jpg")[0].status == 404


def test_a_client_that_drops_the_connection_leaves_no_traceback(server, capfd):
    import struct

    for partial in (b"GET /video/1.mp4 HTTP/1.1\r\nHost: x", b"GET / HTTP/1.1\r\n"):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.sendall(partial)
        time.sleep(0.05)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
        sock.close()
    time.sleep(0.2)
    assert get(server, "/api/state")[0].status == 200  # still serving
    assert "Traceback" not in capfd.readouterr().err


from hypothesis import given, strategies as st  # noqa: E402


@given(
    size=st.integers(min_value=0, max_value=10_000),
    first=st.one_of(st.none(), st.integers(min_value=0, max_value=12_000)),
    last=st.one_of(st.none(), st.integers(min_value=0, max_value=12_000)),
)
def test_any_range_header_gives_bytes_inside_the_file_or_none(size, first, last):
    header = f"bytes={'' if first is None else first}-{'' if last is None else last}"
    got = _parse_range(header, size)
    if got is None:
        return
    a, b = got
    assert 0 <= a <= b < size
    if first is not None:
        assert a == first and b == (size - 1 if last is None else min(last, size - 1))
    else:  # a suffix: the last `last` bytes
        assert b == size - 1 and b - a + 1 == min(last, size)


def test_the_state_names_a_live_frame_only_while_rendering(server):
    import json

    state = server.state
    state.begin()
    state.compiled({"film": {"frame_count": 2}, "scenes": [], "curves": {}})
    state.frame_done(1, 2, 0, b"\x89PNG zero")
    live = json.loads(get(server, "/api/state")[1])
    assert live["status"] == "rendering" and live["frame"]["url"].startswith("/frames/0.jpg")
    state.finished(None, {"seconds": 0.1})
    done = json.loads(get(server, "/api/state")[1])
    assert done["status"] == "idle" and done["frame"] is None

