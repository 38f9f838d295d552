"""Migration 0004 on a database written by the code before it: readers anchored on their
confirmation lose the anchor, their unsent after-hire notes are held, nothing is sent.

A database of its own (SQLite file or PostgreSQL database), migrated to 0003, filled as
that code filled it, then upgraded; then the first tick after the upgrade.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from support import ROOT, empty_database, env_for, tick, work

from app import create_app
from models import db

MIGRATIONS = str(ROOT / "migrations")
CONFIRMED = datetime(2026, 10, 1, 10, 0)  # naive UTC, as the columns hold it
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # a Tuesday, eight weeks later


@pytest.fixture
def old_database(tmp_path):
    with empty_database(tmp_path) as url:
        yield url


def _fill_as_before(conn) -> None:
    """What the code before 0004 wrote: every confirmed reader anchored on confirmation."""

    def subscriber(sid, email, status, anchor, started_on=None, confirmed=CONFIRMED):
        conn.execute(
            sa.text(
                "INSERT INTO subscribers (id, public_id, email, email_key, name, status, "
                "timezone, anchor_at, started_job_on, confirmed_at, soft_bounces, created_at, "
                "updated_at) VALUES (:id, :pid, :e, :e, 'Reader', :s, 'UTC', :a, :so, :c, 0, "
                ":made, :made)"
            ),
            {
                "id": sid,
                "pid": f"p{sid}",
                "e": email,
                "s": status,
                "a": anchor,
                "so": started_on,
                "c": confirmed,
                "made": CONFIRMED,
            },
        )

    def delivery(sid, step, status, due, sent=None, job=None):
        conn.execute(
            sa.text(
                "INSERT INTO deliveries (subscriber_id, step, kind, status, due_at, job_id, "
                "attempts, sent_at, message_id, created_at, updated_at) VALUES (:s, :step, "
                ":kind, :st, :due, :job, 0, :sent, :mid, :due, :due)"
            ),
            {
                "s": sid,
                "step": step,
                "kind": "worksheet" if step == "worksheet" else "drip",
                "st": status,
                "due": due,
                "job": job,
                "sent": sent,
                "mid": f"<{sid}.{step}@tend.example>",
            },
        )

    # Ann never gave a date: anchored on her confirmation, month-1 already went out.
    subscriber(1, "ann@example.com", "active", CONFIRMED)
    delivery(1, "worksheet", "sent", CONFIRMED, sent=CONFIRMED)
    delivery(1, "month-1", "sent", datetime(2026, 11, 1, 10), sent=datetime(2026, 11, 2, 9))
    delivery(1, "month-3", "scheduled", datetime(2027, 1, 1, 10))
    delivery(1, "month-6", "queued", datetime(2027, 4, 1, 10), job="old-job")
    # Bo gave a start date: his anchor is that day.
    subscriber(2, "bo@example.com", "active", datetime(2026, 11, 16), started_on="2026-11-16")
    delivery(2, "month-1", "scheduled", datetime(2026, 12, 16))
    # Cy has not confirmed.
    subscriber(3, "cy@example.com", "pending", None, confirmed=None)


def _rows(conn) -> dict:
    subscribers = conn.execute(
        sa.text("SELECT email, job_status, anchor_at, started_job_on FROM subscribers")
    ).all()
    deliveries = conn.execute(
        sa.text(
            "SELECT s.email, d.step, d.kind, d.status, d.job_id FROM deliveries d "
            "JOIN subscribers s ON s.id = d.subscriber_id"
        )
    ).all()
    return {
        # The start date as ISO text: a Date since 0010 on PostgreSQL, text in SQLite.
        "subscribers": {
            e: (j, a is not None, str(so) if so is not None else None)
            for e, j, a, so in subscribers
        },
        "deliveries": {(e, step): (kind, status, job) for e, step, kind, status, job in deliveries},
    }


def test_upgrade_holds_the_notes_of_readers_who_never_gave_a_date(old_database, redis_url, smtp):
    env = env_for(old_database, redis_url, SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port)
    app = create_app(env)
    engine = sa.create_engine(old_database)
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision="0003")
        with engine.begin() as conn:
            _fill_as_before(conn)
        upgrade(directory=MIGRATIONS)
    with engine.connect() as conn:
        after = _rows(conn)
    assert after["subscribers"] == {
        "ann@example.com": ("unknown", False, None),  # no date: no anchor
        "bo@example.com": ("started", True, "2026-11-16"),
        "cy@example.com": ("unknown", False, None),
    }
    assert after["deliveries"] == {
        ("ann@example.com", "worksheet"): ("worksheet", "sent", None),
        ("ann@example.com", "month-1"): ("drip", "sent", None),  # history stays
        ("ann@example.com", "month-3"): ("drip", "held", None),
        ("ann@example.com", "month-6"): ("drip", "held", None),  # taken off the conveyor
        ("bo@example.com", "month-1"): ("drip", "scheduled", None),
    }
    assert smtp.received == []  # nothing is sent at migration time

    # The first tick after the upgrade: Ann's check-ins still ahead of her are written
    # (six weeks after confirming was Nov 12: past; three and six months are ahead), and
    # nothing goes out that day, to anyone.
    result = tick(app, NOW, pretend=True)
    work(app)
    assert smtp.received == [] and result.queued == 0
    with engine.connect() as conn:
        later = _rows(conn)["deliveries"]
    checkins = {step: v for (email, step), v in later.items() if v[0] == "checkin"}
    assert checkins == {
        "checkin-2": ("checkin", "scheduled", None),
        "checkin-3": ("checkin", "scheduled", None),
    }
    assert later[("ann@example.com", "month-3")] == ("drip", "held", None)
    assert all(
        email == "ann@example.com" for (email, step), v in later.items() if v[0] == "checkin"
    )

    # Three months after confirming, Ann is asked; Bo's month-1 went in December; Ann's
    # held month-3 never does.
    for day in (datetime(2026, 12, 16, 15, tzinfo=UTC), datetime(2027, 1, 4, 15, tzinfo=UTC)):
        tick(app, day, pretend=True)
        work(app)
    assert [m["Subject"] for m in smtp.messages_to("ann@example.com")] == [
        "A network is a garden: water it now"
    ]
    assert [m["Subject"] for m in smtp.messages_to("bo@example.com")] == [
        "A month in: who helped you get here?"
    ]

    with app.app_context():
        downgrade(directory=MIGRATIONS, revision="0003")
        db.session.remove()
        db.engine.dispose()
    with engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("subscribers")}
        back = conn.execute(
            sa.text("SELECT d.status FROM deliveries d WHERE d.step = 'month-3'")
        ).scalar()
        kinds = {k for (k,) in conn.execute(sa.text("SELECT DISTINCT kind FROM deliveries"))}
        anchors = conn.execute(
            sa.text("SELECT COUNT(*) FROM subscribers WHERE anchor_at IS NOT NULL")
        ).scalar()
    assert "job_status" not in columns and back == "scheduled" and "checkin" not in kinds
    assert anchors == 2  # anchored on confirmation again, as that code expects
    engine.dispose()
