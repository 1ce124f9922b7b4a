"""The README stays true: its example film checks, its commands and links point at real things."""

from __future__ import annotations

import re
from pathlib import Path

from kscript.compile import compile_source

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_film_compiles():
    block = re.search(r"```kscene\n(.*?)```", README, re.S)
    assert block, "README has a kscene example"
    plan = compile_source(block.group(1), "README.md")
    assert [s.name for s in plan.scenes] == ["park", "street"]
    assert plan.frames[-1].index == 8 * 24 - 1


def test_the_three_commands_are_the_ones_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = re.findall(r"^(\S.*?)\s+# ", re.search(r"## Three commands.*?```bash\n(.*?)```", README, re.S).group(1), re.M)
    assert len(commands) == 3
    setup, main_job, tests = commands
    assert setup in ci and tests in ci
    film = main_job.split()[-1]
    assert (ROOT / film).is_file(), f"the main job's film {film} exists"


def test_every_linked_document_exists():
    for link in re.findall(r"\]\(([^)#]+)\)", README):
        assert (ROOT / link).exists(), link
