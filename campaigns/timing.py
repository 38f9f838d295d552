"""Pure rules for when an email may leave. Every function takes `now`; none reads a clock."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

_OFFSET = re.compile(r"^\s*(\d+)\s*(month|week|day|hour|minute)s?\s*$", re.IGNORECASE)
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_offset(text: str) -> relativedelta:
    """`'1 month'`, `'3 months'`, `'10 days'`, `'2 hours'`, `'5 minutes'` -> a calendar offset."""
    match = _OFFSET.match(text)
    if not match:
        raise ValueError(f"offset must look like '3 months' or '10 days', got {text!r}")
    amount, unit = int(match.group(1)), match.group(2).lower()
    return relativedelta(**{unit + "s": amount})


def due_at(anchor: datetime, offset: relativedelta) -> datetime:
    """Anchor plus a calendar offset: January 31 + 1 month is the last day of February."""
    return anchor + offset


def parse_window(text: str) -> tuple[time, time]:
    """`'09:00-17:00'` -> (start, end) local times; start must come before end."""
    match = _WINDOW.match(text)
    if not match:
        raise ValueError(f"window must look like 09:00-17:00, got {text!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = time(h1, m1), time(h2 % 24, m2) if h2 < 24 else time(23, 59, 59)
    if not start < end:
        raise ValueError(f"window must open before it closes, got {text!r}")
    return start, end


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    # Round-trip through UTC so a wall time that DST skips lands on a real instant.
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC).astimezone(zone)


def next_opening(at: datetime, zone: ZoneInfo, window: tuple[time, time]) -> datetime:
    """The first instant at or after `at` that lies inside the daily window in `zone`."""
    start, end = window
    local = at.astimezone(zone)
    if start <= local.time() < end:
        return at
    day = local.date() if local.time() < start else local.date() + timedelta(days=1)
    return _local(day, start, zone).astimezone(UTC)


def send_time(
    due: datetime,
    *,
    now: datetime,
    zone: ZoneInfo,
    window: tuple[time, time],
    last_drip_at: datetime | None,
    min_gap: timedelta,
) -> datetime:
    """When a drip email due at `due` may actually leave.

    Never before it is due, never sooner than `min_gap` after the previous drip email to
    the same person, never before `now`, and always inside the window in their own zone.
    """
    earliest = max(due, now)
    if last_drip_at is not None:
        earliest = max(earliest, last_drip_at + min_gap)
    return next_opening(earliest, zone, window)


def backoff(attempts: int) -> timedelta:
    """Delay before retry number `attempts` (1-based): 1, 2, 4 ... minutes, capped at 6 hours."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


def zone_or_default(name: str | None, default: str) -> ZoneInfo:
    """The subscriber's zone, or the default when it is missing or unknown."""
    try:
        return ZoneInfo(name) if name else ZoneInfo(default)
    except (ValueError, KeyError, OSError):
        return ZoneInfo(default)
