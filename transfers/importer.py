"""Importing a list from Mailchimp, listmonk or Tend's own export, in flat memory.

Three steps over the saved file, each one pass that holds one row (or one batch) at a time:

- `scan` (the web, before it queues the job): the format, the count, the rows too big to
  read; it refuses a file that cannot be imported at all (see `transfers.csvfile`).
- `check`: every row checked without touching the database (a pure function): the count
  of valid rows, the invalid ones (the first INVALID_KEPT listed, all counted). A file with
  any invalid row imports nothing unless the operator asks to skip them.
- `load`: the file read again and written in batches, skipping addresses already here or
  suppressed, and later rows of an address met earlier in the file, all in one
  transaction the caller commits: a file is imported whole or not at all.

Only a row whose file shows consent (Mailchimp CONFIRM_TIME, listmonk confirmed or
enabled, Tend active) becomes active, with the notes `campaigns.plan.intended` gives it;
every other row is pending and gets the confirmation (worksheet) email. Rows the source
marks unsubscribed, cleaned or blocklisted are never added: their address is suppressed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

from flask import current_app
from sqlalchemy import func, select

from campaigns.content import emails as content_emails
from campaigns.render import Sender
from models import Subscriber, db
from subscribers.suppression import Reason, suppress_many, suppressed_among
from transfers import writes
from transfers.csvfile import ImportRefused, Invalids, Table, oversized
from transfers.formats import Row, RowError, detect_format, row_of

Progress = Callable[[int], None]


@dataclass
class Checked:
    """What a file holds once checked: its format, how many valid rows, the invalid ones."""

    format: str
    valid: int = 0
    invalid: Invalids = field(default_factory=Invalids)
    inactive: int = 0


@dataclass
class Report:
    active: int = 0
    pending: int = 0
    existing: int = 0
    suppressed: int = 0
    left_at_source: int = 0
    duplicates: int = 0

    @property
    def imported(self) -> int:
        return self.active + self.pending


def scan(f: IO[str]) -> tuple[str, int, Invalids]:
    """A quick look at a whole file before it is queued: its format, how many rows it has,
    and its rows too big to check (a cell over MAX_CELL, more than MAX_CELLS cells).
    Raises ImportRefused for a file that cannot be imported at all (and
    UnicodeDecodeError for one that is not UTF-8)."""
    table = Table(f)
    fmt = detect_format(table.header)
    count = 0
    big = Invalids()
    for line, cells in table.rows():
        count += 1
        reason = oversized(table.header, cells)
        if reason:
            big.add(line, reason)
    return fmt, count, big


def _outcomes(
    table: Table, fmt: str, *, default_timezone: str, now: datetime
) -> Iterator[tuple[int, Row | str | None]]:
    """Each non-blank row's line and its Row, the reason it is invalid, or None (disabled)."""
    header = table.header
    for line, cells in table.rows():
        reason = oversized(header, cells)
        if reason:
            yield line, reason
            continue
        if not any(cell.strip() for cell in cells):
            continue  # a blank line
        try:
            yield (
                line,
                row_of(
                    fmt,
                    line,
                    dict(zip(header, cells, strict=False)),
                    default_timezone=default_timezone,
                    now=now,
                ),
            )
        except RowError as err:
            yield line, str(err)


def check(
    f: IO[str], *, default_timezone: str, now: datetime, progress: Progress | None = None
) -> Checked:
    """Check every row of a CSV export; nothing is written. Line numbers count the header
    as 1. Dates after `now` are invalid."""
    table = Table(f)
    checked = Checked(format=detect_format(table.header))
    count = 0
    for count, (line, outcome) in enumerate(  # noqa: B007 - count is read after
        _outcomes(table, checked.format, default_timezone=default_timezone, now=now), start=1
    ):
        if progress and count % 1000 == 0:
            progress(1000)
        if isinstance(outcome, str):
            checked.invalid.add(line, outcome)
        elif outcome is None:
            checked.inactive += 1
        else:
            checked.valid += 1
    if progress:
        progress(count % 1000)
    return checked


