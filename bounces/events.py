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
from sqlalchemy import select, update

from campaigns.schedule import cancel_open
from models import Status, Subscriber, db
from signup.suppression import Reason, suppress
from signup.validation import clean_email, email_key


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


def _key(address: str) -> str:
    return email_key(clean_email(address) or address.strip())


def _subscriber(key: str) -> Subscriber | None:
    return db.session.scalar(select(Subscriber).where(Subscriber.email_key == key))


def _stop(subscriber: Subscriber | None, status: str, now: datetime) -> None:
    if subscriber is None:
        return
    if status == Status.UNSUBSCRIBED and subscriber.unsubscribed_at is None:
        subscriber.unsubscribed_at = now
    subscriber.status = status
    cancel_open(subscriber)


def apply(events: Iterable[Event], *, now: datetime, provider: str) -> dict[str, int]:
    """Record each event (one transaction for the call) and count them by kind."""
    counts: Counter[str] = Counter()
    limit = current_app.config["SOFT_BOUNCE_LIMIT"]
    for event in events:
        if not event.email or "@" not in event.email:
            counts["ignored"] += 1
            continue
        key = _key(event.email)
        subscriber = _subscriber(key)
        if event.kind == Kind.HARD_BOUNCE:
            _stop(subscriber, Status.BOUNCED, now)
            suppress(key, Reason.BOUNCE, now=now)
        elif event.kind == Kind.COMPLAINT:
            _stop(subscriber, Status.UNSUBSCRIBED, now)
            suppress(key, Reason.COMPLAINT, now=now)
        elif event.kind == Kind.UNSUBSCRIBE:
            if subscriber is not None and subscriber.status in (Status.PENDING, Status.ACTIVE):
                _stop(subscriber, Status.UNSUBSCRIBED, now)
        elif event.kind == Kind.SOFT_BOUNCE and subscriber is not None:
            count = db.session.scalar(
                update(Subscriber)
                .where(Subscriber.id == subscriber.id)
                .values(soft_bounces=Subscriber.soft_bounces + 1)
                .returning(Subscriber.soft_bounces)
                .execution_options(synchronize_session="fetch")
            )
            if count >= limit:
                _stop(subscriber, Status.BOUNCED, now)
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
