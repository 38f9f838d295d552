"""`/healthz`: 200 when the database and Redis answer, 503 otherwise.

It also reports the queue depth and how long the oldest overdue delivery has waited,
which tells an operator the clock or the workers are behind; neither turns it 503.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Flask, current_app, jsonify
from sqlalchemy import func, select, text

from campaigns import sending
from models import Delivery, DeliveryStatus, db, utcnow

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
    try:
        conveyor = current_app.extensions["tend.conveyor"]
        conveyor.ping()
        checks["redis"] = "ok"
        checks["queue_depth"] = conveyor.depth()
    except Exception as err:
        checks["redis"] = f"down: {type(err).__name__}"
    healthy = checks["database"] == "ok" and checks["redis"] == "ok"
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
