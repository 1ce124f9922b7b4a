"""Issues #9.4 and #9.5: odd files and absurd inputs get a diagnostic or a usage error,
quickly and in bounded memory: never a traceback, a hang or gigabytes.

The limits themselves live in one table, `kscript.limits`; these tests read them from it.
"""

from __future__ import annotations

import os
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from kscript import limits
from kscript.cli import main
from kscript.compile import compile_source
from kscript.errors import ScriptErrors
from kscript.syntax import parse_source

HEAD = 'film "a" { size: 64x64 fps: 4 }\n'
SCENE = 'scene a 1s { prompt "x" }\n'


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def check(*args: str, timeout: float = 20.0) -> int:
    """`kscript check ARGS` in this process, failing the test (not hanging it) past `timeout`."""
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(main(["check", *args])), daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), f"kscript check {' '.join(args)} did not finish in {timeout} s"
    return result[0]


def codes(text: str) -> list[str]:
    with pytest.raises(ScriptErrors) as info:
        compile_source(text, "film.kscene")
    return [d.code for d in info.value.diagnostics]


# ----------------------------------------------------------------------------- odd files


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_film_is_refused_at_once_not_read_for_ever(here, capsys):
    os.mkfifo("f.kscene")
    assert check("f.kscene", timeout=10) == 2
    assert "not a regular file (a FIFO): f.kscene" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_import_is_an_error_not_a_hang(here, capsys):
    os.mkfifo("lib.kscene")
    Path("film.kscene").write_text(HEAD + 'import "lib.kscene"\n' + SCENE)
    assert check("film.kscene", timeout=10) == 1
    err = capsys.readouterr().err
    assert "error[E020]: cannot import 'lib.kscene': not a regular file (a FIFO)" in err


def test_a_symlink_loop_says_it_is_a_symlink_loop(here, capsys):
    os.symlink("loop.kscene", "loop.kscene")
    assert check("loop.kscene") == 2
    err = capsys.readouterr().err
    assert "symlink loop" in err and "no such file" not in err


def test_a_broken_symlink_is_no_such_file_and_says_where_it_points(here, capsys):
    os.symlink("gone.kscene", "film.kscene")
    assert check("film.kscene") == 2
    assert "no such file (a broken symlink to gone.kscene): film.kscene" in capsys.readouterr().err


def test_a_huge_sparse_film_is_refused_by_its_size_before_reading(here, capsys):
    with open("big.kscene", "wb") as f:
        f.truncate(4 * 1024**3)  # 4 GiB, sparse: costs no disk, would cost 4 GiB to read
    tracemalloc.start()
    t = time.perf_counter()
    assert check("big.kscene") == 2
    took, peak = time.perf_counter() - t, tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "4 GiB, more than a script may be (2 MiB): big.kscene" in capsys.readouterr().err
    assert took < 2 and peak < 10 * 1024**2


def test_a_huge_import_is_refused_by_its_size(here, capsys):
    with open("lib.kscene", "wb") as f:
        f.truncate(limits.MAX_SOURCE_BYTES + 1)
    Path("film.kscene").write_text(HEAD + 'import "lib.kscene"\n' + SCENE)
    assert check("film.kscene") == 1
    assert "error[E020]: cannot import 'lib.kscene': 2.0 MiB, more than a script may be (2 MiB)" in capsys.readouterr().err


def test_an_import_path_with_a_nul_character_is_a_diagnostic(here, capsys):
    Path("film.kscene").write_bytes((HEAD + 'import "a\0b.kscene"\n' + SCENE).encode())
    assert check("film.kscene") == 1
    assert "error[E020]: cannot import a path with a NUL character in it" in capsys.readouterr().err


def test_only_kscene_files_are_imported_and_their_text_is_never_quoted(here, capsys):
    Path("secret.txt").write_text("root:$6$SECRETHASH:19000:0:99999:7:::\n")
    os.symlink("secret.txt", "disguised.kscene")
    Path("film.kscene").write_text(HEAD + 'import "secret.txt"\nimport "disguised.kscene"\n' + SCENE)
    assert check("film.kscene") == 1
    err = capsys.readouterr().err
    assert "cannot import 'secret.txt': only .kscene files can be imported" in err
    assert "cannot import 'disguised.kscene': it is a link to a file that is not a .kscene file" in err
    assert "SECRETHASH" not in err


def test_a_long_import_chain_has_its_own_words(here, capsys):
    n = limits.MAX_IMPORT_DEPTH + 5
    for i in range(n):
        Path(f"m{i}.kscene").write_text(f'import "m{i + 1}.kscene"\nlet v{i} = {i}\n')
    Path(f"m{n}.kscene").write_text("let last = 1\n")
    Path("film.kscene").write_text(HEAD + 'import "m0.kscene"\n' + SCENE)
    assert check("film.kscene") == 1
    err = capsys.readouterr().err
    assert f"error[E034]: imports nest more than {limits.MAX_IMPORT_DEPTH} files deep" in err
    assert "too deeply" not in err


