"""The after-hire drip, travelling in time through `now`: real Redis, a real worker, a real
SMTP server. Each reader here gives a start date; `test_journeys.py` follows readers who
are still looking or never answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time as time_
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
import redis
from dateutil.relativedelta import relativedelta
from sqlalchemy import select
from support import ROOT, add_due_drip_rows, answer, flask_cli, stop, tick, work

from models import Delivery, DeliveryStatus, Subscriber, db, utcnow
from signup import service

T = datetime(2027, 1, 15, 14, 0, tzinfo=UTC)  # a Friday afternoon, in the window in UTC


def join(app, email="ann@example.com", timezone="UTC", *, at=T, started=None):
    """Sign up through the API, confirm at `at`, and say the new job started on `started`
    (the day of `at` unless given): the drip's anchor is midnight of that day, their zone."""
    client = app.test_client()
    response = client.post(
        "/api/subscribe", json={"name": "Ann", "email": email, "timezone": timezone}
    )
    assert response.status_code == 202
    work(app)
    with app.test_request_context():
        sub = db.session.scalar(select(Subscriber).where(Subscriber.email_key == email))
        service.confirm(sub, now=at, ip="127.0.0.1")
        sid = sub.id
    answer(app, email, "started", now=at, started_on=started or at.date())
    return sid


def drip_subjects(smtp, address="ann@example.com"):
    return [
        m["Subject"] for m in smtp.messages_to(address) if "worksheet" not in m["Subject"].lower()
    ]


def rows(app, subscriber_id):
    with app.app_context():
        found = {
            d.step: (d.status, d.due_at)
            for d in db.session.scalars(
                select(Delivery).where(Delivery.subscriber_id == subscriber_id)
            )
        }
        db.session.remove()
        return found


def run(app, now):
    # As `drip tick --now` does: the jobs send at `now` too, so the gap counts from it.
    result = tick(app, now, pretend=True)
    work(app)
    return result


def test_one_subscriber_through_six_months(app, smtp):
    join(app)
    for days in (1, 20, 30):
        run(app, T + timedelta(days=days))
    assert drip_subjects(smtp) == []
    run(app, datetime(2027, 2, 15, 14, 0, tzinfo=UTC))
    assert drip_subjects(smtp) == ["A month in: who helped you get here?"]
    run(app, datetime(2027, 4, 14, 14, 0, tzinfo=UTC))
    assert len(drip_subjects(smtp)) == 1
    run(app, datetime(2027, 4, 15, 14, 0, tzinfo=UTC))
    run(app, datetime(2027, 7, 15, 14, 0, tzinfo=UTC))
    assert drip_subjects(smtp) == [
        "A month in: who helped you get here?",
        "Give before you need",
        "Six months in: tell them how it's going",
    ]
    for later in (T + timedelta(days=200), T + timedelta(days=400)):
        run(app, later)
    assert len(drip_subjects(smtp)) == 3


def test_start_date_moves_unsent_steps_and_never_resends(app, smtp):
    sid = join(app)
    run(app, datetime(2027, 2, 15, 14, 0, tzinfo=UTC))
    assert len(drip_subjects(smtp)) == 1
    answer(
        app, "ann@example.com", "started", now=T + timedelta(days=32), started_on=date(2027, 2, 1)
    )
    due = rows(app, sid)
    assert due["month-1"][0] == DeliveryStatus.SENT
    assert due["month-3"] == (DeliveryStatus.SCHEDULED, datetime(2027, 5, 1, tzinfo=UTC))
    assert due["month-6"] == (DeliveryStatus.SCHEDULED, datetime(2027, 8, 1, tzinfo=UTC))
    run(app, datetime(2027, 4, 15, 14, 0, tzinfo=UTC))  # the old month-3 date: nothing now
    assert len(drip_subjects(smtp)) == 1
    run(app, datetime(2027, 5, 1, 10, 0, tzinfo=UTC))  # due, but a Saturday: it waits
    assert len(drip_subjects(smtp)) == 1
    run(app, datetime(2027, 5, 3, 10, 0, tzinfo=UTC))
    assert drip_subjects(smtp)[-1] == "Give before you need"


def test_start_date_page_moves_the_anchor(app, smtp):
    from campaigns.links import make_token

    sid = join(app)
    with app.app_context():
        public_id = db.session.get(Subscriber, sid).public_id
    path = f"/started/{make_token(app.config['SECRET_KEY'], 'started', public_id)}"
    client = app.test_client()
    page = client.get(path)
    assert page.status_code == 200 and 'type="date"' in page.get_data(as_text=True)
    bad = client.post(path, data={"answer": "started", "started_on": "1999-01-01"})
    assert bad.status_code == 400 and "Please enter a start date between" in bad.get_data(
        as_text=True
    )
    today = datetime.now(UTC).date()
    ok = client.post(path, data={"answer": "started", "started_on": today.isoformat()})
    assert ok.status_code == 200 and "Congratulations" in ok.get_data(as_text=True)
    month_later = today + relativedelta(months=1)
    assert rows(app, sid)["month-1"] == (
        DeliveryStatus.SCHEDULED,
        datetime.combine(month_later, time(0), UTC),
    )


