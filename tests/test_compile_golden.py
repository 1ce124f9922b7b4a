"""The plan of every example film, byte for byte (tests/golden/plans/<name>.json).

A change to the language, the compiler or an example shows up here as a diff to review;
`pytest --update-goldens` rewrites the files.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kscript.compile import compile_file

ROOT = Path(__file__).resolve().parent.parent
# Films only: a file without scenes (shared_moves.kscene) is there to be imported.
EXAMPLES = sorted(
    p for p in (ROOT / "examples").glob("*.kscene") if re.search(r"^\s*scene\s", p.read_text(encoding="utf-8"), re.M)
)
PLANS = Path(__file__).parent / "golden" / "plans"


@pytest.mark.skipif(not EXAMPLES, reason="no examples/*.kscene yet")
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_plan(path, golden, monkeypatch):
    monkeypatch.chdir(ROOT)  # paths in the plan (scene sources) are relative to the repository
    plan = compile_file(path.relative_to(ROOT).as_posix())
    golden(PLANS / f"{path.stem}.json", plan.to_json())


@pytest.mark.skipif(not EXAMPLES, reason="no examples/*.kscene yet")
@pytest.mark.parametrize("path", EXAMPLES[:1], ids=[p.stem for p in EXAMPLES[:1]])
def test_compiling_twice_gives_identical_json(path, monkeypatch):
    monkeypatch.chdir(ROOT)
    rel = path.relative_to(ROOT).as_posix()
    assert compile_file(rel).to_json() == compile_file(rel).to_json()
