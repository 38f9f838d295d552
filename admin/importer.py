"""Importing a list from Mailchimp, listmonk or Tend's own export.

Two phases. `read` checks every row without touching the database (a pure function):
a file with any invalid row is reported line by line and nothing is imported (unless the
operator asks to skip them). `load` then writes the new rows in batches, skipping
addresses already here or suppressed, in one transaction the caller commits.
Only a row whose file shows consent (Mailchimp CONFIRM_TIME, listmonk confirmed or
enabled, Tend active) becomes active, with the notes `campaigns.plan.intended` gives it:
the check-ins counted from that confirmation, or, when a Tend export gives a start date,
the after-hire notes counted from that day. Every other row is pending and gets the
confirmation (worksheet) email. Rows the source marks
unsubscribed, cleaned or blocklisted are never added: their address is suppressed.
"""

from __future__ import annotations

import csv
import ipaddress
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from flask import current_app
from sqlalchemy import insert

from campaigns import schedule
from campaigns.plan import Reader, intended
from campaigns.render import Sender
from campaigns.sequence import Sequence
from campaigns.timing import start_anchor, zone_or_default
from models import Consent, Delivery, DeliveryStatus, JobStatus, Status, Subscriber, db
from subscribers import rows
from subscribers.fields import STARTED_ON_MAX, clean_email, clean_name, clean_timezone
from subscribers.lifecycle import email_key, known_among
from subscribers.suppression import Reason, suppress_many, suppressed_among

MAILCHIMP, LISTMONK, TEND = "mailchimp", "listmonk", "tend"
# Characters a spreadsheet would run as a formula; the export quotes them with a '.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Progress = Callable[[int], None]


# The longest cell a row may have: Python's csv module stops at this size by default; a
# longer cell is one row's problem (named by its line), not a crash.
MAX_CELL = 128 * 1024
# What the parser itself accepts, so it can read past a long cell to the next row; past
# this (a cell bigger than any upload) the file is refused as a whole. csv's limit is
# process-wide: raised once, never lowered, and only the importer reads CSV.
PARSER_LIMIT = 64 * 1024 * 1024


class ImportRefused(ValueError):
    """The file cannot be imported as a whole (unknown columns, not a CSV it can read)."""

    def __init__(self, message: str, invalid: list[Invalid] | None = None):
        super().__init__(message)
        self.invalid = invalid or []


@dataclass(frozen=True, slots=True)
class Row:
    """One valid row, ready to store (slots: a million of them are held at once)."""

    line: int
    email: str
    email_key: str
    name: str
    timezone: str
    consented: bool
    opted_in_at: datetime | None = None
    opt_in_ip: str | None = None
    confirmed_at: datetime | None = None
    confirmed_ip: str | None = None
    started_job_on: str | None = None  # ISO date: the reader gave a start date
    job_status: str = JobStatus.UNKNOWN
    user_agent: str | None = None
    page_url: str | None = None
    form_version: str = ""
    left: bool = False  # unsubscribed, cleaned or blocklisted at the source


@dataclass(frozen=True)
class Invalid:
    line: int
    reason: str


@dataclass
class Plan:
    """What a file holds once checked: its format, valid rows, invalid ones, duplicates."""

    format: str
    rows: list[Row] = field(default_factory=list)
    invalid: list[Invalid] = field(default_factory=list)
    duplicates: int = 0
    inactive: int = 0


@dataclass
class Report:
    active: int = 0
    pending: int = 0
    existing: int = 0
    suppressed: int = 0
    left_at_source: int = 0

    @property
    def imported(self) -> int:
        return self.active + self.pending


def detect_format(header: list[str]) -> str:
    """Which exporter wrote this header."""
    names = {h.strip() for h in header}
    if "Email Address" in names:
        return MAILCHIMP
    if "email" in names and ("consent_source" in names or "signed_up_at" in names):
        return TEND
    if "email" in names:
        return LISTMONK
    raise ImportRefused(
        "no email column: expected a Mailchimp export ('Email Address'), "
        "a listmonk export ('email') or a Tend export"
    )


