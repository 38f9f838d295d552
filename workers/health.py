"""`/healthz`: 200 when the database and Redis answer, 503 otherwise."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from models import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    checks: dict[str, object] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as err:
        db.session.rollback()
        checks["database"] = f"down: {type(err).__name__}"
    try:
        conveyor = current_app.extensions["tend.conveyor"]
        conveyor.redis.ping()
        checks["redis"] = "ok"
        checks["queue_depth"] = conveyor.depth()
    except Exception as err:
        checks["redis"] = f"down: {type(err).__name__}"
    healthy = checks["database"] == "ok" and checks["redis"] == "ok"
    return jsonify(
        status="ok" if healthy else "unavailable", checks=checks
    ), 200 if healthy else 503
