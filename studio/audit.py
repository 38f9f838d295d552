"""The audit log: who did what, when, from the dashboard or the admin API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from models import AuditEvent, Subscriber, db, utcnow


@dataclass(frozen=True)
class Actor:
    """Who acts: `dashboard` (with the admin session's short id), `api` or `cli`."""

    via: str
    session: str = ""

    def __str__(self) -> str:
        return f"{self.via}:{self.session}" if self.session else self.via


CLI = Actor("cli")
API = Actor("api")


def record(
    actor: Actor | str,
    action: str,
    summary: str,
    *,
    subscriber: Subscriber | None = None,
    detail: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """Write one event (the caller commits, with the change it records)."""
    event = AuditEvent(
        at=now or utcnow(),
        actor=str(actor)[:64],
        action=action[:64],
        subscriber_id=subscriber.id if subscriber is not None else None,
        summary=summary,
        detail=json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, default=str),
    )
    db.session.add(event)
    return event


def recent(
    *, limit: int = 200, offset: int = 0, subscriber: Subscriber | None = None
) -> list[AuditEvent]:
    """The newest events first, all of them or one reader's, skipping the newest `offset`."""
    query = (
        select(AuditEvent)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if subscriber is not None:
        query = query.where(AuditEvent.subscriber_id == subscriber.id)
    return list(db.session.scalars(query))