def _unquote(value: str | None) -> str:
    value = (value or "").strip()
    if len(value) > 1 and value[0] == "'" and value[1] in FORMULA_START:
        return value[1:]
    return value


def parse_time(value: str) -> datetime | None:
    """An export's timestamp (ISO-8601 or `YYYY-MM-DD HH:MM:SS`, UTC unless it says) or None."""
    value = value.strip()
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


class _RowError(ValueError):
    pass


def _time(record: dict, column: str) -> datetime | None:
    try:
        return parse_time(_unquote(record.get(column)))
    except ValueError:
        raise _RowError(f"{column} is not a date: {record.get(column)!r:.40}") from None


def _status_listmonk(record: dict) -> tuple[bool, bool] | None:
    """(consented, left) from listmonk's columns; None when the row is disabled (skipped)."""
    subscriber_status = _unquote(record.get("status")).lower()
    subscription = _unquote(record.get("subscription_status")).lower()
    if subscriber_status == "blocklisted" or subscription == "unsubscribed":
        return False, True
    if subscription:
        if subscription not in ("confirmed", "unconfirmed"):
            raise _RowError(f"unknown subscription_status {subscription!r:.30}")
        return subscription == "confirmed", False
    if subscriber_status in ("enabled", "confirmed"):
        return True, False
    if subscriber_status in ("", "unconfirmed"):
        return False, False
    if subscriber_status == "disabled":
        return None
    raise _RowError(f"unknown status {subscriber_status!r:.30}")


def _mailchimp_who(record: dict) -> tuple[str | None, str]:
    name = " ".join(
        p for p in (_unquote(record.get("First Name")), _unquote(record.get("Last Name"))) if p
    )
    return record.get("Email Address"), name


def _columns_who(record: dict) -> tuple[str | None, str]:
    return record.get("email"), _unquote(record.get("name"))


def _mailchimp(record: dict) -> dict:
    confirmed_at = _time(record, "CONFIRM_TIME")
    left = bool(_unquote(record.get("UNSUB_TIME")) or _unquote(record.get("CLEAN_TIME")))
    return {
        "consented": confirmed_at is not None and not left,
        "opted_in_at": _time(record, "OPTIN_TIME") or confirmed_at,
        "opt_in_ip": _ip(_unquote(record.get("OPTIN_IP"))),
        "confirmed_at": confirmed_at,
        "confirmed_ip": _ip(_unquote(record.get("CONFIRM_IP"))),
        "form_version": MAILCHIMP,
        "left": left,
    }


def _listmonk(record: dict) -> dict | None:
    state = _status_listmonk(record)
    if state is None:
        return None
    consented, left = state
    facts: dict = {}
    attributes = _unquote(record.get("attributes"))
    if attributes:
        try:
            parsed = json.loads(attributes)
        except ValueError:
            raise _RowError("attributes is not JSON") from None
        if isinstance(parsed, dict) and isinstance(parsed.get("timezone"), str):
            facts["fallback_timezone"] = parsed["timezone"]
    created = _time(record, "subscription_created_at") or _time(record, "created_at")
    return facts | {
        "consented": consented,
        "opted_in_at": created,
        "confirmed_at": created if consented else None,
        "form_version": LISTMONK,
        "left": left,
    }


