"""Pure rules for when an email may leave. Every function takes `now`; none reads a clock."""

from __future__ import annotations

import re
from collections.abc import Container
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

# Read with the settings (their parsers live there); kept here for the planner's callers.
from settings.when import parse_days, parse_window  # noqa: F401

_OFFSET = re.compile(r"^\s*(\d+)\s*(month|week|day|hour|minute)s?\s*$", re.IGNORECASE)
EVERY_DAY: frozenset[int] = frozenset(range(7))
# A note more than this late when its date becomes known is skipped, never sent late.
OVERDUE_LIMIT = timedelta(days=14)


def parse_offset(text: str) -> relativedelta:
    """`'1 month'`, `'3 months'`, `'10 days'`, `'2 hours'`, `'5 minutes'` -> a calendar offset."""
    match = _OFFSET.match(text)
    if not match:
        raise ValueError(f"offset must look like '3 months' or '10 days', got {text!r}")
    amount, unit = int(match.group(1)), match.group(2).lower()
    return relativedelta(**{unit + "s": amount})


def due_at(anchor: datetime, offset: relativedelta, zone: ZoneInfo | None = None) -> datetime:
    """Anchor plus a calendar offset: January 31 + 1 month is the last day of February.

    With `zone`, the calendar is the reader's: midnight of January 31 in Tokyo plus a month
    is midnight of February 28 in Tokyo, across a change of daylight saving time too, so
    the answer never depends on how the anchor was stored.
    """
    if zone is None:
        return anchor + offset
    return (anchor.astimezone(zone) + offset).astimezone(UTC)


def start_anchor(day: date, zone: ZoneInfo) -> datetime:
    """The anchor of the after-hire notes: midnight, in the reader's zone, of the day the
    new job starts (the first instant of that day, should DST skip midnight)."""
    return _local(day, time(0), zone)


def too_late(due: datetime, now: datetime) -> bool:
    """Whether a note due at `due` is so far past at `now` that it is skipped, not sent late."""
    return due < now - OVERDUE_LIMIT


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    # Round-trip through UTC so a wall time that DST skips lands on a real instant.
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC).astimezone(zone)


def next_opening(
    at: datetime,
    zone: ZoneInfo,
    window: tuple[time, time],
    days: frozenset[int] = EVERY_DAY,
    holidays: Container[date] = (),
) -> datetime:
    """The first instant at or after `at` inside the daily window, on one of `days`, in `zone`,
    on a local day that is not one of `holidays` (the reader's public holidays)."""
    if not days:
        raise ValueError("no send days")
    start, end = window
    local = at.astimezone(zone)
    if _open(local.date(), days, holidays) and start <= local.time() < end:
        return at
    day = local.date() if local.time() < start else local.date() + timedelta(days=1)
    while not _open(day, days, holidays):
        day += timedelta(days=1)
    return _local(day, start, zone).astimezone(UTC)


def _open(day: date, days: frozenset[int], holidays: Container[date]) -> bool:
    return day.weekday() in days and day not in holidays


def send_time(
    due: datetime,
    *,
    now: datetime,
    zone: ZoneInfo,
    window: tuple[time, time],
    last_drip_at: datetime | None,
    min_gap: timedelta,
    days: frozenset[int] = EVERY_DAY,
    holidays: Container[date] = (),
) -> datetime:
    """When a note (a drip step or a check-in) due at `due` may actually leave.

    Never before it is due, never sooner than `min_gap` after the previous note to the
    same person, never before `now`, and always inside the window, on a send day that is
    not a public holiday, in their own zone.
    """
    earliest = max(due, now)
    if last_drip_at is not None:
        earliest = max(earliest, last_drip_at + min_gap)
    return next_opening(earliest, zone, window, days, holidays)


def backoff(attempts: int) -> timedelta:
    """Delay before retry number `attempts` (1-based): 1, 2, 4 ... minutes, capped at 6 hours."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


def zone_or_default(name: str | None, default: str) -> ZoneInfo:
    """The subscriber's zone, or the default when it is missing or unknown."""
    try:
        return ZoneInfo(name) if name else ZoneInfo(default)
    except (ValueError, KeyError, OSError):
        return ZoneInfo(default)
