"""The repository itself: no file carries a merge's conflict markers.

A merge resolved by hand once left `<<<<<<< HEAD ... >>>>>>> main` in README.md; Python files
would fail to import, but Markdown, grammar and film files would not, so they are checked here.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^(<{7} |>{7} |={7}$)", re.MULTILINE)


def _tracked() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / line for line in out.splitlines()
            if line.endswith((".md", ".py", ".lark", ".kscene", ".toml", ".sh", ".js", ".css", ".html", ".txt"))]


def test_no_file_has_merge_conflict_markers():
    found = []
    for path in _tracked():
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in MARKER.finditer(text):
            found.append(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}")
    assert not found, f"merge conflict markers in: {found}"
