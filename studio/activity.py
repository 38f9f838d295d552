"""The audit log as the coach reads it: each event with who did it, in words, and the reader
it was about (None: about no reader, or one deleted since)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from models import AuditEvent, Subscriber, db
from studio import audit

# Who acts, by the first part of an event's actor (`studio.audit.Actor`).
_VIA = {"dashboard": "Dashboard", "api": "Admin API", "cli": "Command line"}


@dataclass(frozen=True)
class Entry:
    at: datetime
    who: str
    action: str
    summary: str
    reader: Subscriber | None


def who(actor: str) -> str:
    """`dashboard:1a2b3c4d` as "Dashboard (session 1a2b3c4d)", `api` as "Admin API"."""
    via, _, session = actor.partition(":")
    name = _VIA.get(via, via)
    return f"{name} (session {session})" if session else name


def recent(
    *, limit: int = 200, offset: int = 0, subscriber: Subscriber | None = None
) -> list[Entry]:
    """The newest events first, all of them or one reader's, each with its reader."""
    events = audit.recent(limit=limit, offset=offset, subscriber=subscriber)
    ids = {e.subscriber_id for e in events if e.subscriber_id is not None}
    readers = (
        {s.id: s for s in db.session.scalars(select(Subscriber).where(Subscriber.id.in_(ids)))}
        if ids
        else {}
    )
    return [
        Entry(e.at, who(e.actor), e.action, e.summary, readers.get(e.subscriber_id)) for e in events
    ]


def count() -> int:
    """How many events the log holds."""
    return db.session.scalar(select(db.func.count()).select_from(AuditEvent)) or 0
