"""The plan of when: which notes a reader should have, which of the due ones go now, and on
which day each of a reader's notes will leave.

Pure: no database, no clock, no app. Three questions, one set of rules:

- `intended`: what a reader's notes should be, given what they told us of their job. The
  after-hire steps follow the start date; the check-ins follow confirmation and stop at
  the first answer that is not "still looking". A note more than 14 days past when its
  date becomes known is skipped (`timing.too_late`), never sent late.
- `decide`: of the deliveries that are due, which go now and which wait, until when
  (the window, the send days and the gap between two notes to one reader).
- `forecast`: the day each of a reader's notes will leave, for the pages that tell them
  (the reader's own and the operator's). It applies `timing.send_time`, the dispatcher's
  own rule, note after note, each one's gap counted from the one before.

A rule about when an email may leave belongs here, with a fact about the subscriber in
`SubscriberFacts` or `Reader` if it needs one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

import settings
from campaigns.closed_days import NO_HOLIDAYS, PublicHolidays
from campaigns.sequence import CHECKIN, DRIP, NOTE_KINDS, Sequence
from campaigns.timing import (
    EVERY_DAY,
    due_at,
    send_time,
    too_late,
    zone_or_default,
)
from models import DeliveryStatus, JobStatus


class Due(NamedTuple):
    """A scheduled delivery whose time has come; the dispatcher's rows have these columns."""

    id: int
    kind: str
    subscriber_id: int
    due_at: datetime


@dataclass(frozen=True, slots=True)
class SubscriberFacts:
    """What the plan knows of one subscriber of a due note (a drip step or a check-in)."""

    zone: str | None = None  # IANA name; None or unknown means the default zone
    last_drip_at: datetime | None = None  # the last note sent (or claimed) to them


@dataclass(frozen=True)
class Rules:
    """The sending rules of the app's settings, read once per pass."""

    window: tuple[time, time]  # local hours in which a note may leave
    min_gap: timedelta  # the least time between two notes to one subscriber
    default_zone: str = "UTC"
    days: frozenset[int] = EVERY_DAY  # local weekdays (Monday = 0) on which a note may leave
    holidays: PublicHolidays = NO_HOLIDAYS  # local days on which no note leaves

    @classmethod
    def of(cls, coach: settings.Coach, default_zone: str) -> Rules:
        """`DRIP_WINDOW`, `DRIP_DAYS`, `DRIP_HOLIDAYS`, `DRIP_MIN_GAP_DAYS` (as parsed at
        start) and `DEFAULT_TIMEZONE`."""
        return cls(
            window=(coach.drip_window.start, coach.drip_window.end),
            min_gap=timedelta(days=coach.drip_min_gap_days),
            default_zone=default_zone,
            days=coach.drip_days.numbers,
            holidays=PublicHolidays(coach.drip_holidays),
        )

    @classmethod
    def current(cls) -> Rules:
        """The running app's rules, read afresh (once per pass or page): the coach's
        settings may change while it runs."""
        return cls.of(settings.coach(), settings.settings_of().drip.default_timezone)

    @classmethod
    def from_config(cls, cfg: Mapping) -> Rules:
        """The old name of `current()`, for callers that pass the running app's config."""
        from flask import current_app

        if cfg is not current_app.config:
            raise TypeError("Rules.from_config reads the running app: use Rules.of(...)")
        return cls.current()

    def zone(self, name: str | None) -> ZoneInfo:
        return zone_or_default(name, self.default_zone)

    def send_time(
        self, due: datetime, *, now: datetime, zone: ZoneInfo, last_sent: datetime | None
    ) -> datetime:
        """`timing.send_time` under these rules."""
        return send_time(
            due,
            now=now,
            zone=zone,
            window=self.window,
            days=self.days,
            holidays=self.holidays,
            last_drip_at=last_sent,
            min_gap=self.min_gap,
        )


# ---- what a reader's notes should be -------------------------------------------------------


@dataclass(frozen=True)
class Reader:
    """What a reader's schedule follows: their answer, the start of the new job, confirmation."""

    job_status: str
    anchor_at: datetime | None  # midnight, in their zone, of the day the new job starts
    confirmed_at: datetime | None
    zone: ZoneInfo = ZoneInfo("UTC")  # whose calendar the offsets are counted in


@dataclass(frozen=True)
class Note:
    """One note of a reader's schedule: an after-hire step or a check-in."""

    kind: str
    key: str
    due_at: datetime | None  # None: held, with no start date to count from
    status: str  # a DeliveryStatus
    sent_at: datetime | None = None


