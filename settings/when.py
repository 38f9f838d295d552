"""When notes go out: DRIP_WINDOW, DRIP_DAYS and DRIP_HOLIDAYS as the settings read them.

The planner (campaigns.timing, campaigns.plan) takes the parsed values from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

from .parsers import Invalid

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class Window:
    """DRIP_WINDOW: the local hours a note may leave, and the text it was written as."""

    start: time
    end: time
    text: str

    def __str__(self) -> str:
        return self.text


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


def window(raw: str) -> Window:
    try:
        start, end = parse_window(raw)
    except ValueError:
        raise Invalid(f"must look like 09:00-17:00, got {raw!r}") from None
    return Window(start, end, raw)


def _weekday(name: str) -> int:
    key = name.strip().lower()
    for count, day in enumerate(_DAY_NAMES):
        if key in (day, day[:3]):
            return count
    raise ValueError(f"not a day of the week: {name!r}")


def parse_days(text: str) -> frozenset[int]:
    """`'Mon-Fri'`, `'Mon,Wed,Fri'`, `'Fri-Mon'`, `'Mon-Sun'` -> weekday numbers (Monday = 0)."""
    days: set[int] = set()
    for part in text.split(","):
        if not part.strip():
            raise ValueError(f"days must look like Mon-Fri or Mon,Wed,Fri, got {text!r}")
        first, dash, last = part.partition("-")
        start = _weekday(first)
        stop = _weekday(last) if dash else start
        days.update((start + i) % 7 for i in range((stop - start) % 7 + 1))
    return frozenset(days)


@dataclass(frozen=True)
class Days:
    """DRIP_DAYS: the weekdays (Monday = 0) a note may leave, and the text it was written as."""

    numbers: frozenset[int]
    text: str

    def __str__(self) -> str:
        return self.text


def days(raw: str) -> Days:
    try:
        return Days(parse_days(raw), raw)
    except ValueError:
        raise Invalid(f"must name days like Mon-Fri or Mon,Wed,Fri, got {raw!r}") from None


def parse_codes(text: str) -> tuple[str, ...]:
    """`'US, GB-SCT'` -> ('US', 'GB-SCT'); empty -> (); an unknown code raises ValueError."""
    codes = tuple(c.strip().upper() for c in text.split(",") if c.strip())
    if not codes:
        return ()
    import holidays as calendars  # loaded only when a calendar is named

    supported = calendars.list_supported_countries()
    for code in codes:
        country, _, subdiv = code.partition("-")
        if country not in supported:
            raise ValueError(f"not a country the holidays package knows: {code!r}")
        if subdiv and subdiv not in supported[country]:
            raise ValueError(f"{country} has no subdivision {subdiv!r}: {code!r}")
    return codes


def holidays(raw: str) -> tuple[str, ...]:
    """DRIP_HOLIDAYS: country (or country-subdivision) codes such as US, GB, US-CA."""
    try:
        return parse_codes(raw)
    except ValueError as err:
        raise Invalid(f"must be country codes like US, GB or US-CA: {err}") from None
