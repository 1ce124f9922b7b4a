"""Watch mode with the real compiler and render engine (preview backend).

The same watcher as in test_watch_watcher, now with `KscriptPipeline`: a real film, real
imports, real diagnostics (the exact text `kscript check` prints), the real frame cache (a
one-scene edit renders only that scene's frames) and a real H.264 video.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("kscript.compile.compiler", reason="needs the compiler (kscript.compile)")
pytest.importorskip("kscript.render.build", reason="needs the render engine (kscript.render.build)")

from kscript.watch.pipeline import KscriptPipeline  # noqa: E402
from kscript.watch.state import LiveState  # noqa: E402
from kscript.watch.watcher import FilmWatcher  # noqa: E402

MOVES = """\
effect drift(speed = 1.5) {
  x: speed
}
"""

FILM = """\
film "Watched" {
  size: 128x128
  fps: 12
}

import "moves.kscene"

scene park 1s {
  prompt "a misty autumn park at dawn"
  effect drift(speed = 2)
}

scene street 1s {
  prompt "a neon city street at night"
  zoom: 1.0 -> 1.04 ease_in_out
}
"""


def wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def real(tmp_path):
    (tmp_path / "moves.kscene").write_text(MOVES)
    film = tmp_path / "film.kscene"
    film.write_text(FILM)
    state = LiveState()
    lines: list[str] = []
    watcher = FilmWatcher(film, KscriptPipeline(preview=True), state, log=lines.append).start()
    assert wait_for(lambda: state.build >= 1 and state.status == "idle"), lines
    yield film, state, watcher, lines
    watcher.stop()


def test_the_first_build_makes_the_video_and_the_plan_summary(real):
    film, state, watcher, _ = real
    assert state.video() is not None and (film.parent / "film.mp4").is_file()
    summary = state.summary
    assert [s["name"] for s in summary["scenes"]] == ["park", "street"]
    assert summary["scenes"][1]["start"] == pytest.approx(1.0) and summary["scenes"][1]["end"] == pytest.approx(2.0)
    assert summary["scenes"][0]["prompts"] == [{"text": "a misty autumn park at dawn", "start": 0.0, "blend": 0.0}]
    assert summary["curves"]["x"][:12] == [2.0] * 12 and summary["curves"]["x"][12:] == [0.0] * 12
    assert summary["curves"]["zoom"][12] == pytest.approx(1.0) and summary["curves"]["zoom"][-1] == pytest.approx(1.04)
    assert watcher.watched_files() >= {film.resolve(), (film.parent / "moves.kscene").resolve()}


def test_a_one_scene_edit_rerenders_only_that_scene(real):
    film, state, watcher, _ = real
    first = state.video().id
    film.write_text(FILM.replace("neon city street at night", "neon city street at dawn"))
    assert wait_for(lambda: state.status == "idle" and state.video().id > first)
    assert state.last_result["frames_rendered"] == 12 and state.last_result["frames_cached"] == 12


def test_an_edited_import_rebuilds(real):
    film, state, watcher, _ = real
    first = state.video().id
    (film.parent / "moves.kscene").write_text(MOVES.replace("x: speed", "x: speed * 2"))
    assert wait_for(lambda: state.status == "idle" and state.video().id > first)
    assert state.summary["curves"]["x"][0] == pytest.approx(4.0)


def test_errors_show_the_exact_text_of_kscript_check_and_a_fix_clears_them(real):
    film, state, watcher, lines = real
    good = state.video()
    film.write_text(FILM.replace("  zoom: 1.0 -> 1.04 ease_in_out\n", "  zoom: 1.0 +\n"))
    assert wait_for(lambda: state.status == "error")
    check = subprocess.run(
        [sys.executable, "-m", "kscript", "check", str(film)], capture_output=True, text=True, cwd=Path.cwd()
    )
    assert check.returncode == 1
    assert state.diagnostics["text"] == check.stderr.strip()
    assert state.diagnostics["items"][0]["line"] == 16
    assert state.diagnostics["text"] in lines
    assert state.video() == good
    film.write_text(FILM)
    assert wait_for(lambda: state.status == "idle" and state.diagnostics is None)
    assert state.video().id > good.id
