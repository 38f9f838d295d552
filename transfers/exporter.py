"""Exporting the list as CSV with its consent data (read back by `transfers.importer`)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from models import Consent, Subscriber, db
from transfers.formats import FORMULA_START

COLUMNS = [
    "email",
    "name",
    "status",
    "timezone",
    "signed_up_at",
    "confirmed_at",
    "unsubscribed_at",
    "anchor_at",
    "job_status",
    "started_job_on",
    "consent_source",
    "consent_at",
    "consent_ip",
    "consent_user_agent",
    "consent_page_url",
    "consent_form_version",
    "confirmed_ip",
]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    # A name like "=HYPERLINK(...)" must stay text when the file is opened in a spreadsheet.
    return "'" + text if text.startswith(FORMULA_START) else text


def rows(chunk: int = 5000) -> Iterator[list[str]]:
    """Every subscriber with their latest consent, in id order, read in chunks."""
    last_id = 0
    while True:
        subscribers = (
            db.session.execute(
                select(Subscriber)
                .where(Subscriber.id > last_id)
                .order_by(Subscriber.id)
                .limit(chunk)
            )
            .scalars()
            .all()
        )
        if not subscribers:
            return
        ids = [s.id for s in subscribers]
        latest: dict[int, Consent] = {}
        for consent in db.session.scalars(
            select(Consent).where(Consent.subscriber_id.in_(ids)).order_by(Consent.id)
        ):
            latest[consent.subscriber_id] = consent
        for s in subscribers:
            c = latest.get(s.id)
            yield [
                _cell(v)
                for v in (
                    s.email,
                    s.name,
                    s.status,
                    s.timezone,
                    s.created_at,
                    s.confirmed_at,
                    s.unsubscribed_at,
                    s.anchor_at,
                    s.job_status,
                    s.started_job_on,
                    c.source if c else None,
                    c.created_at if c else None,
                    c.ip if c else None,
                    c.user_agent if c else None,
                    c.page_url if c else None,
                    c.form_version if c else None,
                    c.confirmed_ip if c else None,
                )
            ]
        last_id = ids[-1]
        db.session.expunge_all()


def csv_chunks(progress: Callable[[int], None] | None = None) -> Iterator[str]:
    """The export as CSV text, header first, a chunk of lines at a time (for streaming)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    i = 0
    for i, row in enumerate(rows(), start=1):  # noqa: B007 - i is read after
        writer.writerow(row)
        if i % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if progress:
                progress(1000)
    yield buffer.getvalue()
    if progress:
        progress(i % 1000)


def write_file(path: str | Path, progress: Callable[[int], None] | None = None) -> int:
    """Write the whole export to `path`: first to `path.part`, renamed when complete, so a
    file under the final name is never cut short. Returns the rows written."""
    target = Path(path)
    part = target.with_name(target.name + ".part")
    written = 0

    def counted(n: int) -> None:
        nonlocal written
        written += n
        if progress:
            progress(n)

    try:
        with part.open("w", encoding="utf-8", newline="") as out:
            os.fchmod(out.fileno(), 0o600)  # personal data: for the operator alone
            for chunk in csv_chunks(counted):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(part, target)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return written
