"""`kscript watch` as a whole process: prints the URL, serves the page, Ctrl-C ends cleanly."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kscript.cli import main


def start(args: list[str], cwd: Path) -> tuple[subprocess.Popen, int]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kscript", "watch", *args, "--port", "0"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = proc.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    assert m, f"no URL in {line!r}"
    return proc, int(m.group(1))


def get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body


def test_ctrl_c_ends_cleanly_while_waiting_for_a_missing_film(tmp_path):
    proc, port = start(["film.kscene"], tmp_path)
    try:
        status, body = get(port, "/")
        assert status == 200 and b"<video" in body
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status, body = get(port, "/api/state")
            if b'"missing"' in body:
                break
            time.sleep(0.05)
        assert b"film.kscene does not exist yet; waiting for it to be created" in body
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "film.kscene does not exist yet; waiting for it to be created" in err
    assert "stopped" in err


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT ignored by the parent shell"])
def test_kill_ends_cleanly_too(tmp_path, how):
    preexec = None
    if how.startswith("SIGINT"):
        preexec = lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)  # noqa: E731 - like `cmd &` in a script
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kscript", "watch", "film.kscene", "--port", "0"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=preexec,
    )
    assert "http://127.0.0.1:" in proc.stdout.readline()
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM if how == "SIGTERM" else signal.SIGINT)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert err.rstrip().endswith("stopped")


def test_a_missing_folder_is_a_usage_error(tmp_path, capsys):
    assert main(["watch", str(tmp_path / "nowhere" / "film.kscene"), "--port", "0"]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["-1", "70000"])
def test_a_bad_port_is_a_usage_error(tmp_path, capsys, port):
    assert main(["watch", str(tmp_path / "film.kscene"), "--port", port]) == 2
    assert "--port" in capsys.readouterr().err


def test_the_command_imports_nothing_heavy_until_it_runs():
    code = (
        "import sys, kscript.commands.watch; "
        "heavy = [m for m in ('torch', 'diffusers', 'av', 'cv2', 'watchdog', 'http.server') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_open_opens_the_page_in_the_browser(tmp_path, monkeypatch, capsys):
    import threading
    import webbrowser

    opened: list[str] = []
    done = threading.Event()

    def fake_open(url):
        opened.append(url)
        done.set()

    def stop_soon():
        done.wait(10)
        os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does

    monkeypatch.setattr(webbrowser, "open", fake_open)
    threading.Thread(target=stop_soon, daemon=True).start()
    assert main(["watch", str(tmp_path / "film.kscene"), "--port", "0", "--open"]) == 0
    out = capsys.readouterr().out
    assert opened and opened[0] in out and opened[0].startswith("http://127.0.0.1:")
