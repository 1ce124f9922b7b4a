"""Shared test options.

`pytest --update-goldens` rewrites golden files (plans, diagnostics) from the current
output instead of comparing; review the diff before committing it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", help="rewrite golden files instead of comparing")


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """`golden(path, text)`: compare `text` with the file at `path`, or rewrite it."""
    update = request.config.getoption("--update-goldens")

    def check(path: Path, text: str) -> None:
        path = Path(path)
        if update or not path.exists():
            if not update:
                pytest.fail(f"golden file {path} is missing; run pytest --update-goldens and review it")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        expected = path.read_text(encoding="utf-8")
        assert text == expected, f"output differs from golden file {path} (pytest --update-goldens to rewrite)"

    return check
