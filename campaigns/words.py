"""The words Tend writes for a reader from what it knows of them, not what it assumes.

Two kinds of piece, both given to every email template (and to the start-date page):

- the locale's: how a date is written ("Monday, December 7, 2026" or "Monday 7 December
  2026"), a word that is spelled differently (`resume`), the worksheet's paper;
- the reader's: past or future tense for their start date, how many after-hire notes are
  still to come and on which days, whether they said "still looking", and whether the
  start-date question is asked at all.

`LOCALE` picks the locale; `en-US` is the default and `en-GB` the second.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import dataclass
from datetime import date, datetime, time

from dateutil.relativedelta import relativedelta

from campaigns.closed_days import NO_HOLIDAYS, PublicHolidays
from campaigns.timing import parse_offset
from models import JobStatus


@dataclass(frozen=True)
class Locale:
    tag: str
    paper: str  # WORKSHEET_PAPER's default: "letter" or "a4"
    resume: str  # what a job seeker sends: "résumé" or "CV"
    month_first: bool  # "December 7, 2026" or "7 December 2026"

    def long_date(self, day: date) -> str:
        if self.month_first:
            return f"{day:%A}, {day:%B} {day.day}, {day.year}"
        return f"{day:%A} {day.day} {day:%B %Y}"

    def clock(self, at: time) -> str:
        """9 a.m., 5:30 p.m. (en-US); 09:00, 17:30 (en-GB)."""
        if not self.month_first:
            return f"{at:%H:%M}"
        hour = at.hour % 12 or 12
        minutes = f":{at.minute:02d}" if at.minute else ""
        return f"{hour}{minutes} {'a.m.' if at.hour < 12 else 'p.m.'}"


LOCALES = {
    "en-US": Locale("en-US", paper="letter", resume="résumé", month_first=True),
    "en-GB": Locale("en-GB", paper="a4", resume="CV", month_first=False),
}
DEFAULT_LOCALE = "en-US"


def locale_of(tag: str | None) -> Locale:
    return LOCALES.get(tag or DEFAULT_LOCALE, LOCALES[DEFAULT_LOCALE])


def current_locale() -> Locale:
    """The running app's LOCALE; the default outside an app."""
    from flask import current_app, has_app_context

    return locale_of(current_app.config.get("LOCALE") if has_app_context() else None)


_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_NUMBERS += ("ten", "eleven", "twelve")
_DAY_NAMES = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays")
_DAY_NAMES += ("Sundays",)


def number(n: int) -> str:
    return _NUMBERS[n] if 0 <= n < len(_NUMBERS) else str(n)


def and_list(items: Seq[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def offsets_words(offsets: Seq[str], *, digits: bool = False) -> str:
    """('1 month', '3 months', '6 months') -> 'one, three and six months' ('1, 3 and 6
    months' with `digits`); offsets of different units are listed whole."""
    parts = [o.split() for o in offsets]
    units = {p[1].rstrip("s") for p in parts if len(p) == 2}
    if len(units) == 1 and all(len(p) == 2 and p[0].isdigit() for p in parts):
        unit = units.pop()
        last = int(parts[-1][0])
        said = [p[0] if digits else number(int(p[0])) for p in parts]
        return and_list(said) + f" {unit}{'s' if last != 1 else ''}"
    return and_list(offsets)


def times_words(n: int) -> str:
    """1 -> 'once', 2 -> 'twice', 3 -> 'three times'."""
    return {1: "once", 2: "twice"}.get(n, f"{number(n)} times")


def send_days_words(days: frozenset[int]) -> str:
    """The send days as a sentence says them: 'on weekdays', 'every day', 'on Mondays and
    Thursdays'."""
    if days == frozenset(range(5)):
        return "on weekdays"
    if days == frozenset(range(7)):
        return "every day"
    return "on " + and_list([_DAY_NAMES[d] for d in sorted(days)])


# ---- the reader's pieces -----------------------------------------------------------------


@dataclass(frozen=True)
class Coming:
    """One after-hire note still to come: its offset as written and the day it leaves."""

    offset_text: str
    day: date
    holiday: str | None = None  # the public holiday it was moved past, if one


@dataclass(frozen=True)
class ReaderWords:
    """What the templates may say of one reader, computed from their actual plan.

    `shape` holds what changes the form of an email (and keys its cached skeleton);
    `slots` the per-reader strings printed into it.
    """

    shape: dict
    slots: dict


def coming_notes(
    steps: Seq, start: date, today: date, *, days: frozenset[int], holidays: PublicHolidays
) -> list[Coming]:
    """The after-hire notes due from `today` on, each on the first send day at or after its
    due day that is not a public holiday."""
    out = []
    for step in steps:
        due = start + parse_offset(step.offset_text)
        if isinstance(due, datetime):
            due = due.date()
        if due < today:
            continue
        day, moved_past = due, None
        while day.weekday() not in days or day in holidays:
            moved_past = moved_past or holidays.name(day)
            day += relativedelta(days=1)
        out.append(Coming(step.offset_text, day, moved_past))
    return out


def reader_words(
    *,
    job_status: str,
    asking: bool,
    start: date | None,
    today: date,
    steps: Seq,
    locale: Locale,
    days: frozenset[int] = frozenset(range(7)),
    holidays: PublicHolidays = NO_HOLIDAYS,
) -> ReaderWords:
    """The pieces for one reader. `asking`: the email asks them to confirm their address
    (then no start-date question and no plan); `today`: their own date at the send."""
    started = job_status == JobStatus.STARTED and start is not None
    coming = coming_notes(steps, start, today, days=days, holidays=holidays) if started else []
    shape = {
        "job_status": job_status,
        # past: the start date is behind them; future: ahead (today counts as started).
        "tense": ("past" if start <= today else "future") if started else "",
        "coming": len(coming),
        "coming_count": number(len(coming)),
        # 'at one, three and six months in', or for what is still to come only
        "coming_at": offsets_words([c.offset_text for c in coming]),
        "looking": job_status == JobStatus.LOOKING,
        "ask_start": not asking and job_status in (JobStatus.UNKNOWN, JobStatus.LOOKING),
        "steps_count": number(len(steps)),
        "steps_at": offsets_words([s.offset_text for s in steps]),
        "resume": locale.resume,
    }
    slots = {
        "started_on": locale.long_date(start) if started else "",
        "coming_dates": and_list([_day_words(c, locale) for c in coming]),
    }
    return ReaderWords(shape, slots)


def _day_words(note: Coming, locale: Locale) -> str:
    said = locale.long_date(note.day)
    return f"{said} (after {note.holiday})" if note.holiday else said
