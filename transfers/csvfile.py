"""Reading an uploaded CSV file with every cap applied, so no file can make a process grow.

The caps (the import page and docs/ name them):

- MAX_ROWS rows per file: a longer file is refused as a whole before any row is checked
  (split it); so a job's time limit is bounded too.
- MAX_LINE characters per line (and per field, for a quoted field over several lines): a
  longer one refuses the file, naming its line. A line is read at most MAX_LINE + 1
  characters at a time, so a 64 MB line is never held whole.
- MAX_CELLS cells per row and MAX_CELL characters per cell: a row past either is an invalid
  row, named by its line.
- INVALID_KEPT invalid rows are listed; past that they are counted, not kept.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

MAX_ROWS = 1_000_000
MAX_LINE = 1024 * 1024
MAX_CELLS = 200
# Python's csv module stops at this size by default; a longer cell is one row's problem.
MAX_CELL = 128 * 1024
INVALID_KEPT = 1000


class ImportRefused(ValueError):
    """The file cannot be imported as a whole (unknown columns, not a CSV it can read)."""

    def __init__(self, message: str, invalid: list[Invalid] | None = None):
        super().__init__(message)
        self.invalid = invalid or []


@dataclass(frozen=True)
class Invalid:
    line: int
    reason: str


@dataclass
class Invalids:
    """The invalid rows of a file: the first INVALID_KEPT listed, every one counted."""

    kept: list[Invalid] = field(default_factory=list)
    count: int = 0

    def add(self, line: int, reason: str) -> None:
        self.count += 1
        if len(self.kept) < INVALID_KEPT:
            self.kept.append(Invalid(line, reason))

    @property
    def more(self) -> int:
        """How many were counted but not listed."""
        return self.count - len(self.kept)


class _Lines:
    """The file's lines for the csv reader, each read at most MAX_LINE + 1 characters at a
    time: a longer line refuses the file before it is held (64 MB of commas would be a row
    of 64 million cells)."""

    def __init__(self, f: IO[str]):
        self._f = f
        self.number = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self._f.readline(MAX_LINE + 1)
        if not line:
            raise StopIteration
        self.number += 1
        if len(line) > MAX_LINE and line[-1] not in "\r\n":
            raise ImportRefused(
                f"line {self.number} is longer than {MAX_LINE // (1024 * 1024)} MB: "
                "the file cannot be imported; nothing imported"
            )
        return line


def _parser_ready() -> None:
    # Process-wide; only the importer reads CSV in the service. A field past MAX_LINE (a
    # quoted one over many lines) is a csv.Error: the file is refused, naming its line.
    if csv.field_size_limit() != MAX_LINE:
        csv.field_size_limit(MAX_LINE)


class Table:
    """A CSV file's header and rows, every cap applied. Line numbers count the header as 1
    (a quoted cell over several lines: the line where its row ends)."""

    def __init__(self, f: IO[str]):
        _parser_ready()
        self._reader = csv.reader(_Lines(f))
        first = next(self._records(), None)
        if not first:
            raise ImportRefused("the file is empty")
        self.header = [h.strip().lstrip("\ufeff") for h in first]

    def _records(self) -> Iterator[list[str]]:
        try:
            yield from self._reader
        except csv.Error as err:
            raise ImportRefused(
                f"line {self._reader.line_num}: the file cannot be read as CSV ({err}); "
                "nothing imported"
            ) from None

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(line, cells) of every row after the header; past MAX_ROWS the file is refused."""
        for count, cells in enumerate(self._records(), start=1):
            if count > MAX_ROWS:
                raise ImportRefused(
                    f"the file has more than {MAX_ROWS:,} rows: split it into files of "
                    f"{MAX_ROWS:,} or fewer; nothing imported"
                )
            yield self._reader.line_num, cells


def oversized(header: list[str], cells: list[str]) -> str | None:
    """Why a row is refused for its size: too many cells, or the column of its first cell
    over MAX_CELL. The longest cell is found first, at C speed."""
    if len(cells) > MAX_CELLS:
        return f"{len(cells):,} cells: a row may have at most {MAX_CELLS}"
    if not cells or max(map(len, cells)) <= MAX_CELL:
        return None
    return too_long(header, cells)


def too_long(header: list[str], cells: Iterable[str | None]) -> str | None:
    """The column of a row's first cell over MAX_CELL, as the reason it is refused."""
    for i, cell in enumerate(cells):
        if cell is not None and len(cell) > MAX_CELL:
            column = header[i] if i < len(header) else "an extra column"
            return f"a cell ({column}) is longer than {MAX_CELL // 1024} KB"
    return None
