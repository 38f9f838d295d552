"""The pause gate: whether Tend may send at all. The pause, its reason, the probe, the
reputation guard, and the hold (a refused reader kept, not bounced, until proven).

The state is a row of the settings table, so every worker, the clock, the web and the
CLI see the same; readers keep it for a couple of seconds. A pause changes no reader and
no delivery: whatever was on its way goes back on the schedule with the reason, and the
clock queues nothing until sending resumes (by the operator, or by a probe that went
through when the pause came from the relay).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from flask import current_app
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from models import Delivery, DeliveryStatus, MailEvent, Setting, Status, Subscriber, db, utcnow

log = logging.getLogger("tend.sending")
STATE_KEY = "sending.state"
_CACHE_SECONDS = 2.0


class PauseKind(StrEnum):
    RELAY = "relay"  # the relay refused us: a probe may resume by itself
    REPUTATION = "reputation"  # complaints or bounces over the line: the operator resumes
    OPERATOR = "operator"  # `sending pause` or the dashboard


class EventKind(StrEnum):
    COMPLAINT = "complaint"
    HARD_BOUNCE = "hard_bounce"  # of an address someone confirmed: the guard counts it
    # A confirmation request to an address nobody confirmed, bounced or marked as spam:
    # anyone can type such an address into the form, so the guard never counts it; the
    # dashboard alerts on many.
    PENDING_BOUNCE = "pending_bounce"
    PENDING_SPAM = "pending_spam"


_UNCONFIRMED = {
    EventKind.HARD_BOUNCE: EventKind.PENDING_BOUNCE,
    EventKind.COMPLAINT: EventKind.PENDING_SPAM,
}


# The last words of a held reader's delivery note: a refusal the relay gave no proof
# against. Such a reader, tried again, does not count in the run of refused readers.
HELD_NOTE = "held, not bounced"
RESUME_SPREAD = timedelta(minutes=2)  # held readers due during a pause, once it ends...
RESUME_WITHIN = timedelta(hours=24)  # ...come back this far apart, and all within this
PENDING_WINDOW = timedelta(hours=24)
PENDING_ALERT = 5  # confirmation requests gone wrong in the window that the dashboard shows
PENDING_KEPT = timedelta(days=7)  # older ones are deleted as new ones come: bounded


@dataclass(frozen=True)
class SendingState:
    paused: bool = False
    reason: str = ""
    since: datetime | None = None
    kind: str = ""
    probe_at: datetime | None = None  # the next probe may go at or after this time
    resumed_at: datetime | None = None  # the guard counts from here on after a resume
    events_after: int = 0  # ...and only the complaints and bounces recorded after it

    def as_json(self) -> str:
        values = asdict(self)
        for name in ("since", "probe_at", "resumed_at"):
            values[name] = values[name].isoformat() if values[name] else None
        return json.dumps(values)

    @classmethod
    def from_json(cls, text: str | None) -> SendingState:
        if not text:
            return cls()
        values = json.loads(text)
        for name in ("since", "probe_at", "resumed_at"):
            values[name] = datetime.fromisoformat(values[name]) if values.get(name) else None
        return cls(**values)


def _cache() -> dict:
    return current_app.extensions.setdefault("tend.sending", {})


def state(*, fresh: bool = False) -> SendingState:
    """The current state, read from the database at most every couple of seconds."""
    cache = _cache()
    now = time.monotonic()
    if not fresh and cache.get("until", 0) > now:
        return cache["state"]
    found = SendingState.from_json(
        db.session.scalar(select(Setting.value).where(Setting.key == STATE_KEY))
    )
    cache.update(state=found, until=now + _CACHE_SECONDS)
    return found


def _write(new: SendingState) -> bool:
    """Store `new` (committed); False when another process wrote the first row meanwhile."""
    row = db.session.get(Setting, STATE_KEY)
    if row is None:
        db.session.add(Setting(key=STATE_KEY, value=new.as_json()))
    else:
        row.value = new.as_json()
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    _cache().update(state=new, until=time.monotonic() + _CACHE_SECONDS)
    return True


def _locked() -> SendingState:
    return SendingState.from_json(
        db.session.scalar(select(Setting.value).where(Setting.key == STATE_KEY).with_for_update())
    )


def pause(reason: str, *, kind: str, now: datetime | None = None) -> SendingState:
    """Stop all sending with `reason` (committed). A pause already in force keeps its
    reason and its time; the first cause is the one the operator needs to see."""
    now = now or utcnow()
    current = _locked()
    if current.paused:
        db.session.commit()
        _cache().update(state=current, until=time.monotonic() + _CACHE_SECONDS)
        return current
    minutes = current_app.config["SENDING_PROBE_MINUTES"]
    new = SendingState(
        paused=True,
        reason=reason[:500],
        since=now,
        kind=kind,
        probe_at=now + timedelta(minutes=minutes) if kind == PauseKind.RELAY else None,
        resumed_at=current.resumed_at,
        events_after=current.events_after,
    )
    if not _write(new):  # a pause written by another worker at the same moment: it stands
        return pause(reason, kind=kind, now=now)
    log.warning("sending paused: %s", reason, extra={"kind": kind})
    return new


def resume(*, now: datetime | None = None, by: str = "operator") -> SendingState:
    """Sending goes on (committed); the clock queues what waited at its next tick."""
    now = now or utcnow()
    current = _locked()
    last_event = db.session.scalar(select(func.max(MailEvent.id))) or 0
    new = SendingState(resumed_at=now, events_after=last_event)
    if not _write(new):
        return resume(now=now, by=by)
    if current.paused:
        log.warning("sending resumed by %s", by, extra={"paused_for": current.reason})
        _spread_held(now)
    return new


def _spread_held(now: datetime) -> None:
    """Held readers whose time came during the pause come back one by one, RESUME_SPREAD
    apart and all within RESUME_WITHIN, rather than together at the first tick (committed)."""
    held = db.session.scalars(
        select(Delivery.id)
        .where(
            Delivery.status == DeliveryStatus.SCHEDULED,
            Delivery.due_at <= now,
            Delivery.last_error.contains(HELD_NOTE, autoescape=True),
        )
        .order_by(Delivery.due_at, Delivery.id)
    ).all()
    if held:
        step = min(RESUME_SPREAD, RESUME_WITHIN / len(held))
        spread = [{"id": i, "due_at": now + step * k} for k, i in enumerate(held)]
        db.session.execute(update(Delivery), spread)
        db.session.commit()


def probe_due(current: SendingState, now: datetime) -> bool:
    """Whether a paused relay may be tried with one delivery at `now`."""
    return (
        current.paused
        and current.kind == PauseKind.RELAY
        and current_app.config["SENDING_PROBE_MINUTES"] > 0
        and (current.probe_at is None or now >= current.probe_at)
    )


def probe_sent(now: datetime) -> None:
    """A probe is on its way: the next one waits SENDING_PROBE_MINUTES (committed)."""
    current = _locked()
    if current.paused:
        minutes = current_app.config["SENDING_PROBE_MINUTES"]
        _write(replace(current, probe_at=now + timedelta(minutes=minutes)))
    else:
        db.session.commit()


def record_event(kind: str, now: datetime) -> None:
    """Count a complaint or a hard bounce for the guard, in the caller's transaction."""
    db.session.add(MailEvent(kind=kind, at=now))


