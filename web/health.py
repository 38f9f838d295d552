"""`/healthz`: 200 when the database takes reads and writes and Redis answers, 503 otherwise.

A database that answers reads but refuses writes (a replica, a read-only file, a database
its operator set read-only) turns it 503 too, with `checks.database_writes: "read-only"`:
signups could not be stored.

It also reports the queue depth and how long the oldest overdue delivery has waited,
which tells an operator the clock or the workers are behind; neither turns it 503.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Flask, current_app, jsonify
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from campaigns import sending
from models import Delivery, DeliveryStatus, Setting, db, utcnow

bp = Blueprint("health", __name__)


def oldest_overdue(now: datetime) -> datetime | None:
    """The due time of the oldest delivery that should have left by `now` and has not."""
    # Two slices, each read through its own partial index: waiting rows and in-flight rows.
    scheduled = db.session.scalar(
        select(func.min(Delivery.due_at)).where(
            Delivery.status == DeliveryStatus.SCHEDULED, Delivery.due_at <= now
        )
    )
    in_flight = db.session.scalar(
        select(func.min(Delivery.due_at)).where(
            Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING)),
            Delivery.due_at <= now,
        )
    )
    found = [t for t in (scheduled, in_flight) if t is not None]
    return min(found) if found else None


def overdue_seconds(now: datetime) -> float:
    """Seconds the oldest overdue delivery has waited (0 when nothing is late)."""
    oldest = oldest_overdue(now)
    return max(0.0, (now - oldest).total_seconds()) if oldest else 0.0


PROBE_KEY = "healthz.write-probe"  # no such row is ever stored: the probe matches nothing
SQLITE_READONLY = 8  # the primary result code; extended codes keep it in the low byte
PG_READ_ONLY_SQL_TRANSACTION = "25006"


def read_only(err: DBAPIError) -> bool:
    """Whether the driver said the database refuses writes (not that it is down)."""
    orig = err.orig
    if getattr(orig, "sqlstate", None) == PG_READ_ONLY_SQL_TRANSACTION:
        return True
    return (getattr(orig, "sqlite_errorcode", 0) or 0) & 0xFF == SQLITE_READONLY


def database_writes() -> str:
    """Whether the database takes a write: "ok", "read-only" (it refuses writes), or
    "down: <error>".

    The write is an UPDATE of a settings row in a transaction that is rolled back: both
    databases refuse it when read-only, whether or not a row matches, and it changes nothing.
    """
    try:
        db.session.execute(
            update(Setting).where(Setting.key == PROBE_KEY).values(value=Setting.value)
        )
        return "ok"
    except DBAPIError as err:
        return "read-only" if read_only(err) else f"down: {type(err).__name__}"
    except Exception as err:
        return f"down: {type(err).__name__}"
    finally:
        db.session.rollback()


@bp.get("/healthz")
def healthz():
    checks: dict[str, object] = {}
    now = utcnow()
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
        checks["oldest_overdue_seconds"] = round(overdue_seconds(now), 1)
    except Exception as err:
        db.session.rollback()
        checks["database"] = f"down: {type(err).__name__}"
    ok = checks["database"] == "ok"
    checks["database_writes"] = database_writes() if ok else checks["database"]
    try:
        conveyor = current_app.extensions["tend.conveyor"]
        conveyor.ping()
        checks["redis"] = "ok"
        checks["queue_depth"] = conveyor.depth()
    except Exception as err:
        checks["redis"] = f"down: {type(err).__name__}"
    healthy = ok and checks["database_writes"] == "ok" and checks["redis"] == "ok"
    # A pause is reported, never a 503: signups go on while sending waits.
    body = {"status": "ok" if healthy else "unavailable", "checks": checks, **_sending()}
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if healthy else 503


def _sending() -> dict:
    """`sending`: "ok" or "paused", with the reason and since when ("unknown" without a
    database to ask)."""
    try:
        current = sending.state()
    except Exception:
        db.session.rollback()
        return {"sending": "unknown"}
    if not current.paused:
        return {"sending": "ok"}
    since = current.since.isoformat() if current.since else None
    return {"sending": "paused", "sending_reason": current.reason, "sending_since": since}


def init_app(app: Flask) -> None:
    """Register `/healthz`."""
    app.register_blueprint(bp)
