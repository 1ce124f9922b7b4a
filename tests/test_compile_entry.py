"""The one compile entry point: `compile_film`; a compiler crash is never hidden."""

from __future__ import annotations

import pytest

import kscript.compile as compile_mod
from kscript.compile import Compilation, compile_film, compile_source
from kscript.errors import ScriptErrors
from kscript.source import SourceFile

BROKEN = 'film "f" { fps: 4 }\nscene s 1s {\n  prompt "p"\n  effect zom_in\n}\n'


def test_a_crash_of_the_compiler_is_a_bug_even_when_the_program_has_errors(monkeypatch):
    def crash(program):
        raise RuntimeError("a bug in the compiler")

    monkeypatch.setattr(compile_mod, "compile_program", crash)
    with pytest.raises(RuntimeError, match="a bug in the compiler"):
        compile_source(BROKEN, "f.kscene")


def test_the_checker_and_compiler_errors_come_out_together():
    text = BROKEN.replace('  prompt "p"\n', '  prompt "p"\n  strength: 2 * t\n')
    with pytest.raises(ScriptErrors) as info:
        compile_source(text, "f.kscene")
    assert {d.code for d in info.value.diagnostics} == {"E012", "E023"}


def test_compile_film_gives_the_program_and_the_plan():
    result = compile_film(SourceFile("f.kscene", BROKEN.replace("zom_in", "zoom_in")))
    assert isinstance(result, Compilation) and result.plan is not None
    assert len(result.plan.frames) == 4 and "f.kscene" in result.program.files
    library = compile_film(SourceFile("lib.kscene", "let k = 1\n"), allow_library=True)
    assert library.plan is None and library.program.scenes == []
