"""What a provider tells us about an address, and what that does to the subscriber.

A hard bounce marks the subscriber bounced; a complaint unsubscribes them. Both suppress
the address and cancel every unsent delivery. Soft bounces are counted and suppress once
they reach SOFT_BOUNCE_LIMIT in a row; a reported delivery resets the count.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import update

from campaigns import sending
from models import Subscriber, db
from signup.validation import clean_email
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
    except ValueError:
        raise Refused(status, "body is not JSON") from None
    if not isinstance(value, shape):
        raise Refused(status, "body is not a JSON " + ("array" if shape is list else "object"))
    return value


def _stop(subscriber: Subscriber | None, reason: str, now: datetime) -> None:
    if subscriber is not None:
        stop(subscriber, reason, now=now)


def apply(events: Iterable[Event], *, now: datetime, provider: str) -> dict[str, int]:
    """Record each event (one transaction for the call) and count them by kind."""
    counts: Counter[str] = Counter()
    limit = current_app.config["SOFT_BOUNCE_LIMIT"]
    for event in events:
        if not event.email or "@" not in event.email:
            counts["ignored"] += 1
            continue
        address = clean_email(event.email) or event.email.strip()
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
