"""End to end in a real headless Chromium: the page plays, plots, follows edits and errors.

Debian's chromium and chromedriver drive it through Selenium; nothing is downloaded
(the driver's path is given, so Selenium Manager never runs). Skipped, with the reason,
only where chromium or chromedriver is absent.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from kscript.watch.server import PreviewServer
from kscript.watch.state import LiveState
from kscript.watch.watcher import FilmWatcher
from test_watch_fakes import ToyPipeline

CHROMIUM = os.environ.get("KSCRIPT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("KSCRIPT_CHROMEDRIVER", "/usr/bin/chromedriver")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
        reason=f"needs Debian's chromium and chromedriver ({CHROMIUM}, {CHROMEDRIVER}); apt-get install chromium chromium-driver",
    ),
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is a test dependency: pip install -e .[test]")
    from selenium.webdriver.chrome.service import Service

    profile = tmp_path_factory.mktemp("chromium-profile")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1200,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_script_timeout(20)
    driver.set_page_load_timeout(60)  # a page that never loads fails the test, never hangs it
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def until(driver, script: str, timeout: float = 20.0, *args):
    """Poll a JS expression until it is truthy; return its value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return ({script});", *args)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {script!r} (last value {value!r})")


class Live:
    def __init__(self, folder: Path, pipeline) -> None:
        self.film = folder / "film.kscene"
        self.state = LiveState()
        self.lines: list[str] = []
        self.server = PreviewServer(self.state, port=0).start()
        self.watcher = FilmWatcher(self.film, pipeline, self.state, log=self.lines.append)

    def close(self) -> None:
        self.watcher.stop()
        self.server.stop()


@pytest.fixture
def live(tmp_path):
    film = tmp_path / "film.kscene"
    film.write_text("Browser film\nframes 16\n")
    session = Live(tmp_path, ToyPipeline(encode=True))
    session.watcher.start()
    yield session
    session.close()


def canvas_ink(driver, canvas_id: str) -> int:
    """How many pixels of a canvas are not plain white: > 0 means something was drawn."""
    return driver.execute_script(
        """
        const c = document.getElementById(arguments[0]);
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] < 200 || d[i+1] < 200 || d[i+2] < 200) n++;
        return n;
        """,
        canvas_id,
    )


def test_the_page_plays_plots_and_follows_edits_and_errors(browser, live):
    live.watcher.wait_idle(20)
    browser.get(live.server.url)

    # the video loads and plays: 16 frames at 8 fps
    until(browser, "window.kscript && window.kscript.state && window.kscript.state.video")
    duration = until(browser, "document.getElementById('video').duration")
    assert duration == pytest.approx(2.0, abs=0.15)
    t0 = until(browser, "document.getElementById('video').currentTime > 0 && document.getElementById('video').currentTime")
    time.sleep(0.5)
    t1 = browser.execute_script("return document.getElementById('video').currentTime")
    assert t1 != t0, "currentTime did not advance"
    assert browser.execute_script("return document.getElementById('video').readyState") >= 2

    # the timeline and the curves
    names = browser.execute_script("return [...document.querySelectorAll('#timeline .scene')].map(e => e.textContent)")
    assert names == ["scene0", "scene1"]
    for curve in ("zoom", "angle", "x", "y", "turn", "tilt", "strength"):
        assert canvas_ink(browser, f"plot-{curve}") > 50, curve

    # an edit reaches the page by itself (no reload: the marker survives), and the new video
    # keeps the playback position (paused at 1.5 s here, so that it stands still)
    browser.execute_script("const v = document.getElementById('video'); v.pause(); v.currentTime = 1.5;")
    until(browser, "Math.abs(document.getElementById('video').currentTime - 1.5) < 0.01")
    browser.execute_script("window.__marker = 'still here'")
    build = browser.execute_script("return window.kscript.state.build")
    video_id = browser.execute_script("return window.kscript.videoId")
    live.film.write_text("Edited film\nframes 24\n")
    until(browser, f"window.kscript.videoId > {video_id} && window.kscript.state.status === 'idle'")
    assert browser.execute_script("return window.__marker") == "still here"
    assert browser.execute_script("return window.kscript.state.build") > build
    until(browser, "Math.abs(document.getElementById('video').duration - 3.0) < 0.15")
    assert browser.execute_script("return document.getElementById('video').currentTime") == pytest.approx(1.5, abs=0.05)
    assert browser.execute_script("return document.getElementById('video').paused") is True

    # a syntax error shows the overlay with the terminal's text and the right line
    assert browser.execute_script("return document.getElementById('overlay').hidden") is True
    live.film.write_text("Edited film\nframes 24\n  oops !error\n")
    until(browser, "!document.getElementById('overlay').hidden")
    text = browser.execute_script("return document.getElementById('diagnostics').textContent")
    assert f"{live.film}:3:8: error[E001]: unexpected '!error'" in text
    assert "    3 |   oops !error" in text and "^^^^^^" in text
    assert text in live.lines  # exactly the terminal's text
    assert browser.execute_script("return document.getElementById('video').src").endswith(".mp4")

    # fixing it clears the overlay
    live.film.write_text("Fixed film\nframes 24\n")
    until(browser, "document.getElementById('overlay').hidden && window.kscript.state.status === 'idle'")
    assert browser.execute_script("return window.__marker") == "still here"