def test_an_import_chain_within_the_limit_is_fine(here, capsys):
    n = limits.MAX_IMPORT_DEPTH - 2
    for i in range(n):
        Path(f"m{i}.kscene").write_text(f'import "m{i + 1}.kscene"\nlet v{i} = {i}\n')
    Path(f"m{n}.kscene").write_text("let last = 0.5\n")
    Path("film.kscene").write_text(HEAD + 'import "m0.kscene"\nscene a 1s { prompt "x" x: last + v3 }\n')
    assert check("film.kscene") == 0


# ----------------------------------------------------------------------------- absurd sizes


def test_the_lexer_costs_a_few_bytes_per_byte_of_a_prompt():
    parse_source(HEAD + SCENE)  # the parser is built once, outside the measurement
    text = HEAD + 'scene a 1s { prompt "' + "a" * 1_000_000 + '" }\n'
    tracemalloc.start()
    parse_source(text)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * 1_000_000  # was ~530 bytes a byte (a capturing group per character)


def test_a_prompt_longer_than_the_limit_is_e034():
    n = limits.MAX_STRING_CHARS + 1
    assert codes(HEAD + 'scene a 1s { prompt "' + "a" * n + '" }\n') == ["E034"]
    assert codes(HEAD + 'scene a 1s { prompt "x" negative: "' + "a" * n + '" }\n') == ["E034"]
    assert codes('film "' + "t" * n + '" { size: 64x64 fps: 4 }\n' + SCENE) == ["E034"]


def test_ten_one_hour_scenes_at_240_fps_are_refused_before_any_frame_is_made():
    text = 'film "a" { size: 64x64 fps: 240 }\n' + "".join(f'scene s{i} 3600s {{ prompt "x" }}\n' for i in range(10))
    tracemalloc.start()
    t = time.perf_counter()
    assert codes(text) == ["E034"]
    took, peak = time.perf_counter() - t, tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert took < 5 and peak < 100 * 1024**2  # was a MemoryError at 8.1 GB


def test_too_many_scenes_or_items_are_refused_before_checking_them(monkeypatch):
    # The limits are read when a file is loaded: smaller ones keep this test quick.
    monkeypatch.setattr(limits, "MAX_SCENES", 50)
    monkeypatch.setattr(limits, "MAX_ITEMS", 80)
    scenes = "".join(f'scene s{i} 1f {{ prompt "x" }}\n' for i in range(51))
    with pytest.raises(ScriptErrors) as info:
        compile_source(HEAD + scenes, "film.kscene")
    [d] = info.value.diagnostics
    assert d.code == "E034" and d.message == "this film has 51 scenes; a film may have at most 50"
    assert d.span.line == 2 + 50  # the first scene past the limit
    lets = "".join(f"let v{i} = {i}\n" for i in range(80))
    with pytest.raises(ScriptErrors) as info:
        compile_source(HEAD + lets + SCENE, "film.kscene")
    assert [d.message for d in info.value.diagnostics] == [
        "this file has 82 top-level items; a file may have at most 80"]


def test_a_flat_sum_of_two_thousand_terms_is_not_too_deep():
    def x_of(expr: str, lets: str = "") -> float:
        return compile_source(HEAD + lets + 'scene a 1s { prompt "x" x: ' + expr + " }\n").frames[1].motion.x

    assert x_of(" + ".join(["0.001"] * 2000)) == pytest.approx(x_of("2"))
    assert x_of("k / 1000", "let k = " + " - ".join(["1"] * 3000) + "\n") == pytest.approx(x_of("-2.998"))


def test_absurd_nesting_is_still_a_diagnostic_not_a_crash():
    codes_ = codes(HEAD + "scene a 1s { prompt \"x\" x: " + "abs(" * (limits.RECURSION_LIMIT + 500) + "1" + ")" * (limits.RECURSION_LIMIT + 500) + " }\n")
    assert codes_ and set(codes_) <= {"E001", "E024"}


def test_a_film_past_the_frame_limit_is_not_compiled_up_to_it():
    # Four one-hour scenes at 24 fps: the third passes the limit. The two before it are
    # checked but not compiled (172,800 frames of plan would be ~400 MB).
    text = 'film "a" { size: 64x64 fps: 24 }\n' + "".join(f'scene s{i} 3600s {{ prompt "x" }}\n' for i in range(4))
    tracemalloc.start()
    t = time.perf_counter()
    assert codes(text) == ["E034"]
    took, peak = time.perf_counter() - t, tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert took < 5 and peak < 50 * 1024**2
