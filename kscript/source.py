"""Source files and spans: where every AST node and plan entry came from.

Inner stages carry a `Span` only; the text of the line is looked up once, when a
diagnostic is shown (the jinja2 way), through the `SourceFile` registered for the path.

`SourceFile.read(path)` is the one reader of a film or an imported file: the checker's
loader, the commands and watch mode (through the compiler) all read through it, so a file
that cannot be read is told in the same words everywhere. It raises `Unreadable` (no such
file, a folder, no permission: the callers make it a usage error for a film, E020 for an
import) or `NotUTF8` (with the line and column of the first byte that is not UTF-8: a
diagnostic, E007). Both are plain exceptions here; `kscript.errors.read_film` turns them into
the errors a user sees.

It reads only what is a script (#9.4, #9.5): a regular file (a FIFO would block for ever, a
device never end) within `kscript.limits.MAX_SOURCE_BYTES`, its size checked before reading
and the read stopped one byte past it (a sparse 4 GB file costs nothing). The file is opened
without blocking and checked on the open descriptor, so it cannot be swapped between the
check and the read; a symlink loop is called one.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from kscript.limits import MAX_SOURCE_BYTES, size_text

#: the one wording for a file that is not there (a film named on the command line, an import)
MISSING = "no such file"

# What a Windows editor may put before the first character of a UTF-8 file: a byte-order
# mark, U+FEFF. It belongs to the encoding, not to the script: line 1 starts after it.
BOM = "\ufeff"
BOM_BYTES = BOM.encode("utf-8")


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
    def read(cls, path: str | Path, limit: int = MAX_SOURCE_BYTES) -> "SourceFile":
        """Read a source file as UTF-8 (a leading byte-order mark is dropped).

        Args:
            limit: the most bytes a file may have (a plan file has its own, larger limit).

        Raises:
            Unreadable: the file is missing, a folder, not a regular file, too large, or
                cannot be opened.
            NotUTF8: the file's bytes are not UTF-8 text.
        """
        return cls.decode(str(path), read_bytes(path, limit))

    @classmethod
    def decode(cls, path: str, data: bytes) -> "SourceFile":
        """The source of `data` read as UTF-8 (see `read`); raises `NotUTF8`."""
        skip = len(BOM_BYTES) if data.startswith(BOM_BYTES) else 0
        try:
            return cls(path, data[skip:].decode("utf-8"))
        except UnicodeDecodeError as err:
            raise NotUTF8.at(path, data, skip + err.start) from None

    def line_text(self, line: int) -> str:
        if 1 <= line <= len(self._lines):
            return self._lines[line - 1]
        return ""


def read_bytes(path: str | Path, limit: int = MAX_SOURCE_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (see the module docstring).

    Raises:
        Unreadable: with the reason in a few words.
    """
    name = os.fspath(path)
    if "\0" in str(name):
        raise Unreadable(str(name), "not a usable file name (it has a NUL character)")
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise Unreadable(str(name), _open_failure(str(name), err)) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise Unreadable(str(name), "a folder, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise Unreadable(str(name), f"not a regular file ({_kind(st.st_mode)})")
        what = "a script" if limit == MAX_SOURCE_BYTES else "this file"
        too_big = f"more than {what} may be ({size_text(limit)})"
        if st.st_size > limit:
            raise Unreadable(str(name), f"{size_text(st.st_size)}, {too_big}")
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:  # it grew while we read
            raise Unreadable(str(name), too_big)
    except OSError as err:
        raise Unreadable(str(name), err.strerror or type(err).__name__) from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def _open_failure(name: str, err: OSError) -> str:
    if err.errno == errno.ELOOP:
        return "a symlink loop (a link that leads back to itself)"
    if isinstance(err, FileNotFoundError):
        if os.path.islink(name):
            return f"{MISSING} (a broken symlink to {os.readlink(name)})"
        return MISSING
    if isinstance(err, NotADirectoryError):
        return f"{MISSING} (a part of the path is a file, not a folder)"
    if isinstance(err, IsADirectoryError):
        return "a folder, not a file"
    if isinstance(err, PermissionError):
        return "permission denied"
    if err.errno == errno.ENAMETOOLONG:
        return "the file name is too long"
    return err.strerror or type(err).__name__


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"


class Unusable(Exception):
    """A file the film names (its soundtrack, an init image) that was read but cannot be
    used; `reason` says why in a few words, which the checker puts in its diagnostic."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unreadable(Exception):
    """A source file that cannot be read at all.

    Attributes:
        path: the path as it was given.
        reason: why, in a few words shared by every reader: `MISSING` ("no such file"),
            "a folder, not a file", "permission denied", ...
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{reason}: {path}")
        self.path = path
        self.reason = reason

    @property
    def message(self) -> str:
        """The sentence for a file named by the user: "no such file: film.kscene"."""
        return f"{self.reason}: {self.path}"


class NotUTF8(Exception):
    """A source file whose bytes are not UTF-8 text.

    Attributes:
        source: the file decoded with U+FFFD in place of each bad byte, so that the line
            can be shown under the message.
        span: where the first bad byte is (its line, and its column in characters).
        byte: the value of that byte.
    """

    def __init__(self, source: SourceFile, span: Span, byte: int) -> None:
        super().__init__(f"{span}: {source.path} is not UTF-8 text")
        self.source = source
        self.span = span
        self.byte = byte

    @classmethod
    def at(cls, path: str, data: bytes, start: int) -> "NotUTF8":
        """The error for `data` whose first undecodable byte is at offset `start`."""
        skip = len(BOM_BYTES) if data.startswith(BOM_BYTES) else 0
        line_start = data.rfind(b"\n", 0, start) + 1
        line = data.count(b"\n", 0, start) + 1
        col = len(data[max(line_start, skip):start].decode("utf-8")) + 1
        text = without_bom(data.decode("utf-8", errors="replace"))
        return cls(SourceFile(path, text), Span.point(path, line, col), data[start])

    @property
    def message(self) -> str:
        return f"this file is not UTF-8 text: the byte 0x{self.byte:02X} here is not a character"

    hint = ("kscript reads films as UTF-8: save the file as UTF-8 in your editor, or convert it, "
            "e.g. `iconv -f latin1 -t utf-8 OLD > NEW`")