def _tend(record: dict) -> dict:
    status = _unquote(record.get("status")).lower()
    if status not in (Status.ACTIVE, Status.PENDING, Status.UNSUBSCRIBED, Status.BOUNCED):
        raise _RowError(f"unknown status {status!r:.30}")
    confirmed_at = _time(record, "confirmed_at")
    consented = status == Status.ACTIVE
    if consented and confirmed_at is None:
        raise _RowError("active without confirmed_at")
    # Kept to its column, as every field is; then it must be a day.
    started_job_on = _unquote(record.get("started_job_on"))[:STARTED_ON_MAX] or None
    if started_job_on is not None:
        try:
            date.fromisoformat(started_job_on)
        except ValueError:
            raise _RowError(f"started_job_on is not a date: {started_job_on!r:.40}") from None
    said = _unquote(record.get("job_status")).lower() or JobStatus.UNKNOWN
    if said not in JobStatus.ALL:
        raise _RowError(f"unknown job_status {said!r:.30}")
    if said == JobStatus.STARTED and started_job_on is None:
        raise _RowError("job_status started without started_job_on")
    # Only a start date anchors the drip: an older export's anchor_at may be a confirmation.
    return {
        "consented": consented,
        "opted_in_at": _time(record, "consent_at") or _time(record, "signed_up_at"),
        "opt_in_ip": _ip(_unquote(record.get("consent_ip"))),
        "confirmed_at": confirmed_at,
        "confirmed_ip": _ip(_unquote(record.get("confirmed_ip"))),
        "started_job_on": started_job_on,
        "job_status": JobStatus.STARTED if started_job_on else said,
        "user_agent": _unquote(record.get("consent_user_agent")) or None,
        "page_url": _unquote(record.get("consent_page_url")) or None,
        "form_version": _unquote(record.get("consent_form_version")) or TEND,
        "left": status in (Status.UNSUBSCRIBED, Status.BOUNCED),
    }


@dataclass(frozen=True)
class Parser:
    """How one exporter's columns become a Row: who it is, then what the file says of them.

    `facts` returns the rest of the Row's fields, or None for a row the source disabled;
    its "fallback_timezone" is a zone the format keeps elsewhere (listmonk's attributes),
    used when the timezone column is empty.
    """

    who: Callable[[dict], tuple[str | None, str]]
    facts: Callable[[dict], dict | None]


PARSERS: dict[str, Parser] = {
    MAILCHIMP: Parser(who=_mailchimp_who, facts=_mailchimp),
    LISTMONK: Parser(who=_columns_who, facts=_listmonk),
    TEND: Parser(who=_columns_who, facts=_tend),
}


def _row(fmt: str, line: int, record: dict, *, default_timezone: str) -> Row | None:
    parser = PARSERS[fmt]
    raw_email, raw_name = parser.who(record)
    email = clean_email(_unquote(raw_email))
    if email is None:
        raise _RowError(f"not a valid email address: {_unquote(raw_email)!r:.60}")
    # An export without a name (common in Mailchimp) greets by the address's local part.
    name = clean_name(raw_name or email.rpartition("@")[0])
    if name is None:
        raise _RowError(f"not a usable name: {raw_name!r:.60}")
    facts = parser.facts(record)
    if facts is None:
        return None
    fallback = facts.pop("fallback_timezone", "")
    zone = _unquote(record.get("TIMEZONE") or record.get("timezone")) or fallback
    return Row(
        line=line,
        email=email,
        email_key=email_key(email),
        name=name,
        timezone=clean_timezone(zone, default_timezone),
        **facts,
    )


def _parser_ready() -> None:
    if csv.field_size_limit() < PARSER_LIMIT:
        csv.field_size_limit(PARSER_LIMIT)


def _records(reader) -> Iterator:
    """The reader's records; a cell past even PARSER_LIMIT refuses the file, naming its line."""
    try:
        yield from reader
    except csv.Error as err:
        raise ImportRefused(
            f"line {reader.line_num}: the file cannot be read as CSV ({err}); nothing imported"
        ) from None


def too_long(header: list[str], cells: Iterable[str | list | None]) -> str | None:
    """Why a row is refused for its size: the column of its first cell over MAX_CELL."""
    for i, cell in enumerate(cells):
        values = cell if isinstance(cell, list) else [cell]
        if any(v is not None and len(v) > MAX_CELL for v in values):
            column = header[i] if i < len(header) else "an extra column"
            return f"a cell ({column}) is longer than {MAX_CELL // 1024} KB"
    return None


