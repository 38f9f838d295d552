"""`/api/admin/activity`: the audit log, newest first (`studio.audit`)."""

from __future__ import annotations

import json

from sqlalchemy import select

from admin.api.framework import answer, route
from admin.api.schemas import INT32, listing
from models import AuditEvent, Subscriber, db
from studio import audit
from studio.errors import NotFound
from subscribers.lifecycle import find_by_public_id

LIMIT = {"type": "integer", "minimum": 1, "maximum": 1000, "default": 200}
OFFSET = {"type": "integer", "minimum": 0, "maximum": 1_000_000_000, "default": 0}
SUBSCRIBER = {"type": "string", "maxLength": 32, "description": "a reader's public_id"}
assert LIMIT["maximum"] < INT32 and OFFSET["maximum"] < INT32


def _detail(text: str) -> dict:
    try:
        found = json.loads(text) if text else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {"value": found}


def event(row: AuditEvent, public_ids: dict[int, str]) -> dict:
    return {
        "at": row.at,
        "actor": row.actor,
        "action": row.action,
        "summary": row.summary,
        "subscriber": public_ids.get(row.subscriber_id) if row.subscriber_id else None,
        "detail": _detail(row.detail),
    }


@route(
    "GET",
    "/activity",
    "The audit log, newest first; `offset` skips that many of the newest (the next page)",
    {200: listing("Event"), 404: "Errors"},
    query={"limit": LIMIT, "offset": OFFSET, "subscriber": SUBSCRIBER},
    tag="activity",
)
def activity(query: dict):
    one = None
    if "subscriber" in query:
        one = find_by_public_id(query["subscriber"])
        if one is None:
            raise NotFound("There is no reader with this public_id.")
    rows = audit.recent(
        limit=query.get("limit", LIMIT["default"]),
        offset=query.get("offset", OFFSET["default"]),
        subscriber=one,
    )
    ids = {row.subscriber_id for row in rows if row.subscriber_id}
    query_ids = select(Subscriber.id, Subscriber.public_id).where(Subscriber.id.in_(ids))
    public_ids = {i: p for i, p in db.session.execute(query_ids)} if ids else {}
    return answer([event(row, public_ids) for row in rows])
