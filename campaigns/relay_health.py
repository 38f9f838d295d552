"""Whether the SMTP relay is failing: seen by `/healthz`, `/metrics`, the dashboard and
`sending status`.

One failed connection (or a relay that refuses us) marks it failing, with the kind of
failure, the relay's words and since when; the next email that goes through marks it ok.
Nothing is held back because of it: sending goes on trying. The mark is a row of the
settings table that exists only while the relay fails, so inserting it and deleting it
are each done by one process only: one WARNING line when it starts failing, one INFO line
when it recovers, whichever worker sees it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from models import Setting, db

log = logging.getLogger("tend.relay")
KEY = "relay.failing"


@dataclass(frozen=True)
class RelayHealth:
    failing: bool = False
    since: datetime | None = None
    kind: str = ""  # connect | tls | auth | timeout | refused
    reason: str = ""  # the relay's words: for the operator (dashboard, CLI), never /healthz


def current() -> RelayHealth:
    """The relay as the last send left it."""
    value = db.session.scalar(select(Setting.value).where(Setting.key == KEY))
    if not value:
        return RelayHealth()
    found = json.loads(value)
    return RelayHealth(
        failing=True,
        since=datetime.fromisoformat(found["since"]),
        kind=found["kind"],
        reason=found["reason"],
    )


def failing(kind: str, reason: str, now: datetime) -> bool:
    """Mark the relay failing (committed); True if it was not already."""
    value = json.dumps({"since": now.isoformat(), "kind": str(kind), "reason": reason[:500]})
    db.session.add(Setting(key=KEY, value=value))
    try:
        db.session.commit()
    except IntegrityError:  # failing already: the first failure keeps its time
        db.session.rollback()
        return False
    log.warning("SMTP relay failing (%s): %s", kind, reason[:500], extra={"kind": str(kind)})
    return True


def ok(now: datetime) -> bool:
    """An email went through: the relay works (committed); True if it was failing."""
    was = current()
    if not was.failing:
        db.session.commit()
        return False
    gone = db.session.execute(delete(Setting).where(Setting.key == KEY)).rowcount
    db.session.commit()
    if gone:
        seconds = (now - was.since).total_seconds() if was.since else 0.0
        log.info(
            "SMTP relay ok again after %.0f s (%s)",
            max(seconds, 0.0),
            was.kind,
            extra={"kind": was.kind},
        )
    return bool(gone)
