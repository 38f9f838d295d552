"""The dispatch plan: of the deliveries that are due, which go now and which wait, until when.

Pure: no database, no clock, no app. The dispatcher reads the due rows and what it knows
of their subscribers, asks `decide`, and writes the answer. A rule about when an email
may leave (the window, the gap, and later the start date, the send days and the
check-ins) belongs here, with a fact about the subscriber in `SubscriberFacts` if it
needs one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import NamedTuple

from campaigns.schedule import DRIP
from campaigns.timing import parse_window, send_time, zone_or_default


class Due(NamedTuple):
    """A scheduled delivery whose time has come; the dispatcher's rows have these columns."""

    id: int
    kind: str
    subscriber_id: int
    due_at: datetime


@dataclass(frozen=True, slots=True)
class SubscriberFacts:
    """What the plan knows of one subscriber of a due drip email."""

    zone: str | None = None  # IANA name; None or unknown means the default zone
    last_drip_at: datetime | None = None  # the last drip email sent (or claimed) to them


@dataclass(frozen=True)
class Rules:
    """The sending rules of the app's settings, read once per pass."""

    window: tuple[time, time]  # local hours in which a drip email may leave
    min_gap: timedelta  # the least time between two drip emails to one subscriber
    default_zone: str = "UTC"

    @classmethod
    def from_config(cls, cfg: Mapping) -> Rules:
        """`DRIP_WINDOW`, `DRIP_MIN_GAP_DAYS` and `DEFAULT_TIMEZONE`."""
        return cls(
            window=parse_window(cfg["DRIP_WINDOW"]),
            min_gap=timedelta(days=cfg["DRIP_MIN_GAP_DAYS"]),
            default_zone=cfg["DEFAULT_TIMEZONE"],
        )


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

    The worksheet email goes at once. A drip email goes now if `send_time` lets it leave
    by `now`, and its subscriber's gap then starts at `now`, so a second drip email to
    them in the same pass waits for the gap to end; otherwise it waits until that time.
    `subscribers` must hold the facts of every subscriber of a due drip email.
    """
    plan = Plan()
    dripped: set[int] = set()
    for row in due:
        if row.kind == DRIP:
            facts = subscribers[row.subscriber_id]
            when = send_time(
                row.due_at,
                now=now,
                zone=zone_or_default(facts.zone, rules.default_zone),
                window=rules.window,
                last_drip_at=now if row.subscriber_id in dripped else facts.last_drip_at,
                min_gap=rules.min_gap,
            )
            if when > now:
                plan.defer.append((row.id, when))
                continue
            dripped.add(row.subscriber_id)
        plan.send.append(row.id)
    plan.gap_starts = sorted(dripped)
    return plan
