"""Latency of `kscript watch`: from a save to the page learning of the new build.

A copy of `examples/mini_film.kscene` (and the files beside it) goes to a temp folder; a
real watcher + server render it with the preview backend (cold build first, not timed).
Then, N times, the last scene's prompt is edited (a one-scene edit: only that scene's
frames change key) and saved atomically, and we time until the page's event stream
delivers the `finished` event of the new build; with `--browser`, until a headless
Chromium showing the page has swapped in the new video (what the user sees).

The time includes the 150 ms debounce, which is there on purpose (editors save in bursts).

    .venv/bin/python benchmarks/bench_watch_latency.py [--runs 5] [--browser] [--film PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class EventClock:
    """Reads /events on a socket and stamps every event with perf_counter on arrival."""

    def __init__(self, port: int) -> None:
        self.events: list[tuple[float, str, dict]] = []
        self.cond = threading.Condition()
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        f = self.sock.makefile("rb")
        event = None
        for raw in f:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event:
                with self.cond:
                    self.events.append((time.perf_counter(), event, json.loads(line[6:])))
                    self.cond.notify_all()
                event = None

    def wait(self, kind: str, after_build: int, timeout: float = 120.0) -> tuple[float, dict]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for stamp, event, data in self.events:
                    if event == kind and data.get("build", 0) > after_build:
                        return stamp, data
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {kind} event after build {after_build}")
                self.cond.wait(left)

    def close(self) -> None:
        self.sock.close()


def edit_last_prompt(text: str, n: int) -> str:
    matches = list(re.finditer(r'prompt\s+"([^"]*)"', text))
    if not matches:
        raise SystemExit("the film has no prompt to edit")
    m = matches[-1]
    return text[: m.start(1)] + f"{m.group(1)}, variation {n}" + text[m.end(1) :]


def save_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--film", default=str(ROOT / "examples" / "mini_film.kscene"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--browser", action="store_true", help="also time until Chromium shows the new video")
    args = parser.parse_args()

    from kscript.watch.pipeline import KscriptPipeline
    from kscript.watch.server import PreviewServer
    from kscript.watch.state import LiveState
    from kscript.watch.watcher import FilmWatcher

    source = Path(args.film)
    work = Path(tempfile.mkdtemp(prefix="kscript-bench-watch-"))
    for item in source.parent.iterdir():  # the film and whatever it imports beside it
        if item.is_file() and item.suffix == ".kscene":
            shutil.copy(item, work / item.name)
    film = work / source.name
    lines: list[str] = []
    state = LiveState()
    server = PreviewServer(state, port=0).start()
    watcher = FilmWatcher(film, KscriptPipeline(preview=True, cache=work / ".kscript"), state, log=lines.append)
    clock = EventClock(server.port)
    driver = None
    try:
        t0 = time.perf_counter()
        watcher.start()
        _, data = clock.wait("finished", 0, timeout=600)
        cold = time.perf_counter() - t0
        if state.status != "idle":
            print("\n".join(lines), file=sys.stderr)
            raise SystemExit(f"first build failed: {state.status}")
        summary = state.summary or {}
        frames = summary.get("film", {}).get("frame_count")
        print(f"film: {source.name}, {frames} frames, {len(summary.get('scenes', []))} scenes; cold build {cold:.2f} s")
        if args.browser:
            driver = _browser(server.url, work)
        base = state.build
        text = film.read_text(encoding="utf-8")
        sse, page, rebuilt, compiled, first_frame = [], [], [], [], []
        for n in range(1, args.runs + 1):
            time.sleep(0.3)
            video_id = state.video().id if state.video() else 0
            started = time.perf_counter()
            save_atomically(film, edit_last_prompt(text, n))
            stamp, data = clock.wait("finished", base, timeout=300)
            sse.append(stamp - started)
            compiled.append(clock.wait("compiled", base)[0] - started)
            first_frame.append(clock.wait("progress", base)[0] - started)
            base = data["build"]
            result = state.last_result or {}
            rebuilt.append((result.get("frames_rendered"), result.get("frames_cached")))
            if driver is not None:
                _wait_js(driver, f"window.kscript.videoId > {video_id} && document.getElementById('video').readyState >= 1")
                page.append(time.perf_counter() - started)
        ms = lambda xs: ", ".join(f"{x * 1000:.0f}" for x in xs)  # noqa: E731
        print(f"save -> SSE 'compiled' (new timeline and curves on the page) (ms): {ms(compiled)}")
        print(f"save -> SSE first 'progress' (the render under way) (ms): {ms(first_frame)}")
        print(f"save -> SSE 'finished' (ms): {ms(sse)}; median {statistics.median(sse) * 1000:.0f} ms")
        if page:
            print(f"save -> new video loaded in Chromium (ms): {ms(page)}; median {statistics.median(page) * 1000:.0f} ms")
        print(f"frames rendered / from cache per rebuild: {rebuilt}")
        print(f"cpu cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    finally:
        if driver is not None:
            driver.quit()
        clock.close()
        watcher.stop()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _browser(url: str, work: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-background-networking "
        "--disable-component-update --disable-sync --no-first-run --autoplay-policy=no-user-gesture-required"
    ).split():
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={work / 'chromium'}")
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
    driver.get(url)
    _wait_js(driver, "window.kscript && window.kscript.videoId !== null && window.kscript.connected")
    return driver


def _wait_js(driver, script: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if driver.execute_script(f"return ({script});"):
            return
        time.sleep(0.005)
    raise TimeoutError(script)


if __name__ == "__main__":
    raise SystemExit(main())
