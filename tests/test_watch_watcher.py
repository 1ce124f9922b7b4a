"""The watcher, specified on a real watchdog observer over a temp folder.

Every way an editor saves must give exactly one rebuild with the newest text; a burst of
saves gives one or two; errors and a missing film never stop the watcher; imports are
followed as they change. The pipeline is the stand-in from test_watch_fakes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from kscript.watch.state import LiveState
from kscript.watch.watcher import FilmWatcher
from test_watch_fakes import ToyPipeline

QUIET = 0.6  # well past the 150 ms debounce: no further rebuild may come after this


def wait_for(predicate, timeout: float = 10.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


class Session:
    def __init__(self, tmp_path: Path, text: str = "First\n", **pipe_kwargs) -> None:
        self.dir = tmp_path
        self.film = tmp_path / "film.kscene"
        if text is not None:
            self.film.write_text(text)
        self.pipe = ToyPipeline(**pipe_kwargs)
        self.state = LiveState()
        self.lines: list[str] = []
        self.watcher = FilmWatcher(self.film, self.pipe, self.state, log=self.lines.append)

    def start(self) -> "Session":
        self.watcher.start()
        return self

    def builds_settle_at(self, n: int) -> int:
        """Wait for `n` builds, then for quiet; return how many builds there were."""
        wait_for(lambda: self.watcher.builds >= n)
        self.watcher.wait_idle()
        time.sleep(QUIET)
        self.watcher.wait_idle()
        return self.watcher.builds

    def stop(self) -> None:
        self.watcher.stop()


@pytest.fixture
def session(tmp_path):
    s = Session(tmp_path).start()
    assert s.builds_settle_at(1) == 1
    yield s
    s.stop()


def test_first_build_runs_at_start_and_reading_the_film_does_not_rebuild(session):
    # Compiling opens and reads the film; those events must not count as saves.
    assert session.watcher.builds == 1
    assert session.state.status == "idle"
    assert session.state.video() is not None
    assert session.pipe.texts == ["First\n"]


def test_in_place_save_rebuilds_once(session):
    with open(session.film, "w") as f:
        f.write("Second\n")
    assert session.builds_settle_at(2) == 2
    assert session.pipe.texts[-1] == "Second\n"


def test_atomic_rename_save_rebuilds_once(session):
    tmp = session.dir / ".film.kscene.swp123"
    tmp.write_text("Atomic\n")
    os.replace(tmp, session.film)  # arrives as a move whose destination is the film
    assert session.builds_settle_at(2) == 2
    assert session.pipe.texts[-1] == "Atomic\n"


def test_vim_style_save_rebuilds_once(session):
    backup = session.dir / "film.kscene~"
    os.rename(session.film, backup)
    session.film.write_text("Vim\n")
    os.remove(backup)
    assert session.builds_settle_at(2) == 2
    assert session.pipe.texts[-1] == "Vim\n"


def test_a_change_to_an_unrelated_file_does_not_rebuild(session):
    (session.dir / "notes.txt").write_text("hello")
    (session.dir / "film.mp4.tmp").write_text("x")
    time.sleep(QUIET)
    assert session.watcher.wait_idle()
    assert session.watcher.builds == 1


def test_a_burst_of_50_saves_gives_one_or_two_rebuilds_and_the_last_text_wins(session):
    start = time.monotonic()
    for i in range(50):
        session.film.write_text(f"Burst {i}\n")
        time.sleep(0.005)  # 0.25 s of pauses: the burst stays within a second on a busy machine
    assert time.monotonic() - start < 1.0
    builds = session.builds_settle_at(2)
    assert 2 <= builds <= 3, session.pipe.texts
    assert session.pipe.texts[-1] == "Burst 49\n"
    assert session.pipe.rendered_texts[-1] == "Burst 49"
    assert session.state.status == "idle"


def test_a_broken_save_shows_errors_keeps_the_video_and_a_fix_clears_them(session):
    good = session.state.video()
    session.film.write_text("Broken\n   !error here\n")
    assert wait_for(lambda: session.state.status == "error")
    assert session.state.status == "error"
    diags = session.state.diagnostics
    assert f"{session.film}:2:4: error[E001]: unexpected '!error'" in diags["text"]
    assert diags["items"][0]["line"] == 2 and diags["items"][0]["col"] == 4
    assert session.state.video() == good  # the last good video stays
    assert any("error[E001]" in line for line in session.lines)  # and the terminal shows the same text
    assert diags["text"] in session.lines

    session.film.write_text("Fixed\n")
    assert wait_for(lambda: session.state.status == "idle" and session.state.video() != good)
    assert session.state.diagnostics is None
    assert session.state.video().id > good.id
    assert session.pipe.rendered_texts[-1] == "Fixed"


def test_a_deleted_film_is_reported_and_picked_up_when_it_returns(session):
    session.film.unlink()
    assert wait_for(lambda: session.state.status == "missing")
    assert session.state.message == f"{session.film} was removed; waiting for it to come back"
    assert session.state.message in session.lines
    session.film.write_text("Back\n")
    assert wait_for(lambda: session.pipe.texts[-1] == "Back\n" and session.state.status == "idle")
    assert session.state.status == "idle"
    assert session.pipe.rendered_texts[-1] == "Back"


def test_a_renamed_film_is_picked_up_when_renamed_back(session):
    away = session.dir / "elsewhere.kscene"
    os.rename(session.film, away)
    assert wait_for(lambda: session.state.status == "missing")
    away.write_text("Renamed back\n")
    os.rename(away, session.film)
    assert wait_for(lambda: session.state.status == "idle" and session.pipe.texts[-1] == "Renamed back\n")
    assert session.pipe.rendered_texts[-1] == "Renamed back"


def test_an_edited_import_rebuilds_and_a_new_import_gets_watched(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "moves.kscene").write_text("moves v1\n")
    s = Session(tmp_path, 'Imports\nimport "lib/moves.kscene"\n').start()
    try:
        assert s.builds_settle_at(1) == 1
        assert s.watcher.watched_files() >= {s.film.resolve(), (lib / "moves.kscene").resolve()}
        (lib / "moves.kscene").write_text("moves v2\n")
        assert s.builds_settle_at(2) == 2

        extra = tmp_path / "more"
        extra.mkdir()
        (extra / "new.kscene").write_text("new v1\n")
        s.film.write_text('Imports\nimport "more/new.kscene"\n')
        assert s.builds_settle_at(3) == 3
        assert extra.resolve() in s.watcher.watched_dirs()
        assert lib.resolve() not in s.watcher.watched_dirs()  # no longer imported: not watched
        (extra / "new.kscene").write_text("new v2\n")
        assert s.builds_settle_at(4) == 4
        (lib / "moves.kscene").write_text("moves v3\n")  # the old import no longer matters
        assert s.builds_settle_at(4) == 4
    finally:
        s.stop()


def test_a_missing_import_created_later_triggers_a_rebuild(tmp_path):
    s = Session(tmp_path, 'Needs\nimport "later.kscene"\n').start()
    try:
        assert wait_for(lambda: s.state.status == "error")
        assert "not found" in s.state.diagnostics["text"]
        (tmp_path / "later.kscene").write_text("here now\n")
        assert wait_for(lambda: s.state.status == "idle")
        assert s.state.status == "idle"
    finally:
        s.stop()


def test_an_import_with_errors_is_watched_so_fixing_it_rebuilds(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "bad.kscene").write_text("ok\n")
    s = Session(tmp_path, "Plain\n").start()
    try:
        assert s.builds_settle_at(1) == 1
        (lib / "bad.kscene").write_text("!error\n")
        s.film.write_text('Plain\nimport "lib/bad.kscene"\n')  # newly imported, and broken
        assert wait_for(lambda: s.state.status == "error")
        assert f"{lib / 'bad.kscene'}:1:1" in s.state.diagnostics["text"]
        (lib / "bad.kscene").write_text("fine\n")  # only the import is fixed
        assert wait_for(lambda: s.state.status == "idle")
        assert s.state.status == "idle"
    finally:
        s.stop()


def test_a_save_during_a_render_cancels_it_and_renders_the_newest_text(tmp_path):
    s = Session(tmp_path, "Slow\nframes 40\n", frame_delay=0.05).start()
    try:
        assert wait_for(lambda: s.pipe.frames_done >= 3)
        s.film.write_text("Newer\nframes 40\n")
        assert wait_for(lambda: s.pipe.rendered_texts == ["Newer"], timeout=15)
        # The pipeline records the text before the watcher reports the build finished:
        # wait for the watcher itself, not only for the stand-in pipeline.
        assert s.watcher.wait_idle()
        assert s.pipe.rendered_texts == ["Newer"]  # the old render never finished
        assert s.pipe.cancelled == 1
        assert s.pipe.frames_done < 80
        assert s.state.status == "idle"
    finally:
        s.stop()


def test_stop_is_clean_even_during_a_render(tmp_path):
    s = Session(tmp_path, "Slow\nframes 200\n", frame_delay=0.05).start()
    assert wait_for(lambda: s.pipe.frames_done >= 2), s.lines  # stopped mid-render, not after a failure
    started = time.monotonic()
    s.stop()
    assert time.monotonic() - started < 2.0
    assert not s.watcher._thread.is_alive()
    assert not any("newer save" in line for line in s.lines), s.lines  # no save was waiting


def test_a_film_not_made_yet_is_waited_for_and_built_when_created(tmp_path):
    s = Session(tmp_path, text=None).start()
    try:
        assert wait_for(lambda: s.state.status == "missing")
        assert s.state.message == f"{s.film} does not exist yet; waiting for it to be created"
        assert s.watcher.builds == 0
        s.film.write_text("Created\n")
        assert s.builds_settle_at(1) == 1
        assert s.pipe.texts == ["Created\n"] and s.state.status == "idle"
    finally:
        s.stop()


def test_a_long_render_reports_progress_in_the_terminal(tmp_path, monkeypatch):
    import kscript.watch.watcher as watcher_module

    monkeypatch.setattr(watcher_module, "PROGRESS_LOG_S", 0.1)
    s = Session(tmp_path, "Long\nframes 12\n", frame_delay=0.05).start()
    try:
        assert wait_for(lambda: s.state.status == "idle" and s.state.video() is not None)
        progress = [line for line in s.lines if line.startswith("rendering: ")]
        assert progress and all(line.endswith("of 12 frames done") for line in progress)
        assert s.state.progress == {"done": 12, "total": 12}
    finally:
        s.stop()


def test_a_bug_in_the_page_summary_is_shown_as_an_internal_error_not_hidden(tmp_path, monkeypatch):
    """The summary is made from the real plan (the stand-in pipeline makes real plans): a
    failure there is a bug in kscript, shown on the page and in the log, and the watch goes on."""
    import kscript.watch.watcher as watcher_mod

    def broken(plan):
        raise KeyError("frame_count")

    monkeypatch.setattr(watcher_mod, "plan_summary", broken)
    s = Session(tmp_path).start()
    try:
        assert s.builds_settle_at(1) == 1
        assert s.state.status == "error"
        assert any("internal error in kscript" in line and "KeyError: 'frame_count'" in line for line in s.lines)
        assert s.pipe.rendered_texts == []  # nothing rendered from a plan the page cannot show
    finally:
        s.stop()