def scan(lines: Iterable[str]) -> tuple[str, int, list[Invalid]]:
    """A quick look at a whole file before it is queued: its format, how many records it
    has, and its rows with a cell over MAX_CELL. Raises ImportRefused for a file that
    cannot be imported at all (and UnicodeDecodeError for one that is not UTF-8)."""
    _parser_ready()
    reader = csv.reader(lines)
    header = next(_records(reader), None)
    if not header:
        raise ImportRefused("the file is empty")
    header = [h.strip().lstrip("\ufeff") for h in header]
    fmt = detect_format(header)
    count = 0
    oversized: list[Invalid] = []
    for cells in _records(reader):
        count += 1
        # The longest cell first, at C speed; only a row with one over MAX_CELL is looked
        # at cell by cell, to name its column.
        if cells and max(map(len, cells)) > MAX_CELL:
            oversized.append(Invalid(reader.line_num, too_long(header, cells)))
    return fmt, count, oversized


def read(lines: Iterable[str], *, default_timezone: str, progress: Progress | None = None) -> Plan:
    """Check every row of a CSV export; nothing is written. Line numbers count the header as 1."""
    _parser_ready()
    reader = csv.DictReader(lines)
    try:
        fieldnames = reader.fieldnames
    except csv.Error as err:
        raise ImportRefused(f"line 1: the file cannot be read as CSV ({err})") from None
    if not fieldnames:
        raise ImportRefused("the file is empty")
    reader.fieldnames = header = [h.strip().lstrip("\ufeff") for h in fieldnames]
    plan = Plan(format=detect_format(reader.fieldnames))
    seen: set[str] = set()
    count = 0
    for count, record in enumerate(_records(reader), start=1):  # noqa: B007 - count is read after
        if progress and count % 1000 == 0:
            progress(1000)
        line = reader.line_num
        reason = too_long(header, record.values())
        if reason:
            plan.invalid.append(Invalid(line, reason))
            continue
        if not any((v or "").strip() for v in record.values() if isinstance(v, str)):
            continue  # a blank line
        try:
            row = _row(plan.format, line, record, default_timezone=default_timezone)
        except _RowError as err:
            plan.invalid.append(Invalid(line, str(err)))
            continue
        if row is None:
            plan.inactive += 1
        elif row.email_key in seen:
            plan.duplicates += 1
        else:
            seen.add(row.email_key)
            plan.rows.append(row)
    if progress:
        progress(count % 1000)
    return plan


def _planned(
    row: Row, now: datetime, sequence: Sequence, domain: str
) -> tuple[dict, dict, list[dict]]:
    """The subscriber, consent and delivery rows for one import row, as column values.

    A confirmed row gets the rows `schedule.follow` would write for a new reader, by the
    same rule (`plan.intended`), the way `schedule.sync` adds a step in bulk; the ORM's
    unit of work would cost about a millisecond a row. A note more than 14 days past is
    written skipped: history, not news. Any other row gets the worksheet email with its
    confirm link, due now, as `schedule.add_worksheet` writes it.
    """
    started = row.job_status == JobStatus.STARTED and row.started_job_on is not None
    zone = zone_or_default(row.timezone, current_app.config["DEFAULT_TIMEZONE"])
    anchor = start_anchor(date.fromisoformat(row.started_job_on), zone) if started else None
    subscriber = rows.subscriber_row(
        email=row.email,
        name=row.name,
        timezone=row.timezone,
        now=now,
        status=Status.ACTIVE if row.consented else Status.PENDING,
        created_at=row.opted_in_at,
        anchor_at=anchor,
        started_job_on=row.started_job_on if started else None,
        job_status=row.job_status,
        confirmed_at=row.confirmed_at if row.consented else None,
        worksheet_sent_at=None if row.consented else now,
    )
    if row.consented:
        reader = Reader(row.job_status, anchor, row.confirmed_at, zone)
        deliveries = [
            schedule.delivery_row(
                note.key, note.kind, note.due_at, domain=domain, now=now, status=note.status
            )
            for note in intended(sequence, reader, now=now)
            if note.status in (DeliveryStatus.SCHEDULED, DeliveryStatus.SKIPPED)
        ]
    else:
        deliveries = [schedule.worksheet_row(now=now, domain=domain)]
    consent = rows.consent_row(
        now=now,
        created_at=row.opted_in_at,
        ip=row.opt_in_ip,
        user_agent=row.user_agent,
        page_url=row.page_url,
        form_version=row.form_version,
        source="import",
        confirmed_at=row.confirmed_at if row.consented else None,
        confirmed_ip=row.confirmed_ip if row.consented else None,
    )
    return subscriber, consent, deliveries


