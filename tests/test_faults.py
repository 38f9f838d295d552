"""Faults, with real processes: killed workers, flushed or stopped Redis, SMTP and database down.

Each scenario records its figures (in / sent / lost / duplicated) for RELIABILITY.md.
"""

from __future__ import annotations

import json
import signal
import threading
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
import redis
import sqlalchemy as sa
from flask_migrate import upgrade
from support import add_due_drip_rows, signup, start_worker, stop, tick, wait_for, work
from werkzeug.serving import make_server

from campaigns import sending
from models import Delivery, DeliveryStatus, Subscriber, db, utcnow

pytestmark = pytest.mark.slow
DUE = datetime(2027, 2, 15, 12, 0, tzinfo=UTC)


def statuses(app) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(Delivery.status, sa.func.count()).group_by(Delivery.status)
        ).all()
        db.session.remove()
        return dict(rows)


def test_worker_killed_mid_batch_loses_nothing(make_app, app_env, smtp, reliability):
    env = app_env(SEND_BATCH_SIZE="40", SEND_LEASE_SECONDS="60", DRIP_WINDOW="00:00-23:59")
    app = make_app(**env)
    add_due_drip_rows(app, 40, DUE)
    assert tick(app, DUE).queued == 40
    smtp.delay = 0.05
    worker = start_worker(env)
    try:
        assert wait_for(lambda: len(smtp.received) >= 10, timeout=60), (
            worker.stderr.read1().decode()
        )
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        stop(worker)
    smtp.delay = 0.0
    before = statuses(app)
    assert (
        before.get(DeliveryStatus.SENDING, 0) > 0
    )  # the rest of the batch was held by the dead worker
    assert tick(app, utcnow()).reclaimed == 0  # the dead worker's lease is not over yet
    later = utcnow() + timedelta(seconds=61)
    result = tick(app, later)
    assert result.reclaimed == before[DeliveryStatus.SENDING]
    work(app)
    expected = [f"r{i}@example.com" for i in range(40)]
    figures = reliability("worker SIGKILL mid-batch", smtp.per_recipient(), expected)
    assert figures["lost"] == 0 and figures["duplicated"] <= 1
    assert statuses(app) == {DeliveryStatus.SENT: 40}


def test_flushall_with_1000_queued_loses_nothing(make_app, smtp, redis_server, reliability):
    app = make_app(REDIS_URL=redis_server.url)  # a Redis of its own: FLUSHALL empties it all
    add_due_drip_rows(app, 1000, DUE)
    assert tick(app, DUE).queued == 1000
    redis.Redis.from_url(redis_server.url).flushall()
    result = tick(app, DUE + timedelta(minutes=1))
    assert result.reclaimed == 1000
    work(app)
    assert tick(app, DUE + timedelta(minutes=2)).queued == 0
    expected = [f"r{i}@example.com" for i in range(1000)]
    figures = reliability("Redis FLUSHALL with 1,000 queued", smtp.per_recipient(), expected)
    assert figures["lost"] == 0 and figures["duplicated"] == 0


def test_redis_stopped_during_signups(make_app, redis_server, smtp, reliability):
    app = make_app(REDIS_URL=redis_server.url)
    client = app.test_client()
    emails = [f"s{i}@example.com" for i in range(10)]
    for email in emails[:5]:
        signup(client, email, name="Reader")
    redis_server.stop()
    for email in emails[5:]:
        signup(client, email, name="Reader")  # answered as a success and stored
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) == 10
        db.session.remove()
    redis_server.start()  # a Redis that kept nothing: even the first five jobs are gone
    result = tick(app, utcnow())
    assert result.reclaimed == 10
    work(app)
    figures = reliability("Redis stopped during signups", smtp.per_recipient(), emails)
    assert figures["lost"] == 0 and figures["duplicated"] == 0