def load(
    f: IO[str],
    checked: Checked,
    *,
    now: datetime,
    batch: int = 2000,
    progress: Progress | None = None,
    skip_invalid: bool = False,
) -> Report:
    """Read the checked file again and write it in the caller's transaction, `batch` rows
    at a time, nothing committed. The caller commits once, so a file is imported whole or
    not at all (a job stopped half-way leaves nothing to mail). Safe to run again. `now`
    must be the one `check` had: the rows are checked again, the same way.

    A file with invalid rows is refused unless `skip_invalid`: then only its valid rows go.
    """
    if checked.invalid.count and not skip_invalid:
        raise ImportRefused(f"{checked.invalid.count} invalid row(s): nothing imported")
    batches = _Batches(now, progress)
    if not checked.valid:
        return batches.report  # nothing to write: no second pass
    table = Table(f)
    zone = current_app.config["DEFAULT_TIMEZONE"]
    part: list[Row] = []
    for line, outcome in _outcomes(table, checked.format, default_timezone=zone, now=now):
        if isinstance(outcome, str) and not skip_invalid:
            raise ImportRefused(f"line {line} changed since it was checked: nothing imported")
        if isinstance(outcome, Row):
            part.append(outcome)
        if len(part) == batch:
            batches.write(part)
            part = []
    batches.write(part)
    return batches.report


class _Batches:
    """Writes an import batch by batch, and counts what it skipped.

    An address met earlier in the file is found in the database, where this transaction
    wrote it: a subscriber with an id above the highest before the import is this file's.
    (An address that left at the source is only suppressed: met twice, it is counted
    twice as left at the source.)
    """

    def __init__(self, now: datetime, progress: Progress | None):
        self.now, self.progress = now, progress
        self.report = Report()
        self.sequence = content_emails.sequence()
        self.domain = Sender.current().domain
        self.before = db.session.scalar(select(func.max(Subscriber.id))) or 0

    def write(self, part: list[Row]) -> None:
        if not part:
            return
        report = self.report
        keys = [row.email_key for row in part]
        known = _ids_of(keys)
        suppressed = suppressed_among(keys)
        todo: list[Row] = []
        left: list[str] = []
        seen: set[str] = set()
        for row in part:
            key = row.email_key
            if key in seen or known.get(key, 0) > self.before:
                report.duplicates += 1
            elif key in known:
                report.existing += 1
            elif row.left:
                report.left_at_source += 1
                left.append(key)
            elif key in suppressed:
                report.suppressed += 1
            else:
                todo.append(row)
            seen.add(key)
        suppress_many(left, Reason.IMPORTED, now=self.now)
        if todo:
            writes.write([writes.planned(r, self.now, self.sequence, self.domain) for r in todo])
        active = sum(row.consented for row in todo)
        report.active += active
        report.pending += len(todo) - active
        if self.progress:
            self.progress(len(part))


def _ids_of(keys: list[str], chunk: int = 500) -> dict[str, int]:
    """The subscriber id of each of these folded addresses already in the database."""
    found: dict[str, int] = {}
    for i in range(0, len(keys), chunk):
        query = select(Subscriber.email_key, Subscriber.id).where(
            Subscriber.email_key.in_(keys[i : i + chunk])
        )
        found.update((key, sid) for key, sid in db.session.execute(query))
    return found


def describe(checked: Checked, report: Report) -> Iterator[str]:
    """The lines an operator reads after an import."""
    yield f"format: {checked.format}"
    yield f"imported: {report.imported} ({report.active} active, {report.pending} pending confirmation)"
    yield f"skipped, already subscribed: {report.existing}"
    yield f"skipped, suppressed: {report.suppressed}"
    yield f"unsubscribed at the source (suppressed, not added): {report.left_at_source}"
    if report.duplicates:
        yield f"duplicates within the file: {report.duplicates}"
    if checked.inactive:
        yield f"disabled at the source (not added): {checked.inactive}"
    invalid = checked.invalid
    if invalid.more:
        yield f"invalid, skipped: {invalid.count} (the first {len(invalid.kept)} listed by line)"
    elif invalid.count:
        yield f"invalid, skipped (listed by line): {invalid.count}"
