"""One reader for every source file (`SourceFile.read`): the same words for a missing file
in every command, and a file that is not UTF-8 is a diagnostic at its first bad byte."""

from __future__ import annotations

import pytest

from kscript.cli import main
from kscript.compile import compile_file
from kscript.errors import ScriptErrors, UsageError
from kscript.source import NotUTF8, SourceFile, Unreadable

GOOD = 'film "f" { size: 64x64 fps: 4 }\nscene s 1s {\n  prompt "a quiet lake"\n}\n'


@pytest.mark.parametrize("args", [["check", "nowhere.kscene"], ["plan", "nowhere.kscene"],
                                  ["plan", "--json", "nowhere.kscene"], ["build", "nowhere.kscene", "-q"],
                                  ["effects", "--film", "nowhere.kscene"]])
def test_a_missing_film_has_the_same_words_in_every_command(tmp_path, monkeypatch, capsys, args):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no such file: nowhere.kscene\n"), err
    assert "help: check the path" in err and "Traceback" not in err


def test_a_folder_is_not_a_film(tmp_path, capsys):
    (tmp_path / "dir.kscene").mkdir()
    assert main(["check", str(tmp_path / "dir.kscene")]) == 2
    assert f"a folder, not a file: {tmp_path / 'dir.kscene'}" in capsys.readouterr().err


def test_a_film_that_is_not_utf8_is_e007_at_its_first_bad_byte(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # Latin-1 "é" (0xE9) on line 3 after 18 characters, one of them a two-byte UTF-8 "ü":
    # the column counts characters, not bytes (19, not 20).
    (tmp_path / "latin.kscene").write_bytes(
        b'film "f" { size: 64x64 fps: 4 }\nscene s 1s {\n  prompt "\xc3\xbcber caf\xe9"\n}\n'
    )
    assert main(["check", "latin.kscene"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "latin.kscene:3:19: error[E007]: this file is not UTF-8 text: the byte 0xE9 here is not a character\n"
        '    3 |   prompt "über caf\ufffd"\n'
        "      |                   ^\n"
    ), err
    assert "save the file as UTF-8" in err and "Traceback" not in err
    for args in (["plan", "latin.kscene"], ["build", "latin.kscene", "-q"]):
        assert main(args) == 1
        assert "latin.kscene:3:19: error[E007]" in capsys.readouterr().err


def test_an_imported_file_that_is_not_utf8_is_e007_in_that_file(tmp_path):
    (tmp_path / "lib.kscene").write_bytes(b"# r\xe9sum\xe9\nlet k = 1\n")
    (tmp_path / "film.kscene").write_text('import "lib.kscene"\n' + GOOD, encoding="utf-8")
    with pytest.raises(ScriptErrors) as info:
        compile_file(tmp_path / "film.kscene")
    [d] = [d for d in info.value.diagnostics if d.code == "E007"]
    assert (d.span.file, d.span.line, d.span.col) == (str(tmp_path / "lib.kscene"), 1, 4)
    assert not [d for d in info.value.diagnostics if d.code == "E020"]  # it is there, just not text


def test_a_byte_order_mark_does_not_shift_the_column(tmp_path):
    path = tmp_path / "bom.kscene"
    path.write_bytes(b"\xef\xbb\xbfab\xff")
    with pytest.raises(NotUTF8) as info:
        SourceFile.read(path)
    assert (info.value.span.line, info.value.span.col, info.value.byte) == (1, 3, 0xFF)
    assert info.value.source.text == "ab\ufffd"


def test_a_missing_import_says_no_such_file(tmp_path):
    (tmp_path / "film.kscene").write_text('import "gone.kscene"\n' + GOOD, encoding="utf-8")
    with pytest.raises(ScriptErrors) as info:
        compile_file(tmp_path / "film.kscene")
    [d] = info.value.diagnostics
    assert d.code == "E020" and d.notes == (f"looked for {tmp_path / 'gone.kscene'} (no such file)",)


def test_the_reader_itself(tmp_path):
    with pytest.raises(Unreadable) as info:
        SourceFile.read(tmp_path / "none.kscene")
    assert info.value.message == f"no such file: {tmp_path / 'none.kscene'}"
    with pytest.raises(UsageError, match="no such file"):
        compile_file(tmp_path / "none.kscene")
    (tmp_path / "ok.kscene").write_text(GOOD, encoding="utf-8")
    assert SourceFile.read(tmp_path / "ok.kscene").text == GOOD
