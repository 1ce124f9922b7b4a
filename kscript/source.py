"""Source files and spans: where every AST node and plan entry came from.

Inner stages carry a `Span` only; the text of the line is looked up once, when a
diagnostic is shown (the jinja2 way), through the `SourceFile` registered for the path.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from kscript.limits import MAX_SOURCE_BYTES, size_text

# What a Windows editor may put before the first character of a UTF-8 file: a byte-order
# mark, U+FEFF. It belongs to the encoding, not to the script: line 1 starts after it.
BOM = "\ufeff"


def without_bom(text: str) -> str:
    """`text` without a leading byte-order mark, so that line 1's columns count from the
    first real character. Files are read with the "utf-8-sig" codec, which drops it; this
    is for text handed over as a string (the API's `*_source` functions)."""
    return text[1:] if text.startswith(BOM) else text


class Unreadable(Exception):
    """Why a source file cannot be read, worded for people: "no such file", "a symlink
    loop", "not a regular file (a FIFO)", "3.9 GiB, more than a script may be (2 MiB)"."""

    def __init__(self, reason: str, missing: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.missing = missing  # nothing is there (the caller says "no such file")


def read_source_text(path: str | Path, limit: int = MAX_SOURCE_BYTES) -> str:
    """The text of a film or an imported file, refusing early whatever is not one (#9.5, #9.4).

    Only a regular file is read (a FIFO would block for ever, a device never end), and
    only up to `kscript.limits.MAX_SOURCE_BYTES`: its size is checked before reading and
    the read stops one byte past it (a sparse 4 GB file costs nothing). The file is opened
    without blocking and checked on the open descriptor, so it cannot be swapped between
    the check and the read. The "utf-8-sig" codec drops a byte-order mark.

    Args:
        limit: the most bytes to read (a plan file has its own, larger limit).

    Raises:
        Unreadable: with the reason.
    """
    name = os.fspath(path)
    if "\0" in str(name):
        raise Unreadable("the file name has a NUL character in it")
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise Unreadable(*_open_failure(name, err)) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise Unreadable("a directory")
        if not stat.S_ISREG(st.st_mode):
            raise Unreadable(f"not a regular file ({_kind(st.st_mode)})")
        what = "a script" if limit == MAX_SOURCE_BYTES else "this file"
        too_big = f"more than {what} may be ({size_text(limit)})"
        if st.st_size > limit:
            raise Unreadable(f"{size_text(st.st_size)}, {too_big}")
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:  # it grew while we read
            raise Unreadable(too_big)
    except OSError as err:
        raise Unreadable(err.strerror or type(err).__name__) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise Unreadable(f"not UTF-8 text ({err.reason} at byte {err.start})") from None


def read_film(path: str | Path) -> str:
    """The text of a film given on the command line, or a `UsageError` (exit 2) that says
    why it cannot be read (see `read_source_text`)."""
    from kscript.errors import UsageError  # errors imports this module: import when used

    try:
        return read_source_text(path)
    except Unreadable as err:
        if err.missing:
            detail = "" if err.reason == "no such file" else f" ({err.reason})"
            raise UsageError(f"no such file: {path}{detail}", "check the path; kscene files usually end in .kscene") from None
        if err.reason == "a directory":
            raise UsageError(f"{path} is a directory, not a .kscene file") from None
        raise UsageError(f"cannot read {path}: {err.reason}") from None


def _open_failure(name: str, err: OSError) -> tuple[str, bool]:
    if err.errno == errno.ELOOP:
        return "a symlink loop (a link that leads back to itself)", False
    if isinstance(err, FileNotFoundError):
        if os.path.islink(name):
            return f"a broken symlink (to {os.readlink(name)})", True
        return "no such file", True
    if isinstance(err, NotADirectoryError):
        return "no such file (a part of the path is a file, not a folder)", True
    if isinstance(err, PermissionError):
        return "permission denied", False
    if err.errno == errno.ENAMETOOLONG:
        return "the file name is too long", False
    return err.strerror or type(err).__name__, False


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"


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
        return cls(str(path), read_source_text(path))

    def line_text(self, line: int) -> str:
        if 1 <= line <= len(self._lines):
            return self._lines[line - 1]
        return ""
