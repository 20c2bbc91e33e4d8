"""Reading an uploaded CSV: its encoding, its delimiter, its header, and each row as a request
body of `POST /customers` (`columns` maps the cells; the profiles schema validates them).

Pure functions and a streaming reader: nothing here holds more than one row of the file.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from services.customers.imports.columns import NotCsv, read_header, row_body, row_tags

__all__ = ["CsvFile", "EncodingDetector", "NotCsv", "Row", "detect_delimiter", "detect_encoding"]

UTF8_BOM = codecs.BOM_UTF8
DELIMITERS = (",", ";", "\t")


# --- encoding -----------------------------------------------------------------------------------
class EncodingDetector:
    """Fed the file's bytes in order, tells its encoding: UTF-8 (with or without a BOM) when
    every byte decodes as such, Windows-1252 otherwise, or Latin-1 for the bytes Windows-1252
    leaves undefined. Holds no more than the decoder's few pending bytes."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._utf8 = True
        self._bom: bool | None = None
        self._head = b""
        self._cp1252 = True
        self.binary = False

    def feed(self, data: bytes) -> None:
        if self._bom is None:
            self._head += data[:3]
            if len(self._head) >= 3 or not data:
                self._bom = self._head.startswith(UTF8_BOM)
        if b"\x00" in data:
            self.binary = True
        if self._utf8:
            try:
                self._decoder.decode(data)
            except UnicodeDecodeError:
                self._utf8 = False
        if self._cp1252 and not self._utf8:
            self._cp1252 = not any(
                byte in data for byte in (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
            )

    def encoding(self) -> str:
        """The encoding to read the whole file with."""
        if self._bom is None:
            self._bom = self._head.startswith(UTF8_BOM)
        if self._utf8:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self._utf8 = False
        if self._utf8:
            return "utf-8-sig" if self._bom else "utf-8"
        return "cp1252" if self._cp1252 else "latin-1"


def detect_encoding(data: bytes) -> str:
    """The encoding of a whole file held in memory (tests, small files)."""
    detector = EncodingDetector()
    detector.feed(data)
    return detector.encoding()


# --- delimiter ----------------------------------------------------------------------------------
def detect_delimiter(sample: str) -> str:
    """Comma, semicolon or tab: the one the header line uses most, outside quotes."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in sample:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in ("\n", "\r"):
            break
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


# --- rows ---------------------------------------------------------------------------------------
@dataclass
class Row:
    """One record of the file: its number (1 after the header), its cells, and either its request
    body and tag names or why it could not be read."""

    number: int
    cells: list[str]
    body: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    error: str | None = None
    # False when the row has no kind and `row_body` guessed it (an update keeps the customer's).
    kind_given: bool = True


class CsvFile:
    """A CSV file read from a binary stream, one row at a time: encoding, delimiter and header
    found first (NotCsv when there is none); `rows()` yields every record after the header."""

    SAMPLE = 64 * 1024

    def __init__(self, stream: IO[bytes], encoding: str) -> None:
        text = io.TextIOWrapper(stream, encoding=encoding, newline="", errors="strict")
        self._text = _PeekedText(text, self.SAMPLE)
        self.delimiter = detect_delimiter(self._text.head)
        self._reader = csv.reader(self._text, delimiter=self.delimiter, strict=True)
        try:
            names = next(self._reader)
        except StopIteration:
            raise NotCsv("the file is empty: a header row is expected") from None
        except csv.Error as exc:
            raise NotCsv(f"the header row cannot be read: {exc}") from None
        self.header = read_header(names)
        self._kind_at = next(
            (at for at, target in enumerate(self.header.targets) if target == "kind"), None
        )

    def rows(self, bodies: bool = True) -> Iterator[Row]:
        """Every record after the header; without `bodies`, a readable row carries its tag
        names alone (counting the rows and gathering their tags needs no more)."""
        number = 0
        while True:
            number += 1
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Row(number, [], error=f"this row cannot be read as CSV: {exc}")
                continue
            if not any(cell.strip() for cell in cells):
                number -= 1  # blank lines are not rows
                continue
            if len(cells) != len(self.header.names):
                yield Row(
                    number,
                    cells,
                    error=f"this row has {len(cells)} cells where the header has "
                    f"{len(self.header.names)}",
                )
                continue
            if not bodies:
                yield Row(number, cells, tags=row_tags(self.header, cells))
                continue
            body, tags = row_body(self.header, cells)
            yield Row(number, cells, body, tags, kind_given=self._kind_given(cells))

    def _kind_given(self, cells: list[str]) -> bool:
        return self._kind_at is not None and bool(cells[self._kind_at].strip())


class _PeekedText:
    """A text stream whose first `size` characters were read ahead (to find the delimiter)."""

    def __init__(self, text: IO[str], size: int) -> None:
        self._text = text
        self.head = text.read(size)
        self._pending: io.StringIO | None = io.StringIO(self.head)

    def __iter__(self) -> Iterator[str]:
        if self._pending is not None:
            for line in self._pending:
                if line.endswith(("\n", "\r")):
                    yield line
                else:  # the sample cut a line: join it to the rest of that line
                    yield line + self._text.readline()
                    break
            self._pending = None
        yield from self._text


def iter_chunks(data: bytes, size: int) -> Iterable[bytes]:
    """`data` in pieces of `size` bytes (tests)."""
    return (data[start : start + size] for start in range(0, len(data), size))