def test_the_page_reconnects_after_a_server_restart(browser, tmp_path):
    film = tmp_path / "film.kscene"
    film.write_text("First life\nframes 8\n")
    first = Live(tmp_path, ToyPipeline(encode=True))
    first.watcher.start()
    first.watcher.wait_idle(20)
    port = first.server.port
    browser.get(first.server.url)
    until(browser, "window.kscript.state && window.kscript.state.status === 'idle' && window.kscript.connected")
    first.close()
    until(browser, "!window.kscript.connected")

    film.write_text("Second life\nframes 8\n")
    state = LiveState()
    server = PreviewServer(state, port=port).start()
    watcher = FilmWatcher(film, ToyPipeline(encode=True), state, log=lambda _: None).start()
    try:
        until(browser, "window.kscript.connected && window.kscript.state.summary.film.title === 'Second life'", 30)
    finally:
        watcher.stop()
        server.stop()


def test_a_real_film_plays_and_its_errors_show_on_the_page(browser, tmp_path):
    pytest.importorskip("kscript.compile.compiler", reason="needs the compiler (kscript.compile)")
    pytest.importorskip("kscript.render.build", reason="needs the render engine (kscript.render.build)")
    from kscript.watch.pipeline import KscriptPipeline
    from test_watch_real import FILM, MOVES

    (tmp_path / "moves.kscene").write_text(MOVES)
    film = tmp_path / "film.kscene"
    film.write_text(FILM)
    session = Live(tmp_path, KscriptPipeline(preview=True))
    session.watcher.start()
    try:
        browser.get(session.server.url)
        until(browser, "window.kscript.state && window.kscript.state.status === 'idle' && window.kscript.videoId", 60)
        duration = until(browser, "document.getElementById('video').duration")
        assert duration == pytest.approx(2.0, abs=0.1)  # 24 frames at 12 fps
        until(browser, "document.getElementById('video').currentTime > 0.1")
        assert canvas_ink(browser, "plot-x") > 50
        names = browser.execute_script("return [...document.querySelectorAll('#timeline .scene')].map(e => e.textContent)")
        assert names == ["park", "street"]

        film.write_text(FILM.replace('prompt "a neon city street at night"', 'prompt "a neon city street at night" oops'))
        until(browser, "!document.getElementById('overlay').hidden", 30)
        text = browser.execute_script("return document.getElementById('diagnostics').textContent")
        assert text in session.lines
        assert f"{film}:14:" in text.splitlines()[0]  # the line of the mistake

        film.write_text(FILM)
        until(browser, "document.getElementById('overlay').hidden && window.kscript.state.status === 'idle'", 30)
    finally:
        session.close()


def _scenes_film(n: int) -> str:
    scenes = "\n".join(
        f'scene scene_number_{i} 2f {{ prompt "a long prompt for scene {i}, golden light, oil painting" }}'
        for i in range(n)
    )
    return 'film "Many scenes" { size: 64x64 fps: 8 }\n' + scenes + "\n"


@pytest.mark.parametrize("scenes", [3, 30])
def test_the_page_fits_the_window_with_any_number_of_scenes(browser, tmp_path, scenes):
    """#10: with 28 scenes the page was 2,080 px wide in a 1,385 px window. The summary is a
    real plan's; the page must not scroll sideways and every scene must have its block."""
    from kscript import api
    from kscript.watch.summary import plan_summary

    film = tmp_path / "film.kscene"
    film.write_text(_scenes_film(scenes))
    state = LiveState()
    state.begin()
    state.compiled(plan_summary(api.plan(film)))
    server = PreviewServer(state, port=0).start()
    try:
        browser.set_window_size(1385, 900)
        browser.get(server.url)
        until(browser, f"document.querySelectorAll('#timeline .scene').length === {scenes}")
        widths = browser.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth,"
            " document.getElementById('timeline').getBoundingClientRect().right,"
            " document.querySelector('main').getBoundingClientRect().right];"
        )
        shot = Path(os.environ.get("KSCRIPT_SCREENSHOTS", tmp_path)) / f"page-{scenes}-scenes.png"
        browser.save_screenshot(str(shot))
    finally:
        server.stop()
        browser.set_window_size(1200, 1000)
    scroll_width, client_width, timeline_right, main_right = widths
    assert scroll_width <= client_width, f"horizontal scroll: {scroll_width} px of content in {client_width} px"
    assert timeline_right <= main_right
