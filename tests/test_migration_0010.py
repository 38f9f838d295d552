"""Migration 0010 on a database written by the code before it: the start date, ISO text
until now, becomes a Date with every value kept, and called_name is added (empty); the
downgrade gives back the same text.

A database of its own (SQLite file or PostgreSQL database), migrated to 0009, filled as
that code filled it, then upgraded, read by the new code, and downgraded.
"""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from support import ROOT, empty_database, env_for

from app import create_app
from models import Subscriber, db

MIGRATIONS = str(ROOT / "migrations")
DAYS = {1: "2027-03-01", 2: "2026-02-28", 3: None}


@pytest.fixture
def old_database(tmp_path):
    with empty_database(tmp_path) as url:
        yield url


def test_the_start_date_becomes_a_date_with_every_value_kept(old_database, redis_url):
    app = create_app(env_for(old_database, redis_url))
    engine = sa.create_engine(old_database)
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision="0009")
        with engine.begin() as conn:
            for sid, day in DAYS.items():
                conn.execute(
                    sa.text(
                        "INSERT INTO subscribers (id, public_id, email, email_key, name, status, "
                        "timezone, job_status, started_job_on, soft_bounces, confirm_requests, "
                        "created_at, updated_at) VALUES (:id, :pid, :e, :e, 'Reader', 'active', "
                        "'UTC', :js, :day, 0, 0, '2026-10-01 10:00:00', '2026-10-01 10:00:00')"
                    ),
                    {
                        "id": sid,
                        "pid": f"p{sid}",
                        "e": f"r{sid}@example.com",
                        "js": "started" if day else "unknown",
                        "day": day,
                    },
                )
        upgrade(directory=MIGRATIONS)
        read = {
            s.id: (s.started_job_on, s.called_name)
            for s in db.session.scalars(sa.select(Subscriber))
        }
        assert read == {1: (date(2027, 3, 1), None), 2: (date(2026, 2, 28), None), 3: (None, None)}
        # The new code writes and finds by a date.
        found = db.session.scalars(
            sa.select(Subscriber.id).where(Subscriber.started_job_on < date(2027, 1, 1))
        ).all()
        assert found == [2]
        db.session.remove()
        downgrade(directory=MIGRATIONS, revision="0009")
        db.engine.dispose()
    with engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("subscribers")}
        back = dict(conn.execute(sa.text("SELECT id, started_job_on FROM subscribers")).all())
    assert "called_name" not in columns
    assert back == DAYS
    engine.dispose()
