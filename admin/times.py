"""The dashboard's times: in the coach's own zone (COACH_TIMEZONE), to the minute."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape


def as_datetime(value: object) -> datetime | None:
    """A stored time (aware UTC, or ISO text as a download gives it) as an aware datetime;
    None for anything else."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def in_zone(value: datetime, zone: ZoneInfo, *, weekday: bool = False) -> str:
    """ "7 Dec 2026, 21:14 CET": the day, the month's short name, the year, the time to the
    minute and the zone's abbreviation ("Mon 7 Dec 2026, 21:14 CET" with the weekday)."""
    local = value.astimezone(zone)
    shown = f"{local.day} {local:%b %Y, %H:%M} {local.tzname()}"
    return f"{local:%a} {shown}" if weekday else shown


def day(value: object) -> str:
    """A date as the dashboard shows it, "16 Dec 2026"; "–" for none, text as it is."""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = value.date()
    if not isinstance(value, date):
        return "–"
    return f"{value.day} {value:%b %Y}"


def coach_time(value: object, zone: ZoneInfo, *, weekday: bool = False) -> Markup:
    """A `<time>` element: the time in `zone` to read, the exact instant in its attribute;
    "–" for no time."""
    when = as_datetime(value)
    if when is None:
        return Markup("–") if value in (None, "") else escape(value)
    return Markup('<time datetime="{}">{}</time>').format(
        when.isoformat(), in_zone(when, zone, weekday=weekday)
    )
