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
    # a preview draft, encoded with x264's ultrafast preset (its settings are in the stream)
    assert b"subme=0" in (film.parent / "film.mp4").read_bytes()
    summary = state.summary
    assert [s["name"] for s in summary["scenes"]] == ["park", "street"]
    assert summary["scenes"][1]["start"] == pytest.approx(1.0) and summary["scenes"][1]["end"] == pytest.approx(2.0)
    assert summary["scenes"][0]["prompts"] == [{"text": "a misty autumn park at dawn", "start": 0.0, "blend": 0.0}]
    assert summary["curves"]["x"][:12] == [2.0] * 12 and summary["curves"]["x"][12:] == [0.0] * 12
    # a rate's ramp runs over the scene's time: its last frame's move is read half a frame
    # before the scene's end, just short of 1.04 (docs/language.md, "Units")
    assert summary["curves"]["zoom"][12] == pytest.approx(1.0) and 1.039 < summary["curves"]["zoom"][-1] < 1.04
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
    assert state.diagnostics["items"][0]["line"] == 15  # `zoom: 1.0 +`, where the value is missing
    assert state.diagnostics["text"] in lines
    assert state.video() == good
    film.write_text(FILM)
    assert wait_for(lambda: state.status == "idle" and state.diagnostics is None)
    assert state.video().id > good.id


class SlowPipeline(KscriptPipeline):
    """The real pipeline, each finished frame held up a little so a save lands mid-render."""

    def render(self, compiled, *, progress, should_cancel):
        def slow(event):
            time.sleep(0.03)
            progress(event)

        return super().render(compiled, progress=slow, should_cancel=should_cancel)


def test_a_save_mid_render_cancels_it_and_the_finished_frames_are_reused(tmp_path):
    (tmp_path / "moves.kscene").write_text(MOVES)
    film = tmp_path / "film.kscene"
    film.write_text(FILM)
    state = LiveState()
    events = state.subscribe()
    watcher = FilmWatcher(film, SlowPipeline(preview=True), state, log=lambda _: None).start()
    try:
        assert wait_for(lambda: state.status == "rendering" and state.progress["done"] >= 4)
        film.write_text(FILM.replace("neon city street at night", "neon city street in fog"))
        assert wait_for(lambda: state.status == "idle" and state.video() is not None)
        kinds = []
        while (item := events.get(0)) not in (False, None):
            kinds.append(item[0])
        assert kinds.count("cancelled") == 1 and kinds.count("finished") == 1
        assert state.video().id == 2  # build 1 never finished: build 2 made the first video
        assert state.last_result["frames_cached"] >= 4  # what build 1 finished was kept
        assert state.last_result["frames_rendered"] + state.last_result["frames_cached"] == 24
    finally:
        watcher.stop()


def test_a_model_that_is_not_there_is_shown_and_the_watcher_goes_on(tmp_path):
    (tmp_path / "moves.kscene").write_text(MOVES)
    film = tmp_path / "film.kscene"
    missing = tmp_path / "no-such-model"
    film.write_text(FILM.replace("  fps: 12\n", f'  fps: 12\n  model: "{missing}"\n'))
    state = LiveState()
    lines: list[str] = []
    watcher = FilmWatcher(film, KscriptPipeline(), state, log=lines.append).start()
    try:
        assert wait_for(lambda: state.status == "error")
        text = state.diagnostics["text"]
        assert text.startswith("error: ") and "no-such-model" in text
        assert "Traceback" not in text and text in lines
        film.write_text(FILM)  # back to the preview painter
        assert wait_for(lambda: state.status == "idle" and state.video() is not None)
        assert state.diagnostics is None
    finally:
        watcher.stop()


@pytest.mark.slow
def test_a_diffusers_model_is_loaded_once_for_many_rebuilds(tmp_path):
    from tiny_pipelines import tiny_models

    sd = tiny_models()["sd"]
    film = tmp_path / "film.kscene"
    text = f'film "Tiny" {{\n  size: 64x64\n  fps: 4\n  steps: 2\n  model: "{sd}"\n}}\n\nscene a 1s {{\n  prompt "a red house"\n}}\n'
    film.write_text(text)
    pipeline = KscriptPipeline()
    state = LiveState()
    lines: list[str] = []
    watcher = FilmWatcher(film, pipeline, state, log=lines.append).start()
    try:
        assert wait_for(lambda: state.status == "idle" and state.video() is not None, 120), lines
        backend = pipeline._backend
        film.write_text(text.replace("a red house", "a blue house"))
        assert wait_for(lambda: state.status == "idle" and state.video() is not None and state.video().id == 2, 120), lines
        assert pipeline._backend is backend  # same model: kept loaded
        assert state.last_result["frames_rendered"] == 4
    finally:
        watcher.stop()



def test_a_preview_draft_in_watch_goes_where_build_puts_it(tmp_path):
    film = tmp_path / "film.kscene"
    film.write_text('film "d" {\n  size: 64x64\n  fps: 8\n  model: "models/x"\n}\nscene a 2f {\n  prompt "x"\n}\n')
    pipeline = KscriptPipeline(preview=True)
    rendered = pipeline.render(pipeline.compile(film), progress=lambda e: None, should_cancel=lambda: False)
    assert rendered.video == tmp_path / "film.preview.mp4"  # never the model's film.mp4
    assert not (tmp_path / "film.mp4").exists()