def test_step_whose_new_time_has_passed_goes_out_at_next_tick_with_the_gap(app, smtp):
    sid = join(app, started=date(2026, 12, 10))
    # Month-1 (Jan 10) is five days overdue at T, and nothing else; month-3 is March 10.
    run(app, T)
    assert drip_subjects(smtp) == ["A month in: who helped you get here?"]
    with app.app_context():  # sent at the pretended time, whatever the clock says
        sent = db.session.scalar(
            select(Delivery.sent_at).where(
                Delivery.subscriber_id == sid, Delivery.step == "month-1"
            )
        )
        assert sent == T and db.session.get(Subscriber, sid).last_drip_at == T
        db.session.remove()
    answer(app, "ann@example.com", "started", now=T, started_on=date(2026, 10, 5))
    run(app, T + timedelta(hours=1))  # month-3 (Jan 5) is overdue, but the gap holds it
    assert len(drip_subjects(smtp)) == 1
    assert rows(app, sid)["month-3"] == (DeliveryStatus.SCHEDULED, T + timedelta(days=7))
    run(app, T + timedelta(days=7))
    assert drip_subjects(smtp)[-1] == "Give before you need"


@pytest.mark.parametrize(
    ("zone", "sent_at"),
    [
        ("Asia/Tokyo", datetime(2027, 2, 16, 0, 0, tzinfo=UTC)),  # 09:00 in Tokyo
        ("America/Los_Angeles", datetime(2027, 2, 15, 17, 0, tzinfo=UTC)),  # 09:00 in LA
    ],
)
def test_drip_leaves_in_the_subscribers_morning(app, smtp, zone, sent_at):
    sid = join(app, timezone=zone)
    due = datetime(2027, 2, 15, 14, 0, tzinfo=UTC)  # 23:00 Tokyo, 06:00 LA
    result = run(app, due)
    assert result.queued == 0 and result.deferred == 1
    assert rows(app, sid)["month-1"] == (DeliveryStatus.SCHEDULED, sent_at)
    run(app, sent_at - timedelta(minutes=1))
    assert drip_subjects(smtp) == []
    run(app, sent_at)
    assert drip_subjects(smtp) == ["A month in: who helped you get here?"]


def test_unsubscribed_gets_nothing_more_and_coming_back_continues(make_app, smtp):
    app = make_app()
    sid = join(app)
    run(app, datetime(2027, 2, 15, 14, 0, tzinfo=UTC))
    with app.test_request_context():
        service.unsubscribe(db.session.get(Subscriber, sid), now=datetime(2027, 2, 20, tzinfo=UTC))
    run(app, datetime(2027, 4, 15, 14, 0, tzinfo=UTC))
    assert len(drip_subjects(smtp)) == 1
    # Signing up again needs a new confirmation; then the steps not yet received continue.
    entry = service.Entry("Ann", "ann@example.com", "ann@example.com", "UTC")
    with app.test_request_context():
        service.subscribe(
            entry, service.Context(None, None, None, "test"), now=datetime(2027, 4, 19, tzinfo=UTC)
        )
    work(app)
    assert "/confirm/" in smtp.received[-1].message.get_body(("plain",)).get_content()
    assert rows(app, sid)["month-3"][0] == DeliveryStatus.CANCELLED
    with app.test_request_context():
        service.confirm(
            db.session.get(Subscriber, sid), now=datetime(2027, 4, 20, tzinfo=UTC), ip=None
        )
    run(app, datetime(2027, 4, 20, 14, 0, tzinfo=UTC))
    run(app, datetime(2027, 7, 15, 14, 0, tzinfo=UTC))
    assert drip_subjects(smtp) == [
        "A month in: who helped you get here?",
        "Give before you need",
        "Six months in: tell them how it's going",
    ]


def test_redis_flushall_before_a_tick_loses_nothing(make_app, smtp, redis_server):
    app = make_app(REDIS_URL=redis_server.url)  # a Redis of its own: FLUSHALL empties it all
    join(app)
    tick(app, datetime(2027, 2, 15, 14, 0, tzinfo=UTC))  # queued in Redis...
    redis.Redis.from_url(redis_server.url).flushall()  # ...and gone
    result = run(app, datetime(2027, 2, 15, 14, 1, tzinfo=UTC))
    assert result.reclaimed == 1
    assert drip_subjects(smtp) == ["A month in: who helped you get here?"]