def intended(
    sequence: Sequence, reader: Reader, *, now: datetime, answered: bool = False
) -> list[Note]:
    """The status and due time each of the reader's notes should have at `now`.

    After-hire steps: with a start date, due that long after it, or skipped when more than
    14 days past; without one, held. Check-ins: for a reader who has not said, or is still
    looking, due that long after confirming (skipped when too far past); otherwise
    cancelled. `answered`: the reader has just answered, which answers every check-in due
    by now too ("still looking" waits for the next one).
    """
    notes = []
    started = reader.job_status == JobStatus.STARTED and reader.anchor_at is not None
    for step in sequence.steps:
        if not started:
            notes.append(Note(DRIP, step.key, None, DeliveryStatus.HELD))
            continue
        due = due_at(reader.anchor_at, step.offset, reader.zone)
        status = DeliveryStatus.SKIPPED if too_late(due, now) else DeliveryStatus.SCHEDULED
        notes.append(Note(DRIP, step.key, due, status))
    asked = reader.job_status in JobStatus.ASKED and reader.confirmed_at is not None
    for step in sequence.checkins:
        confirmed = reader.confirmed_at
        due = due_at(confirmed, step.offset, reader.zone) if confirmed else None
        if not asked or (answered and due <= now):
            status = DeliveryStatus.CANCELLED
        elif too_late(due, now):
            status = DeliveryStatus.SKIPPED
        else:
            status = DeliveryStatus.SCHEDULED
        notes.append(Note(CHECKIN, step.key, due, status))
    return notes


# ---- which due deliveries go now -----------------------------------------------------------


@dataclass
class Plan:
    send: list[int] = field(default_factory=list)  # delivery ids to claim now, in order
    defer: list[tuple[int, datetime]] = field(default_factory=list)  # (id, its new due_at)
    gap_starts: list[int] = field(default_factory=list)  # subscriber ids, each once, sorted


def decide(
    due: Iterable[Due],
    subscribers: Mapping[int, SubscriberFacts],
    *,
    now: datetime,
    rules: Rules,
) -> Plan:
    """What to do at `now` with each due delivery, taken in the order given.

    The worksheet email goes at once. A note (drip step or check-in) goes now if
    `send_time` lets it leave by `now`, and its subscriber's gap then starts at `now`, so a
    second note to them in the same pass waits for the gap to end; otherwise it waits
    until that time. `subscribers` must hold the facts of every subscriber of a due note.
    """
    plan = Plan()
    noted: set[int] = set()
    for row in due:
        if row.kind in NOTE_KINDS:
            facts = subscribers[row.subscriber_id]
            when = rules.send_time(
                row.due_at,
                now=now,
                zone=rules.zone(facts.zone),
                last_sent=now if row.subscriber_id in noted else facts.last_drip_at,
            )
            if when > now:
                plan.defer.append((row.id, when))
                continue
            noted.add(row.subscriber_id)
        plan.send.append(row.id)
    plan.gap_starts = sorted(noted)
    return plan


# ---- the day each note leaves ----------------------------------------------------------------


class Outcome:
    SENT = "sent"  # `at` is when it was sent
    PLANNED = "planned"  # `at` is when it will leave
    SKIPPED = "skipped"  # too far past when its date became known
    HELD = "held"  # waits for a start date
    NOT_SENT = "not sent"  # cancelled or failed


@dataclass(frozen=True)
class Forecast:
    kind: str
    key: str
    outcome: str
    at: datetime | None = None


_IN_FLIGHT = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)


def forecast(
    notes: Iterable[Note],
    *,
    now: datetime,
    zone: str | None,
    rules: Rules,
    last_sent: datetime | None,
) -> list[Forecast]:
    """When each of a reader's notes leaves (or why it won't), in the order they come.

    A scheduled note leaves at `send_time` of its due time, its gap counted from the note
    before it (or from `last_sent`, the last one sent): what the dispatcher does when each
    comes due, if nothing else changes. A note already handed to a worker leaves now.
    """
    reader_zone = rules.zone(zone)
    previous = last_sent
    out = []
    far = datetime.max.replace(tzinfo=now.tzinfo)
    for note in sorted(notes, key=lambda n: (n.due_at or far, n.key)):
        if note.status == DeliveryStatus.SENT:
            out.append(Forecast(note.kind, note.key, Outcome.SENT, note.sent_at))
        elif note.status in _IN_FLIGHT:
            previous = max(previous or now, now)
            out.append(Forecast(note.kind, note.key, Outcome.PLANNED, now))
        elif note.status == DeliveryStatus.SCHEDULED and note.due_at is not None:
            when = rules.send_time(note.due_at, now=now, zone=reader_zone, last_sent=previous)
            previous = when
            out.append(Forecast(note.kind, note.key, Outcome.PLANNED, when))
        elif note.status == DeliveryStatus.SKIPPED:
            out.append(Forecast(note.kind, note.key, Outcome.SKIPPED))
        elif note.status == DeliveryStatus.HELD:
            out.append(Forecast(note.kind, note.key, Outcome.HELD))
        else:
            out.append(Forecast(note.kind, note.key, Outcome.NOT_SENT))
    return out
