"""Source files and spans: where every AST node and plan entry came from.

Inner stages carry a `Span` only; the text of the line is looked up once, when a
diagnostic is shown (the jinja2 way), through the `SourceFile` registered for the path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# What a Windows editor may put before the first character of a UTF-8 file: a byte-order
# mark, U+FEFF. It belongs to the encoding, not to the script: line 1 starts after it.
BOM = "\ufeff"


def without_bom(text: str) -> str:
    """`text` without a leading byte-order mark, so that line 1's columns count from the
    first real character. Files are read with the "utf-8-sig" codec, which drops it; this
    is for text handed over as a string (the API's `*_source` functions)."""
    return text[1:] if text.startswith(BOM) else text


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a source file. Lines and columns are 1-based; `end_col` is exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    @classmethod
    def point(cls, file: str, line: int, col: int, width: int = 1) -> "Span":
        return cls(file, line, col, line, col + max(width, 1))

    def to(self, other: "Span") -> "Span":
        """The span from the start of `self` to the end of `other`."""
        return Span(self.file, self.line, self.col, other.end_line, other.end_col)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(slots=True)
class SourceFile:
    """The text of one file, as it was read for this compilation."""

    path: str
    text: str
    _lines: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._lines = self.text.splitlines()

    @classmethod
    def read(cls, path: str | Path) -> "SourceFile":
        p = Path(path)
        return cls(str(path), p.read_text(encoding="utf-8-sig"))

    def line_text(self, line: int) -> str:
        if 1 <= line <= len(self._lines):
            return self._lines[line - 1]
        return ""