def test_smtp_down_for_a_while(app, smtp, reliability):
    smtp.stop()
    client = app.test_client()
    emails = [f"m{i}@example.com" for i in range(10)]
    for email in emails:
        signup(client, email, name="Reader")
    now = utcnow()
    for hours in range(4):  # hours of ticks with the server still down
        if hours:
            tick(app, now + timedelta(hours=hours * 7))
        work(app)
        assert DeliveryStatus.FAILED not in statuses(app)
    with app.app_context():
        most = db.session.scalar(sa.select(sa.func.max(Delivery.attempts)))
        assert 1 <= most < app.config["MAX_SEND_ATTEMPTS"]
        # Connections that kept failing paused sending: no attempts burnt while it was down.
        assert sending.state(fresh=True).paused
        db.session.remove()
    smtp.start()
    assert tick(app, now + timedelta(days=1)).probe  # one email tries the server again...
    work(app)
    assert len(smtp.received) == 1
    assert tick(app, now + timedelta(days=1, minutes=1)).queued == 9  # ...and it resumed
    work(app)
    figures = reliability("SMTP server down, then back", smtp.per_recipient(), emails)
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    assert statuses(app) == {DeliveryStatus.SENT: 10}


def test_database_failure_mid_signup_leaves_nothing_half_written(app, client):
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.execute(
                sa.text(
                    "CREATE FUNCTION tend_fail() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql"
                )
            )
            db.session.execute(
                sa.text(
                    "CREATE TRIGGER tend_fail BEFORE INSERT ON deliveries FOR EACH ROW EXECUTE FUNCTION tend_fail()"
                )
            )
        else:
            db.session.execute(
                sa.text(
                    "CREATE TRIGGER tend_fail BEFORE INSERT ON deliveries BEGIN SELECT RAISE(ABORT, 'disk full'); END"
                )
            )
        db.session.commit()
    try:
        response = client.post("/api/subscribe", json={"name": "Ann", "email": "ann@example.com"})
        assert response.status_code == 503
        assert (
            response.get_json()["message"]
            == "Something went wrong. Please check your entries and try again."
        )
        with app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) == 0
            db.session.remove()
    finally:
        with app.app_context():
            db.session.execute(
                sa.text(
                    "DROP TRIGGER tend_fail"
                    + (" ON deliveries" if db.engine.dialect.name == "postgresql" else "")
                )
            )
            if db.engine.dialect.name == "postgresql":
                db.session.execute(sa.text("DROP FUNCTION tend_fail()"))
            db.session.commit()


def test_worker_survives_a_database_restart(make_app, app_env, postgres_server, smtp, reliability):
    env = app_env(DATABASE_URL=postgres_server.url)
    app = make_app(DATABASE_URL=postgres_server.url, RQ_QUEUE=env["RQ_QUEUE"])
    with app.app_context():
        upgrade(directory=str(app.root_path + "/migrations"))
        db.session.remove()
    worker = start_worker(env)
    client = app.test_client()
    try:
        signup(client, "before@example.com", name="Reader")
        assert wait_for(lambda: len(smtp.received) == 1, timeout=30)
        postgres_server.stop()
        down = client.post("/api/subscribe", json={"name": "Ann", "email": "during@example.com"})
        assert down.status_code == 503  # the banner, nothing half-written
        postgres_server.start()
        signup(client, "after@example.com", name="Reader")
        assert wait_for(lambda: len(smtp.received) == 2, timeout=30)
        assert worker.poll() is None  # the same worker process, still running
    finally:
        stop(worker)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    figures = reliability(
        "database restart under a running worker",
        smtp.per_recipient(),
        ["before@example.com", "after@example.com"],
    )
    assert figures["lost"] == 0 and figures["duplicated"] == 0


def test_fifty_parallel_signups_of_one_address_over_http(app, smtp, reliability):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/api/subscribe"
    codes: list[int] = []
    barrier = threading.Barrier(50)

    def post():
        body = json.dumps({"name": "Ann", "email": "ann@example.com"}).encode()
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json"}
        )
        barrier.wait()
        with urllib.request.urlopen(request, timeout=30) as response:
            codes.append(response.status)

    try:
        threads = [threading.Thread(target=post) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.shutdown()
    assert codes == [202] * 50
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) == 1
        db.session.remove()
    work(app)
    figures = reliability(
        "50 parallel signups of one address", smtp.per_recipient(), ["ann@example.com"]
    )
    assert figures["lost"] == 0 and figures["duplicated"] == 0