@pytest.mark.slow  # a scale scenario: 1,000 emails claimed by two ticks and sent over SMTP
def test_two_dispatchers_in_parallel_send_each_delivery_once(app, smtp):
    due = datetime(2027, 2, 15, 12, 0, tzinfo=UTC)
    add_due_drip_rows(app, 1000, due)
    results = []
    barrier = threading.Barrier(2)

    def dispatch():
        barrier.wait()
        results.append(tick(app, due + timedelta(minutes=1)))

    threads = [threading.Thread(target=dispatch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [i for r in results for _, ids in r.batches for i in ids]
    assert len(claimed) == 1000 and len(set(claimed)) == 1000
    work(app)
    ids = [m["Message-ID"] for m in (r.message for r in smtp.received)]
    assert len(ids) == 1000 and len(set(ids)) == 1000


def write_sequence(path: Path, steps):
    path.write_text(
        "\n".join(
            f'[[step]]\nkey = "{k}"\noffset = "{o}"\nsubject = "{k} subject"\ntemplate = "drip_month_6"\n'
            for k, o in steps
        )
    )


def test_sync_adds_removes_and_moves_steps(make_app, smtp, tmp_path):
    seq = tmp_path / "sequence.toml"
    write_sequence(seq, [("month-1", "1 month"), ("month-3", "3 months"), ("month-6", "6 months")])
    app = make_app(SEQUENCE_PATH=str(seq))
    sid = join(app)
    run(app, datetime(2027, 2, 15, 14, 0, tzinfo=UTC))  # first tick records the file; month-1 goes
    write_sequence(seq, [("month-1", "2 months"), ("month-6", "7 months"), ("month-9", "9 months")])
    app2 = make_app(SEQUENCE_PATH=str(seq))
    with app2.app_context():
        from campaigns import schedule

        counts = schedule.sync(
            app2.extensions["tend.sequence"], now=datetime(2027, 2, 16, tzinfo=UTC), domain="x"
        )
    assert counts == {"added": 1, "cancelled": 1, "moved": 1}  # month-1 was sent: not moved
    after = rows(app2, sid)
    assert after["month-1"][0] == DeliveryStatus.SENT  # sent: untouched
    assert after["month-3"][0] == DeliveryStatus.CANCELLED
    # Counted from the start date: midnight of January 15 in the reader's zone (UTC).
    assert after["month-6"] == (DeliveryStatus.SCHEDULED, datetime(2027, 8, 15, tzinfo=UTC))
    assert after["month-9"] == (DeliveryStatus.SCHEDULED, datetime(2027, 10, 15, tzinfo=UTC))
    run(app2, datetime(2027, 3, 15, 14, 0, tzinfo=UTC))  # month-1's new date: already sent
    assert len(drip_subjects(smtp)) == 1


def test_drip_tick_command_with_now(app, app_env, smtp):
    join(app)
    env = app_env(RQ_QUEUE=app.config["RQ_QUEUE"])
    out = flask_cli(env, "drip", "tick", "--now", "2027-02-15T14:00:00Z")
    assert out.returncode == 0, out.stderr
    assert "queued 1 in 1 batch(es)" in out.stdout
    bad = flask_cli(env, "drip", "tick", "--now", "next tuesday")
    assert bad.returncode != 0 and "not an ISO-8601 time" in bad.stderr
    work(app)
    assert drip_subjects(smtp) == ["A month in: who helped you get here?"]


def test_the_clock_logs_one_line_per_tick_with_what_it_queued_and_the_lag(make_app, app_env):
    app = make_app(DRIP_WINDOW="00:00-24:00")
    add_due_drip_rows(app, 2, due=utcnow() - timedelta(minutes=3))
    env = app_env(RQ_QUEUE=app.config["RQ_QUEUE"], DRIP_WINDOW="00:00-24:00", LOG_LEVEL="INFO")
    clock = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "drip", "clock", "--interval", "1"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[dict] = []
    try:
        deadline = time_.monotonic() + 60
        while len([x for x in lines if x["message"].startswith("tick:")]) < 2:
            assert time_.monotonic() < deadline, lines
            line = clock.stderr.readline()
            assert line, "the clock stopped"
            lines.append(json.loads(line))
    finally:
        stop(clock)
    ticks = [x for x in lines if x["message"].startswith("tick:")]
    assert all(x["level"] == "info" for x in lines)
    first, second = ticks
    assert (first["queued"], first["deferred"], first["reclaimed"]) == (2, 0, 0)
    assert first["lag_seconds"] >= 180
    assert first["message"].startswith(
        "tick: queued 2 in 1 batch(es), deferred 0, reclaimed 0, lag "
    )
    # An idle tick still says it ran.
    assert (second["queued"], second["lag_seconds"]) == (0, 0.0)
    assert second["message"] == "tick: queued 0 in 0 batch(es), deferred 0, reclaimed 0, lag 0.0 s"
