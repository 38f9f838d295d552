"""Public holidays on which no note leaves (`DRIP_HOLIDAYS`): a note due on one moves to the
next send day, as it does from a weekend.

The calendars come from the `holidays` package: a country code (`US`, `GB`) or a country
and one of its subdivisions (`US-CA`, `GB-SCT`); several are given comma-separated, and a
day that is a holiday in any of them is closed. The day is the reader's own: the note's
local date in their zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import holidays as calendars

# DRIP_HOLIDAYS is read with the settings (settings.when); kept here for the planner.
from settings.when import parse_codes  # noqa: F401


@lru_cache(maxsize=32)
def _calendar(code: str) -> calendars.HolidayBase:
    country, _, subdiv = code.partition("-")
    return calendars.country_holidays(country, subdiv=subdiv or None)


@dataclass(frozen=True)
class PublicHolidays:
    """The closed days of one or more calendars; empty closes none."""

    codes: tuple[str, ...] = ()

    def name(self, day: date) -> str | None:
        """The holiday on `day` ("New Year's Day"), or None when it is an ordinary day."""
        for code in self.codes:
            found = _calendar(code).get(day)
            if found:
                return found
        return None

    def __contains__(self, day: date) -> bool:
        return bool(self.codes) and self.name(day) is not None

    def __bool__(self) -> bool:
        return bool(self.codes)


NO_HOLIDAYS = PublicHolidays()
