"""Migration 0008 on a database written by the code before it: every reader who left has
their consent ended, with why (a complaint found by the suppression list's hash), and an
address that never confirmed keeps the count of the confirmation emails it already got.

A database of its own (SQLite file or PostgreSQL database), migrated to 0005, filled as
that code filled it, then upgraded; then a signup of each address as the new code sees it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from support import ROOT, empty_database, env_for, work

from app import create_app
from models import db
from signup import service
from subscribers.suppression import suppression_hash

MIGRATIONS = str(ROOT / "migrations")
SIGNED_UP = datetime(2026, 10, 1, 10, 0)  # naive UTC, as the columns hold it
LEFT = datetime(2026, 10, 20, 9, 0)
BOUNCED_AT = datetime(2026, 10, 25, 9, 0)
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


@pytest.fixture
def old_database(tmp_path):
    with empty_database(tmp_path) as url:
        yield url


def _fill_as_before(conn) -> None:
    """What the code before 0008 wrote: status and unsubscribed_at, consents that never end."""

    def subscriber(sid, email, status, *, confirmed=SIGNED_UP, left=None, updated=SIGNED_UP):
        conn.execute(
            sa.text(
                "INSERT INTO subscribers (id, public_id, email, email_key, name, status, "
                "timezone, job_status, confirmed_at, unsubscribed_at, worksheet_sent_at, "
                "soft_bounces, created_at, updated_at) VALUES (:id, :pid, :e, :e, 'Reader', "
                ":s, 'UTC', 'unknown', :c, :u, :made, 0, :made, :upd)"
            ),
            {
                "id": sid,
                "pid": f"p{sid}",
                "e": email,
                "s": status,
                "c": confirmed,
                "u": left,
                "made": SIGNED_UP,
                "upd": updated,
            },
        )
        conn.execute(
            sa.text(
                "INSERT INTO consents (subscriber_id, created_at, form_version, source, "
                "confirmed_at) VALUES (:s, :made, 'v1', 'form', :c)"
            ),
            {"s": sid, "made": SIGNED_UP, "c": confirmed},
        )

    def worksheets(sid, *statuses):
        for i, status in enumerate(statuses):
            conn.execute(
                sa.text(
                    "INSERT INTO deliveries (subscriber_id, step, kind, status, due_at, "
                    "attempts, message_id, created_at, updated_at) VALUES (:s, 'worksheet', "
                    "'worksheet', :st, :due, 1, :mid, :due, :due)"
                ),
                {"s": sid, "st": status, "due": SIGNED_UP, "mid": f"<{sid}.{i}@tend.example>"},
            )

    subscriber(1, "ann@example.com", "active")
    subscriber(2, "bo@example.com", "unsubscribed", left=LEFT)
    subscriber(3, "cy@example.com", "unsubscribed", left=LEFT)  # a complaint
    conn.execute(
        sa.text(
            "INSERT INTO suppressions (email_hash, reason, created_at) "
            "VALUES (:h, 'complaint', :at)"
        ),
        {"h": suppression_hash("cy@example.com"), "at": LEFT},
    )
    subscriber(4, "di@example.com", "bounced", updated=BOUNCED_AT)
    # Ed never confirmed and was sent the confirmation email five times; one more was cancelled.
    subscriber(5, "ed@example.com", "pending", confirmed=None)
    worksheets(5, "sent", "sent", "sent", "sent", "sent", "cancelled")
    subscriber(6, "fay@example.com", "pending", confirmed=None)
    worksheets(6, "sent")


def _state(conn) -> dict:
    rows = conn.execute(
        sa.text(
            "SELECT s.email, s.confirm_requests, c.left_at, c.left_reason FROM subscribers s "
            "JOIN consents c ON c.subscriber_id = s.id"
        ).columns(
            sa.column("email"),
            sa.column("confirm_requests"),
            sa.column("left_at", sa.DateTime),
            sa.column("left_reason"),
        )
    ).all()
    return {e: (n, left, why) for e, n, left, why in rows}


def test_upgrade_ends_the_consents_of_readers_who_left_and_keeps_the_count(
    old_database, redis_url, smtp
):
    env = env_for(old_database, redis_url, SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port)
    app = create_app(env | {"RESEND_MINUTES": "0"})
    engine = sa.create_engine(old_database)
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision="0005")
        with engine.begin() as conn:
            _fill_as_before(conn)
        upgrade(directory=MIGRATIONS)
    with engine.connect() as conn:
        after = _state(conn)
    assert after == {
        "ann@example.com": (0, None, None),
        "bo@example.com": (0, LEFT, "unsubscribe"),
        "cy@example.com": (0, LEFT, "complaint"),
        "di@example.com": (0, BOUNCED_AT, "bounce"),
        "ed@example.com": (5, None, None),
        "fay@example.com": (1, None, None),
    }

    # As the new code sees them: Ed is owed no more confirmation emails, Fay two more; Bo
    # may ask to come back (still unsubscribed); Cy and Di get nothing.
    for email in ("ed@example.com", "fay@example.com", "bo@example.com", "cy@example.com"):
        for minutes in range(4):
            with app.test_request_context():
                entry = service.Entry("Reader", email, email, "UTC")
                context = service.Context(None, None, None, "test")
                service.subscribe(entry, context, now=NOW + timedelta(minutes=minutes))
                db.session.remove()
    work(app)
    assert smtp.per_recipient() == {"fay@example.com": 2, "bo@example.com": 1}
    with engine.connect() as conn:
        bo = conn.execute(
            sa.text("SELECT status, unsubscribed_at FROM subscribers WHERE id = 2").columns(
                sa.column("status"), sa.column("unsubscribed_at", sa.DateTime)
            )
        ).one()
    assert tuple(bo) == ("unsubscribed", LEFT)

    with app.app_context():
        downgrade(directory=MIGRATIONS, revision="0005")
        db.session.remove()
        db.engine.dispose()
    with engine.connect() as conn:
        consents = {c["name"] for c in sa.inspect(conn).get_columns("consents")}
        subscribers = {c["name"] for c in sa.inspect(conn).get_columns("subscribers")}
        kinds = {k for (k,) in conn.execute(sa.text("SELECT DISTINCT kind FROM deliveries"))}
    assert "left_at" not in consents and "confirm_requests" not in subscribers
    assert kinds == {"worksheet"}  # Bo's request to come back, as the old code knows it
    engine.dispose()
