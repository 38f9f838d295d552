"""How each exporter's columns become a Row: Mailchimp, listmonk and Tend's own export.

Pure: a row is checked against the file's own words and `now`, without the database.
A date that cannot be a real instant (it overflows when made UTC), one before 1970 or
one after `now` makes the row invalid; so does a start date past six months ahead (the
furthest the form takes).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from dateutil.relativedelta import relativedelta

from models import JobStatus, Status
from subscribers.fields import STARTED_ON_MAX, clean_email, clean_name, clean_timezone
from subscribers.lifecycle import email_key
from transfers.csvfile import ImportRefused

MAILCHIMP, LISTMONK, TEND = "mailchimp", "listmonk", "tend"
# Characters a spreadsheet would run as a formula; the export quotes them with a '.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
START_AHEAD = relativedelta(months=6)


class RowError(ValueError):
    """Why one row cannot be imported (its line is listed with this)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One valid row, ready to store."""

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
    """An export's timestamp (ISO-8601 or `YYYY-MM-DD HH:MM:SS`, UTC unless it says) or None.
    ValueError for text that is no date, OverflowError for one UTC cannot hold."""
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


def _time(record: dict, column: str, now: datetime) -> datetime | None:
    try:
        parsed = parse_time(_unquote(record.get(column)))
    except (ValueError, OverflowError):
        raise RowError(f"{column} is not a date: {record.get(column)!r:.40}") from None
    if parsed is not None and parsed > now:
        raise RowError(f"{column} is in the future: {record.get(column)!r:.40}")
    if parsed is not None and parsed < EARLIEST:
        raise RowError(f"{column} is before 1970: {record.get(column)!r:.40}")
    return parsed


def _start_day(record: dict, now: datetime) -> str | None:
    # Kept to its column, as every field is; then it must be a day the form could take.
    started_job_on = _unquote(record.get("started_job_on"))[:STARTED_ON_MAX] or None
    if started_job_on is None:
        return None
    try:
        day = date.fromisoformat(started_job_on)
    except ValueError:
        raise RowError(f"started_job_on is not a date: {started_job_on!r:.40}") from None
    if not EARLIEST.date() <= day <= now.date() + START_AHEAD:
        raise RowError(
            f"started_job_on is out of range (1970 to six months ahead): {started_job_on!r}"
        )
    return started_job_on


def _status_listmonk(record: dict) -> tuple[bool, bool] | None:
    """(consented, left) from listmonk's columns; None when the row is disabled (skipped)."""
    subscriber_status = _unquote(record.get("status")).lower()
    subscription = _unquote(record.get("subscription_status")).lower()
    if subscriber_status == "blocklisted" or subscription == "unsubscribed":
        return False, True
    if subscription:
        if subscription not in ("confirmed", "unconfirmed"):
            raise RowError(f"unknown subscription_status {subscription!r:.30}")
        return subscription == "confirmed", False
    if subscriber_status in ("enabled", "confirmed"):
        return True, False
    if subscriber_status in ("", "unconfirmed"):
        return False, False
    if subscriber_status == "disabled":
        return None
    raise RowError(f"unknown status {subscriber_status!r:.30}")


def _mailchimp_who(record: dict) -> tuple[str | None, str]:
    name = " ".join(
        p for p in (_unquote(record.get("First Name")), _unquote(record.get("Last Name"))) if p
    )
    return record.get("Email Address"), name


def _columns_who(record: dict) -> tuple[str | None, str]:
    return record.get("email"), _unquote(record.get("name"))


def _mailchimp(record: dict, now: datetime) -> dict:
    confirmed_at = _time(record, "CONFIRM_TIME", now)
    left = bool(_unquote(record.get("UNSUB_TIME")) or _unquote(record.get("CLEAN_TIME")))
    return {
        "consented": confirmed_at is not None and not left,
        "opted_in_at": _time(record, "OPTIN_TIME", now) or confirmed_at,
        "opt_in_ip": _ip(_unquote(record.get("OPTIN_IP"))),
        "confirmed_at": confirmed_at,
        "confirmed_ip": _ip(_unquote(record.get("CONFIRM_IP"))),
        "form_version": MAILCHIMP,
        "left": left,
    }


def _listmonk(record: dict, now: datetime) -> dict | None:
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
            raise RowError("attributes is not JSON") from None
        if isinstance(parsed, dict) and isinstance(parsed.get("timezone"), str):
            facts["fallback_timezone"] = parsed["timezone"]
    created = _time(record, "subscription_created_at", now) or _time(record, "created_at", now)
    return facts | {
        "consented": consented,
        "opted_in_at": created,
        "confirmed_at": created if consented else None,
        "form_version": LISTMONK,
        "left": left,
    }


def _tend(record: dict, now: datetime) -> dict:
    status = _unquote(record.get("status")).lower()
    if status not in (Status.ACTIVE, Status.PENDING, Status.UNSUBSCRIBED, Status.BOUNCED):
        raise RowError(f"unknown status {status!r:.30}")
    confirmed_at = _time(record, "confirmed_at", now)
    consented = status == Status.ACTIVE
    if consented and confirmed_at is None:
        raise RowError("active without confirmed_at")
    started_job_on = _start_day(record, now)
    said = _unquote(record.get("job_status")).lower() or JobStatus.UNKNOWN
    if said not in JobStatus.ALL:
        raise RowError(f"unknown job_status {said!r:.30}")
    if said == JobStatus.STARTED and started_job_on is None:
        raise RowError("job_status started without started_job_on")
    # Only a start date anchors the drip: an older export's anchor_at may be a confirmation.
    return {
        "consented": consented,
        "opted_in_at": _time(record, "consent_at", now) or _time(record, "signed_up_at", now),
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
    facts: Callable[[dict, datetime], dict | None]


PARSERS: dict[str, Parser] = {
    MAILCHIMP: Parser(who=_mailchimp_who, facts=_mailchimp),
    LISTMONK: Parser(who=_columns_who, facts=_listmonk),
    TEND: Parser(who=_columns_who, facts=_tend),
}


def row_of(
    fmt: str, line: int, record: dict, *, default_timezone: str, now: datetime
) -> Row | None:
    """The Row a record makes, None for one its source disabled; RowError for an invalid one."""
    parser = PARSERS[fmt]
    raw_email, raw_name = parser.who(record)
    email = clean_email(_unquote(raw_email))
    if email is None:
        raise RowError(f"not a valid email address: {_unquote(raw_email)!r:.60}")
    # An export without a name (common in Mailchimp) greets by the address's local part.
    name = clean_name(raw_name or email.rpartition("@")[0])
    if name is None:
        raise RowError(f"not a usable name: {raw_name!r:.60}")
    facts = parser.facts(record, now)
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
