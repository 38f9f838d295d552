"""What a provider tells us about an address, and what that does to the subscriber.

A hard bounce marks the subscriber bounced; a complaint unsubscribes them. Both suppress
the address and cancel every unsent delivery. Soft bounces are counted and suppress once
they reach SOFT_BOUNCE_LIMIT in a row; a reported delivery resets the count.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import update

from campaigns import sending
from models import Subscriber, db
from subscribers.fields import clean_email
from subscribers.lifecycle import StopReason, email_key, find_by_address, stop
from subscribers.suppression import Reason, suppress


class Kind:
    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    DELIVERED = "delivered"


@dataclass(frozen=True)
class Event:
    """One fact about one address, already authenticated and classified."""

    kind: str
    email: str
    detail: str = ""


@dataclass(frozen=True)
class Once:
    """What makes a call unique (a `web.spent` key) and how long it must be remembered.

    `refusal` is the reason a repeat is refused with (`409`); None when a repeat is the
    provider's own retry of something already recorded, answered `200` and ignored.
    """

    key: str
    until: datetime
    refusal: str | None = None


@dataclass(frozen=True)
class Call:
    """An authenticated webhook call: the events it reports, and its nonce if it has one."""

    events: list[Event] = field(default_factory=list)
    once: Once | None = None


class Refused(Exception):
    """The call is not from the provider (missing or forged signature): nothing changes."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def json_body(body: bytes, shape: type | tuple[type, ...], *, status: int = 400) -> Any:
    """The body parsed as JSON of the expected shape, or Refused(status) naming what is wrong."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError too: bodies that are not UTF-8
        raise Refused(status, "body is not JSON") from None
    if not isinstance(value, shape):
        raise Refused(status, "body is not a JSON " + ("array" if shape is list else "object"))
    return value


_UNIX_SECONDS = re.compile(r"[0-9]{1,11}")  # up to the year 5138


def unix_time(value: object) -> datetime | None:
    """A signed Unix time in seconds (digits, or a JSON integer), or None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value)
    if not _UNIX_SECONDS.fullmatch(text):
        return None
    return datetime.fromtimestamp(int(text), UTC)


def fresh(sent: datetime | None, *, now: datetime, max_age: int) -> bool:
    """Whether a signed time is within `max_age` seconds of now (either side: clocks drift)."""
    return sent is not None and abs((now - sent).total_seconds()) <= max_age


def remembered_until(sent: datetime, max_age: int) -> datetime:
    """How long a nonce signed at `sent` must stay spent: as long as it would be accepted."""
    return sent + timedelta(seconds=max_age + 1)


def _stop(subscriber: Subscriber | None, reason: str, now: datetime) -> None:
    if subscriber is not None:
        stop(subscriber, reason, now=now)


def apply(events: Iterable[Event], *, now: datetime, provider: str) -> dict[str, int]:
    """Record each event (one transaction for the call) and count them by kind."""
    counts: Counter[str] = Counter()
    limit = current_app.config["SOFT_BOUNCE_LIMIT"]
    for event in events:
        # An address no signup or import could store is nobody's, and nobody could sign up
        # with it later: there is nothing to stop or suppress.
        address = clean_email(event.email)
        if address is None:
            counts["ignored"] += 1
            continue
        key = email_key(address)
        subscriber = find_by_address(address)
        if event.kind == Kind.HARD_BOUNCE:
            _stop(subscriber, StopReason.BOUNCE, now)
            suppress(key, Reason.BOUNCE, now=now)
            sending.record_event(sending.EventKind.HARD_BOUNCE, now)  # the reputation guard
        elif event.kind == Kind.COMPLAINT:
            _stop(subscriber, StopReason.COMPLAINT, now)
            suppress(key, Reason.COMPLAINT, now=now)
            sending.record_event(sending.EventKind.COMPLAINT, now)
        elif event.kind == Kind.UNSUBSCRIBE:
            _stop(subscriber, StopReason.UNSUBSCRIBE, now)
        elif event.kind == Kind.SOFT_BOUNCE and subscriber is not None:
            count = db.session.scalar(
                update(Subscriber)
                .where(Subscriber.id == subscriber.id)
                .values(soft_bounces=Subscriber.soft_bounces + 1)
                .returning(Subscriber.soft_bounces)
                .execution_options(synchronize_session="fetch")
            )
            if count >= limit:
                _stop(subscriber, StopReason.BOUNCE, now)
                suppress(key, Reason.SOFT_BOUNCES, now=now)
        elif event.kind == Kind.DELIVERED and subscriber is not None:
            subscriber.soft_bounces = 0
        counts[event.kind] += 1
        current_app.logger.info(
            "webhook event",
            extra={
                "provider": provider,
                "event": event.kind,
                "known": subscriber is not None,
                "detail": event.detail[:200],
            },
        )
    db.session.commit()
    return dict(counts)