def _write(planned: list[tuple[dict, dict, list[dict]]]) -> None:
    """Insert one batch: subscribers first (their ids in order), then consents and deliveries."""
    table = Subscriber.__table__
    ids = db.session.scalars(
        insert(table).returning(table.c.id, sort_by_parameter_order=True),
        [values for values, _, _ in planned],
    ).all()
    db.session.execute(
        insert(Consent.__table__),
        [
            consent | {"subscriber_id": sid}
            for sid, (_, consent, _) in zip(ids, planned, strict=True)
        ],
    )
    rows = [
        delivery | {"subscriber_id": sid}
        for sid, (_, _, deliveries) in zip(ids, planned, strict=True)
        for delivery in deliveries
    ]
    if rows:
        db.session.execute(insert(Delivery.__table__), rows)


def load(
    plan: Plan,
    *,
    now: datetime,
    batch: int = 2000,
    progress: Progress | None = None,
    skip_invalid: bool = False,
) -> Report:
    """Write a checked plan in the caller's transaction: new rows in batches of inserts,
    nothing committed. The caller commits once, so a file is imported whole or not at all
    (a job stopped half-way leaves nothing to mail). Safe to run again.

    A plan with invalid rows is refused unless `skip_invalid`: then only its valid rows go.
    """
    if plan.invalid and not skip_invalid:
        raise ImportRefused(f"{len(plan.invalid)} invalid row(s): nothing imported")
    report = Report()
    sequence = current_app.extensions["tend.sequence"]
    domain = Sender.current().domain
    keys = [r.email_key for r in plan.rows]
    existing = known_among(keys)
    suppressed = suppressed_among(keys)

    todo: list[Row] = []
    left: list[str] = []
    for row in plan.rows:
        if row.email_key in existing:
            report.existing += 1
        elif row.left:
            report.left_at_source += 1
            left.append(row.email_key)
        elif row.email_key in suppressed:
            report.suppressed += 1
        else:
            todo.append(row)
    suppress_many(left, Reason.IMPORTED, now=now)
    if progress:
        progress(len(plan.rows) - len(todo))
    for start in range(0, len(todo), batch):
        part = todo[start : start + batch]
        _write([_planned(row, now, sequence, domain) for row in part])
        for row in part:
            if row.consented:
                report.active += 1
            else:
                report.pending += 1
        if progress:
            progress(len(part))
    return report


def describe(plan: Plan, report: Report) -> Iterator[str]:
    """The lines an operator reads after an import."""
    yield f"format: {plan.format}"
    yield f"imported: {report.imported} ({report.active} active, {report.pending} pending confirmation)"
    yield f"skipped, already subscribed: {report.existing}"
    yield f"skipped, suppressed: {report.suppressed}"
    yield f"unsubscribed at the source (suppressed, not added): {report.left_at_source}"
    if plan.duplicates:
        yield f"duplicates within the file: {plan.duplicates}"
    if plan.inactive:
        yield f"disabled at the source (not added): {plan.inactive}"
    if plan.invalid:
        yield f"invalid, skipped (listed by line): {len(plan.invalid)}"
