"""Driving a test app's queue and clock, and reading its rows back."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from models import db


def work(app) -> None:
    """Drain the queue with a real RQ worker in burst mode."""
    from workers.cli import run_worker

    with app.app_context():
        run_worker(burst=True)


def tick(app, now: datetime, *, pretend: bool = False):
    from workers.dispatcher import tick as dispatch

    with app.app_context():
        try:
            return dispatch(now, pretend=pretend)
        finally:
            db.session.remove()


def add_due_drip_rows(app, count: int, due: datetime) -> None:
    """Bulk-insert `count` active subscribers, each with a month-1 drip email due at `due`."""
    from datetime import timedelta

    from campaigns.schedule import new_message_id
    from models import Delivery, Subscriber

    with app.app_context():
        start = db.session.scalar(sa.select(sa.func.count()).select_from(Subscriber))
        db.session.execute(
            Subscriber.__table__.insert(),
            [
                {
                    "public_id": f"pub{start + i}",
                    "email": f"r{start + i}@example.com",
                    "email_key": f"r{start + i}@example.com",
                    "name": f"Reader {start + i}",
                    "status": "active",
                    "timezone": "UTC",
                    "soft_bounces": 0,
                    "created_at": due,
                    "updated_at": due,
                    "anchor_at": due - timedelta(days=31),
                    "job_status": "started",
                    "started_job_on": (due - timedelta(days=31)).date().isoformat(),
                }
                for i in range(count)
            ],
        )
        ids = db.session.scalars(
            sa.select(Subscriber.id).order_by(Subscriber.id).offset(start)
        ).all()
        db.session.execute(
            Delivery.__table__.insert(),
            [
                {
                    "subscriber_id": sid,
                    "step": "month-1",
                    "kind": "drip",
                    "status": "scheduled",
                    "due_at": due,
                    "attempts": 0,
                    "message_id": new_message_id("tend.example"),
                    "created_at": due,
                    "updated_at": due,
                }
                for sid in ids
            ],
        )
        db.session.commit()
        db.session.remove()


def deliveries_of(app) -> list:
    """Every delivery row, oldest first, detached from the session."""
    from models import Delivery

    with app.app_context():
        rows = db.session.scalars(sa.select(Delivery).order_by(Delivery.id)).all()
        db.session.expunge_all()
        db.session.remove()
        return rows


def subscriber_statuses(app) -> dict[str, int]:
    """How many subscribers are in each status."""
    from models import Subscriber

    with app.app_context():
        rows = db.session.execute(
            sa.select(Subscriber.status, sa.func.count()).group_by(Subscriber.status)
        ).all()
        db.session.remove()
        return dict(rows)


def sending_state(app):
    """The pause state as every process reads it."""
    from campaigns import sending

    with app.app_context():
        try:
            return sending.state(fresh=True)
        finally:
            db.session.remove()