def record_reader_event(kind: EventKind, now: datetime, *, confirmed: bool) -> None:
    """A hard bounce or a complaint, in the caller's transaction: for the guard if someone
    confirmed the address, else in the bounded count of confirmation requests gone wrong."""
    if confirmed:
        record_event(kind, now)
        return
    pending = tuple(_UNCONFIRMED.values())
    db.session.execute(
        delete(MailEvent).where(MailEvent.kind.in_(pending), MailEvent.at < now - PENDING_KEPT)
    )
    record_event(_UNCONFIRMED[kind], now)


def pending_bounces(now: datetime) -> int:
    """Confirmation requests bounced or marked as spam in the last PENDING_WINDOW (the
    dashboard's alert)."""
    pending = tuple(_UNCONFIRMED.values())
    return db.session.scalar(
        select(func.count())
        .select_from(MailEvent)
        .where(MailEvent.kind.in_(pending), MailEvent.at > now - PENDING_WINDOW)
    )


@dataclass(frozen=True)
class Guard:
    """The reputation guard's lines, from the settings."""

    complaint_percent: float
    bounce_percent: float
    window: timedelta
    min_sent: int

    @classmethod
    def from_config(cls, cfg: Mapping) -> Guard:
        return cls(
            complaint_percent=cfg["REPUTATION_COMPLAINT_PERCENT"],
            bounce_percent=cfg["REPUTATION_BOUNCE_PERCENT"],
            window=timedelta(hours=cfg["REPUTATION_WINDOW_HOURS"]),
            min_sent=cfg["REPUTATION_MIN_SENT"],
        )


def judge(sent: int, complaints: int, hard_bounces: int, guard: Guard) -> str | None:
    """Why sending must pause, or None: a rate at or over its line, once `sent` reaches
    the minimum volume (a handful of emails says nothing about a reputation)."""
    if sent < max(1, guard.min_sent):
        return None
    complaint_rate = 100.0 * complaints / sent
    bounce_rate = 100.0 * hard_bounces / sent
    hours = guard.window.total_seconds() / 3600
    if complaint_rate >= guard.complaint_percent:
        return (
            f"complaint rate {complaint_rate:.2f} % ({complaints} of {sent} sent in "
            f"{hours:g} h) is at or over {guard.complaint_percent:g} %"
        )
    if bounce_rate >= guard.bounce_percent:
        return (
            f"hard bounce rate {bounce_rate:.2f} % ({hard_bounces} of {sent} sent in "
            f"{hours:g} h) is at or over {guard.bounce_percent:g} %"
        )
    return None


def check_reputation(now: datetime) -> str | None:
    """Count the window and pause sending if a rate is over its line; the reason, or None.

    The window starts no earlier than the last resume, so a resumed list is judged on
    what it does from then on.
    """
    current = state(fresh=True)
    if current.paused:
        return None
    guard = Guard.from_config(current_app.config)
    start = now - guard.window
    if current.resumed_at and current.resumed_at > start:
        start = current.resumed_at
    # Only emails to readers someone confirmed, as with the complaints and bounces counted
    # against them: requests to confirm that strangers set off would dilute the rates.
    sent = db.session.scalar(
        select(func.count())
        .select_from(Delivery)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(
            Delivery.status == DeliveryStatus.SENT,
            Delivery.sent_at > start,
            or_(
                Subscriber.confirmed_at.is_not(None),
                Subscriber.status.in_((Status.ACTIVE, Status.UNSUBSCRIBED)),
            ),
        )
    )
    events = dict(
        db.session.execute(
            select(MailEvent.kind, func.count())
            .where(MailEvent.at > start, MailEvent.id > current.events_after)
            .group_by(MailEvent.kind)
        ).all()
    )
    reason = judge(
        sent or 0, events.get(EventKind.COMPLAINT, 0), events.get(EventKind.HARD_BOUNCE, 0), guard
    )
    if reason:
        pause(reason, kind=PauseKind.REPUTATION, now=now)
    return reason
