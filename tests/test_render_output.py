"""Atomic output and the background worker: permissions by the umask (never by changing it),
nothing half-written, errors handed to the build thread."""

from __future__ import annotations

import os
import sys
import stat
import threading

import numpy as np
import pytest

from kscript.atomic import AtomicFile, AtomicFolder, write_atomic
from kscript.errors import RenderError
from kscript.render.encode import H264Writer, PngFramesWriter, VP9Writer, open_writer
from kscript.render.worker import BackgroundWorker


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_027():
    """Run the test under umask 027 (group may read, others nothing), then restore it."""
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def umask_untouchable(monkeypatch):
    """Any call of os.umask fails: writing output must never change the process umask (it is
    one setting for every thread: a folder made by another thread at that instant would get
    the wrong permissions)."""

    def refuse(_mask):
        raise AssertionError("os.umask was called while writing output")

    monkeypatch.setattr(os, "umask", refuse)


def image(i: int = 0) -> np.ndarray:
    img = np.zeros((48, 64, 3), np.uint8)
    img[..., 0] = i * 20
    img[:, ::2, 1] = 200
    return img


def test_written_files_and_folders_get_the_umask_permissions(tmp_path, umask_027, umask_untouchable):
    write_atomic(tmp_path / "report.json", b"{}")
    assert mode(tmp_path / "report.json") == 0o640
    for name in ("film.mp4", "film.webm"):
        with open_writer(tmp_path / name, 64, 48, 24, preset="ultrafast") as out:
            out.write(image())
        assert mode(tmp_path / name) == 0o640, name
    with open_writer(str(tmp_path / "frames") + "/", 64, 48, 24) as out:
        out.write(image())
    assert mode(tmp_path / "frames") == 0o750


def test_a_private_mode_is_kept(tmp_path, umask_027):
    write_atomic(tmp_path / "entry", b"x", mode=0o600)
    assert mode(tmp_path / "entry") == 0o600


def test_the_frame_cache_and_segments_never_touch_the_umask(tmp_path, umask_027, umask_untouchable):
    """The encoder thread and the cache-writer thread together, as in a build: every folder
    the cache writer makes gets the umask's permissions."""
    from plan_factory import SceneSpec, make_plan

    from kscript.render.build import BuildOptions, build

    plan = make_plan([SceneSpec("a", 6), SceneSpec("b", 6)])
    report = build(plan, tmp_path / "film.mp4", BuildOptions(cache_dir=tmp_path / "cache"))
    assert report.segments_encoded == 2
    folders = [p for p in (tmp_path / "cache").rglob("*") if p.is_dir()]
    assert folders and all(mode(p) == 0o750 for p in folders)
    assert mode(tmp_path / "film.mp4") == 0o640


def test_an_aborted_file_leaves_the_old_one(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with AtomicFile(target) as f:
            f.tmp.write_bytes(b"new, half")
            raise RuntimeError("crash")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["out.bin"]
    with AtomicFile(target) as f:
        f.tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_a_folder_is_replaced_whole_unless_the_guard_refuses(tmp_path):
    target = tmp_path / "frames"
    target.mkdir()
    (target / "a").write_text("old")
    folder = AtomicFolder(target)
    (folder.tmp / "b").write_text("new")
    folder.commit()
    assert [p.name for p in target.iterdir()] == ["b"] and [p.name for p in tmp_path.iterdir()] == ["frames"]

    def refuse(existing):
        raise RenderError(f"keep {existing.name}")

    folder = AtomicFolder(target, guard=refuse)
    (folder.tmp / "c").write_text("newer")
    with pytest.raises(RenderError, match="keep frames"):
        folder.commit()
    assert [p.name for p in target.iterdir()] == ["b"] and [p.name for p in tmp_path.iterdir()] == ["frames"]


@pytest.mark.parametrize("name,cls", [("a.mp4", H264Writer), ("a.mov", H264Writer), ("a.mkv", H264Writer),
                                      ("a.webm", VP9Writer), ("out/", PngFramesWriter), ("out", PngFramesWriter)])
def test_one_writer_per_format(tmp_path, name, cls):
    writer = open_writer(str(tmp_path / name) + ("/" if name.endswith("/") else ""), 64, 48, 24)
    try:
        assert type(writer) is cls
    finally:
        writer.abort()
    assert list(tmp_path.iterdir()) == []  # an aborted writer leaves nothing


class Recorder(BackgroundWorker):
    def __init__(self, fail_at: int | None = None, depth: int = 2):
        self.seen: list[int] = []
        self.threads: set[str] = set()
        self.fail_at = fail_at
        self.stopped_on: str | None = None
        super().__init__(name="test-worker", depth=depth)

    def handle(self, n: int) -> None:
        self.threads.add(threading.current_thread().name)
        if n == self.fail_at:
            raise OSError(28, "No space left on device")
        self.seen.append(n)

    def stopped(self) -> None:
        self.stopped_on = threading.current_thread().name

    def wrap_error(self, err):
        return RenderError(f"wrapped: {err}")


def test_the_worker_handles_items_in_order_on_its_own_thread():
    w = Recorder()
    for i in range(20):
        w.put(i)
    w.close()
    assert w.seen == list(range(20)) and w.threads == {"test-worker"} and w.stopped_on == "test-worker"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are Linux's")
def test_the_worker_runs_below_the_build_threads_priority_and_leaves_it_alone():
    """Output work trails the build thread, the critical path (kscript.render.worker)."""
    from kscript.render.worker import BACKGROUND_NICE

    nice = []

    class Probe(BackgroundWorker):
        def handle(self) -> None:
            nice.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    w = Probe(name="probe", depth=1)
    w.put()
    w.close()
    assert nice == [min(mine + BACKGROUND_NICE, 19)] and BACKGROUND_NICE > 0
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine


def test_the_first_error_reaches_the_build_thread_at_its_next_put_or_at_close():
    w = Recorder(fail_at=3)
    for i in range(5):
        w.put(i)
    with pytest.raises(RenderError, match=r"wrapped: .*No space left"):
        w.close()
    assert w.seen == [0, 1, 2]  # 4 came after the error: dropped
    w = Recorder(fail_at=0)
    w.put(0)
    while w._error is None:
        w._thread.join(0.01)
    with pytest.raises(RenderError, match="wrapped"):
        w.put(1)
    w.close()  # the error was raised once
    assert w.seen == []


def test_a_failing_build_closes_without_raising_and_can_drop_what_waits():
    w = Recorder(fail_at=0)
    w.put(0)
    w.close(raise_error=False)  # the build's own error matters more
    gate = threading.Event()

    class Slow(Recorder):
        def handle(self, n):
            gate.wait(5)
            super().handle(n)

    s = Slow(depth=4)
    for i in range(4):
        s.put(i)
    threading.Timer(0.05, gate.set).start()
    s.close(drop=True, raise_error=False)
    assert len(s.seen) <= 1  # only the item already being handled
