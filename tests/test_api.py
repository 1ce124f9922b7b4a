"""kscript.api, the front door for library users: the example in docs/architecture.md runs
and prints what the page says, and each function returns its stage's type."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kscript import api
from kscript.check.program import CheckedProgram
from kscript.errors import ScriptErrors, UsageError
from kscript.plan import RenderPlan
from kscript.syntax.nodes import Module

DOC = (Path(__file__).resolve().parent.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
FILM = 'film "T" { size: 64x64  fps: 4 }\nscene s 1s {\n  prompt "a lake"\n}\n'


def doc_example() -> tuple[str, str]:
    """The Python API section's example and the output the page says it prints."""
    section = DOC.split("## Python API", 1)[1].split("\n## ", 1)[0]
    code, printed = re.findall(r"```(?:python)?\n(.*?)```", section, re.S)[:2]
    return code, printed


def test_the_documented_example_runs_and_prints_what_the_page_says(tmp_path, monkeypatch):
    code, printed = doc_example()
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/architecture.md", "exec"), {"__name__": "__doc_example__"})
    assert out.getvalue() == printed
    assert (tmp_path / "tiny.mp4").is_file()


def test_each_function_returns_its_stages_type(tmp_path):
    film = tmp_path / "film.kscene"
    film.write_text(FILM, encoding="utf-8")
    assert isinstance(api.parse(film), Module)
    assert isinstance(api.check(film), CheckedProgram)
    plan = api.plan(film)
    assert isinstance(plan, RenderPlan) and len(plan.frames) == 4
    # text in memory: the same plan, the path only names it
    assert api.plan(film, text=FILM).to_json() == plan.to_json()
    report = api.build(film, no_cache=True)
    assert Path(report.output) == tmp_path / "film.mp4" and report.frames_rendered == 4


def test_failures_are_kscript_errors(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        api.plan(tmp_path / "missing.kscene")
    with pytest.raises(ScriptErrors) as info:
        api.parse("x.kscene", text="scene {")
    assert info.value.diagnostics[0].code.startswith("E00")
    with pytest.raises(UsageError, match="unknown build option: previwe"):
        api.build(tmp_path / "missing.kscene", previwe=True)


def test_a_library_file_checks_but_has_no_plan(tmp_path):
    lib = tmp_path / "moves.kscene"
    lib.write_text("let k = 2\n", encoding="utf-8")
    assert api.check(lib).scenes == []
    with pytest.raises(ScriptErrors):
        api.plan(lib)


def test_importing_the_api_is_light():
    code = ("import sys, kscript.api; "
            "print([m for m in ('torch', 'diffusers', 'av', 'cv2') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
