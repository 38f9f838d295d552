"""Sending that protects the sender: the pause and its faces, the probe, the run of refused
readers, the guard, MAIL_RATE, SMTP_CONNECTIONS with PIPELINING, DKIM and the envelope."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import dkim
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import (
    ADMIN_PASSWORD,
    add_due_drip_rows,
    admin_client,
    answer,
    cli_env_of,
    csrf_from,
    deliveries_of,
    flask_cli,
    login,
    sending_state,
    signup,
    subscriber_statuses,
    tick,
    work,
)

import settings
from campaigns import sending
from models import DeliveryStatus, Status, db, utcnow
from web.redis_edge import Edge
from workers.jobs import send_batch
from workers.rate import Limit, MailRate, parse_rate

DUE = datetime(2027, 3, 10, 12, 0, tzinfo=UTC)


def test_sending_status_pause_and_resume_from_the_command_line(app, smtp):
    env = cli_env_of(app)
    done = flask_cli(env, "sending", "status")
    assert done.returncode == 0 and done.stdout.strip() == "sending: ok"
    done = flask_cli(env, "sending", "pause", "--reason", "moving to a new relay")
    assert done.returncode == 0 and "paused since" in done.stdout
    done = flask_cli(env, "sending", "status")
    assert done.returncode == 3 and "(operator): moving to a new relay" in done.stdout
    signup(app.test_client())
    work(app)  # the worker sends nothing while paused
    assert smtp.received == []
    (row,) = deliveries_of(app)
    assert row.status == DeliveryStatus.SCHEDULED and row.attempts == 0
    assert row.last_error == "sending paused: moving to a new relay"
    later = datetime.now(UTC) + timedelta(hours=2)
    assert tick(app, later).queued == 0  # and the clock queues nothing, not even a probe
    done = flask_cli(env, "sending", "resume")
    assert done.returncode == 0 and "resumed (was paused: moving to a new relay)" in done.stdout
    assert tick(app, later).queued == 1
    work(app)
    assert len(smtp.received) == 1


def test_healthz_metrics_and_the_dashboard_show_a_pause(make_app, smtp):
    token = "scrape-token-of-the-tests-2f9c41"
    app = make_app(ADMIN_PASSWORD=ADMIN_PASSWORD, METRICS_TOKEN=token)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    assert client.get("/healthz").get_json()["sending"] == "ok"
    with app.app_context():
        sending.pause("550 5.7.1 relay says no", kind=sending.PauseKind.RELAY)
        db.session.remove()
    health = client.get("/healthz")
    body = health.get_json()
    assert health.status_code == 200 and body["status"] == "ok"
    assert body["sending"] == "paused" and body["sending_reason"] == "550 5.7.1 relay says no"
    assert datetime.fromisoformat(body["sending_since"]) <= datetime.now(UTC)
    metrics = client.get("/metrics").get_data(as_text=True)
    gauges = {s.name: s.value for f in text_string_to_metric_families(metrics) for s in f.samples}
    assert gauges["tend_sending_paused"] == 1
    operator = admin_client(app)
    login(operator)
    page = operator.get("/admin/").get_data(as_text=True)
    assert "Sending is paused" in page and "550 5.7.1 relay says no" in page
    assert "Resume sending" in page
    # Without the admin's CSRF token the button changes nothing.
    assert operator.post("/admin/sending/resume").status_code == 303
    assert sending_state(app).paused
    operator.post("/admin/sending/resume", data={"csrf_token": csrf_from(page)})
    assert not sending_state(app).paused
    page = operator.get("/admin/").get_data(as_text=True)
    assert "Sending is paused" not in page and "Sending resumed" in page
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "tend_sending_paused 0.0" in metrics


def test_a_probe_resumes_by_itself_once_the_relay_takes_mail(make_app, smtp):
    app = make_app(DRIP_WINDOW="00:00-23:59", SENDING_PROBE_MINUTES="15")
    add_due_drip_rows(app, 6, DUE)
    smtp.reject_rcpt = "554 5.7.1 Relay access denied"
    tick(app, DUE, pretend=True)
    work(app)
    since = sending_state(app).since
    assert sending_state(app).paused
    # Paused at the job's time: the first probe goes 15 minutes later.
    assert tick(app, since + timedelta(minutes=14), pretend=True).queued == 0
    assert tick(app, since + timedelta(minutes=15), pretend=True).probe
    work(app)  # refused again: still paused, nobody bounced
    assert sending_state(app).paused and subscriber_statuses(app) == {Status.ACTIVE: 6}
    assert tick(app, since + timedelta(minutes=20), pretend=True).queued == 0
    smtp.reject_rcpt = ""
    assert tick(app, since + timedelta(minutes=31), pretend=True).probe
    work(app)
    assert len(smtp.received) == 1 and not sending_state(app).paused
    assert tick(app, since + timedelta(minutes=32), pretend=True).queued == 5
    work(app)
    assert sorted(smtp.per_recipient().values()) == [1] * 6


def test_a_run_of_refused_readers_says_the_relay_is_wrong(make_app, smtp):
    app = make_app(DRIP_WINDOW="00:00-23:59", SEND_BATCH_SIZE="8", SMTP_CONNECTIONS="2")
    add_due_drip_rows(app, 8, DUE)
    smtp.reject_rcpt = "550 5.1.1 User unknown"  # a relay that knows none of them
    tick(app, DUE, pretend=True)
    work(app)
    state = sending_state(app)
    assert state.paused and "recipients in a row refused" in state.reason
    assert "550 5.1.1 User unknown" in state.reason
    assert subscriber_statuses(app) == {Status.ACTIVE: 8}
    assert {r.status for r in deliveries_of(app)} == {DeliveryStatus.SCHEDULED}


def test_refused_readers_one_at_a_time_pause_after_five_and_none_bounces(make_app, smtp):
    app = make_app(SMTP_CONNECTIONS="1")  # one lane: the batch after the resume goes in order
    smtp.reject_rcpt = "550 5.1.1 User unknown"  # a relay that knows nobody
    client = app.test_client()
    for i in range(6):
        signup(client, f"u{i}@example.com")
        work(app)  # one worksheet per batch: the run is counted across batches
    state = sending_state(app)
    assert state.paused and "5 recipients refused in a row" in state.reason
    # The relay took nobody's email, so none of its refusals says an address is wrong.
    assert subscriber_statuses(app) == {Status.PENDING: 6}
    rows = deliveries_of(app)
    assert {r.status for r in rows} == {DeliveryStatus.SCHEDULED}
    assert {r.attempts for r in rows} == {0}
    for row in rows[:5]:  # held, with the relay's answer for the operator
        assert row.last_error.startswith("550 5.1.1 User unknown (held, not bounced:")
    assert rows[5].last_error.startswith("sending paused: 5 recipients refused in a row")
    # The operator fixes the relay and resumes: everyone gets their worksheet, once.
    smtp.reject_rcpt = ""
    done = flask_cli(cli_env_of(app), "sending", "resume")
    assert done.returncode == 0, done.stderr
    smtp.reject["typo@example.com"] = "550 5.1.1 No such user"
    signup(client, "typo@example.com")
    work(app)  # the run starts afresh at the resume: one refusal does not pause again
    assert not sending_state(app).paused
    assert tick(app, datetime.now(UTC) + timedelta(minutes=16)).queued == 7
    work(app)
    assert smtp.per_recipient() == {f"u{i}@example.com": 1 for i in range(6)}
    assert subscriber_statuses(app) == {Status.PENDING: 7}
    *sent, typo = deliveries_of(app)
    assert {r.status for r in sent} == {DeliveryStatus.SENT}
    # The typo went last: nothing went through after it, so it is held for now.
    assert typo.status == DeliveryStatus.SCHEDULED and "held, not bounced" in typo.last_error


def test_a_lone_refused_reader_is_held_until_the_relay_takes_someone_else(make_app, smtp):
    app = make_app()
    smtp.reject["gone@example.com"] = "550 5.1.1 No such user"
    client = app.test_client()
    before = datetime.now(UTC)
    signup(client, "gone@example.com")
    work(app)
    (row,) = deliveries_of(app)
    assert row.status == DeliveryStatus.SCHEDULED and row.attempts == 0
    assert row.last_error.startswith("550 5.1.1 No such user (held, not bounced:")
    assert before + timedelta(minutes=15) <= row.due_at <= utcnow() + timedelta(minutes=15)
    # Tried again alone, and refused again: still nobody else's email went through.
    for round in range(1, 6):
        assert tick(app, before + timedelta(minutes=16 * round)).queued == 1
        work(app)
    (row,) = deliveries_of(app)
    assert row.status == DeliveryStatus.SCHEDULED and row.attempts == 0
    assert not sending_state(app).paused  # one reader refused again and again is no run
    assert subscriber_statuses(app) == {Status.PENDING: 1}
    signup(client, "ann@example.com")  # the relay takes someone else's email
    work(app)
    assert tick(app, before + timedelta(minutes=16 * 6)).queued == 1
    work(app)  # ...and refuses this one again: now the address is wrong
    gone = deliveries_of(app)[0]
    assert gone.status == DeliveryStatus.FAILED and gone.attempts == 1
    assert gone.last_error == "550 5.1.1 No such user"
    assert subscriber_statuses(app) == {Status.BOUNCED: 1, Status.PENDING: 1}
    assert smtp.per_recipient() == {"ann@example.com": 1}


def test_a_relay_that_breaks_after_taking_mail_bounces_no_one(make_app, smtp):
    app = make_app()
    client = app.test_client()
    before = datetime.now(UTC)
    signup(client, "first@example.com")
    work(app)  # taken: the relay worked a moment ago
    smtp.reject_rcpt = "550 5.1.1 User unknown"  # ...and now knows nobody
    for name in ("u0", "u1"):
        signup(client, f"{name}@example.com")
        work(app)
    assert tick(app, before + timedelta(minutes=16)).queued == 2
    work(app)  # refused again, and nobody's email went through since: still held
    assert subscriber_statuses(app) == {Status.PENDING: 3}
    assert not sending_state(app).paused  # two different readers are not yet a run
    smtp.reject_rcpt = ""
    assert tick(app, before + timedelta(minutes=32)).queued == 2
    work(app)
    assert smtp.per_recipient() == {f"{n}@example.com": 1 for n in ("first", "u0", "u1")}
    assert subscriber_statuses(app) == {Status.PENDING: 3}


def test_the_run_counts_different_readers_and_ends_when_one_gets_through(make_app, smtp):
    app = make_app()
    client = app.test_client()
    for i in range(9):
        smtp.reject[f"u{i}@example.com"] = "550 5.1.1 No such user"
    before = datetime.now(UTC)
    signup(client, "u0@example.com")
    work(app)
    for round in range(1, 4):  # the same reader, refused four times: one in the run
        tick(app, before + timedelta(minutes=16 * round))
        work(app)
    for i in range(1, 4):
        signup(client, f"u{i}@example.com")
        work(app)
    assert not sending_state(app).paused  # four different readers
    signup(client, "ok@example.com")
    work(app)  # one gets through: the run starts again
    for i in range(4, 8):
        signup(client, f"u{i}@example.com")
        work(app)
    assert not sending_state(app).paused  # four since the one that got through
    signup(client, "u8@example.com")
    work(app)
    state = sending_state(app)
    assert state.paused
    assert state.reason == "5 recipients refused in a row; the last: 550 5.1.1 No such user"
    assert subscriber_statuses(app) == {Status.PENDING: 10}
    assert smtp.per_recipient() == {"ok@example.com": 1}


def test_with_redis_down_a_refusal_bounces_only_if_the_batch_took_mail_after_it(
    make_app, redis_server, smtp
):
    app = make_app(
        REDIS_URL=redis_server.url,
        DRIP_WINDOW="00:00-23:59",
        SEND_BATCH_SIZE="10",
        SMTP_CONNECTIONS="1",
    )
    add_due_drip_rows(app, 3, DUE)
    smtp.reject["r0@example.com"] = "550 5.1.1 No such user"
    smtp.reject["r2@example.com"] = "550 5.1.1 No such user"
    ((job_id, ids),) = tick(app, DUE, pretend=True).batches
    redis_server.stop()  # the job runs on; Redis cannot tell what the relay did before
    with app.app_context():
        counts = send_batch(job_id, ids, now=DUE.isoformat())
        db.session.remove()
    assert counts["sent"] == 1 and counts["failed"] == 1 and counts["held"] == 1
    r0, r1, r2 = deliveries_of(app)
    # r0 was refused, then the relay took r1's email: r0's address is wrong.
    assert r0.status == DeliveryStatus.FAILED and r0.last_error == "550 5.1.1 No such user"
    assert r1.status == DeliveryStatus.SENT
    # Nothing went through after r2 was refused: held, not bounced.
    assert r2.status == DeliveryStatus.SCHEDULED and r2.attempts == 0
    assert r2.last_error.startswith("550 5.1.1 No such user (held, not bounced:")
    assert r2.due_at == DUE + timedelta(minutes=15)
    assert subscriber_statuses(app) == {Status.ACTIVE: 2, Status.BOUNCED: 1}


def test_one_refused_reader_among_good_ones_bounces_alone(make_app, smtp):
    # One connection, so the relay answers in order: r5 to r9 are taken after r4 is refused,
    # the proof that r4's address is wrong. (On parallel connections r4's answer may come
    # last; then it is held and bounces at its retry, once another batch has gone through.)
    app = make_app(DRIP_WINDOW="00:00-23:59", SEND_BATCH_SIZE="10", SMTP_CONNECTIONS="1")
    add_due_drip_rows(app, 10, DUE)
    smtp.reject["r4@example.com"] = "550 5.1.1 No such user"
    tick(app, DUE, pretend=True)
    work(app)
    assert not sending_state(app).paused
    assert subscriber_statuses(app) == {Status.ACTIVE: 9, Status.BOUNCED: 1}
    assert len(smtp.received) == 9


def test_the_guard_judges_rates_over_a_minimum_volume():
    guard = sending.Guard(
        complaint_percent=0.3, bounce_percent=5, window=timedelta(days=7), min_sent=100
    )
    assert sending.judge(99, 5, 50, guard) is None  # too few to say anything
    assert sending.judge(1000, 2, 0, guard) is None  # 0.2 %
    assert sending.judge(1000, 3, 0, guard).startswith("complaint rate 0.30 %")
    assert sending.judge(1000, 0, 49, guard) is None
    assert sending.judge(1000, 0, 50, guard).startswith("hard bounce rate 5.00 %")


def test_hard_bounces_over_the_line_pause_sending(make_app, smtp):
    app = make_app(
        DRIP_WINDOW="00:00-23:59",
        REPUTATION_MIN_SENT="10",
        SEND_BATCH_SIZE="20",
        SMTP_CONNECTIONS="1",  # in order: r2 is refused before the others are taken
    )
    add_due_drip_rows(app, 20, DUE)
    smtp.reject["r2@example.com"] = "550 5.1.1 No such user"
    tick(app, DUE, pretend=True)
    work(app)  # 19 sent, 1 hard bounce: 5.26 %
    result = tick(app, DUE + timedelta(minutes=1), pretend=True)
    assert "hard bounce rate 5.26 %" in result.paused
    assert sending_state(app).kind == sending.PauseKind.REPUTATION


@pytest.mark.parametrize(
    ("text", "limits"),
    [
        ("", ()),
        ("14/second", (Limit(14, 1),)),
        ("14/second;2000/day", (Limit(14, 1), Limit(2000, 86400))),
        (" 100 / minutes ; 5/hour ", (Limit(100, 60), Limit(5, 3600))),
    ],
)
def test_mail_rate_is_parsed(text, limits):
    assert parse_rate(text) == limits


@pytest.mark.parametrize("text", ["14", "14/week", "0/second", "fast", "14/second;x"])
def test_a_bad_mail_rate_stops_the_service_naming_it(text):
    with pytest.raises(settings.ConfigError, match="MAIL_RATE must look like"):
        settings.load({"SECRET_KEY": "x" * 40, "MAIL_RATE": text})


def test_one_rate_is_shared_by_every_worker(redis_url):
    namespace = f"test-rate-{datetime.now(UTC).timestamp()}"
    limits = parse_rate("50/second")
    slots: list[float] = []
    lock = threading.Lock()

    def worker():  # its own edge and client, as another process or host would have
        rate = MailRate.on(Edge(redis_url, namespace), limits)
        for _ in range(20):
            slot = rate.take(DUE)
            with lock:
                slots.append(slot.at)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    slots.sort()
    # Each slot Redis handed out is at least 20 ms (and 3 % headroom) after the one before:
    # no second holds more than 50, whichever worker asked.
    gaps = [round(b - a, 4) for a, b in zip(slots, slots[1:], strict=False)]
    assert len(slots) == 60 and min(gaps) >= 0.0206
    for start in slots:
        assert sum(1 for s in slots if start <= s < start + 1) <= 50


def test_smtp_connections_are_kept_busy_with_one_claim_each(make_app, smtp):
    app = make_app(DRIP_WINDOW="00:00-23:59", SEND_BATCH_SIZE="40", SMTP_CONNECTIONS="4")
    add_due_drip_rows(app, 40, DUE)
    smtp.delay = 0.1
    ((_, ids),) = tick(app, DUE, pretend=True).batches
    assert len(ids) == 40
    work(app)
    assert smtp.most_in_data == 4  # four connections answered at once, never more
    assert sorted(smtp.per_recipient().values()) == [1] * 40
    assert {r.status for r in deliveries_of(app)} == {DeliveryStatus.SENT}
    assert all(smtp.pipelined)  # MAIL, RCPT and DATA in one round trip (PIPELINING)


def dns_for(record: str):
    """A resolver that knows one DKIM record, as `flask dkim keygen` printed it."""
    name = record.split()[0].encode()
    value = "".join(re.findall(r'"([^"]*)"', record)).encode()

    def lookup(query, timeout=5):
        return value if query == name else None

    return lookup


def test_dkim_keygen_then_every_email_is_signed_and_verifies(make_app, app_env, smtp, tmp_path):
    key = tmp_path / "dkim.pem"
    made = flask_cli(
        app_env(FLASK_SKIP_DOTENV="1"), "dkim", "keygen", "--out", str(key), "--selector", "s1"
    )
    assert made.returncode == 0, made.stderr
    record = next(line for line in made.stdout.splitlines() if "_domainkey" in line)
    assert record.startswith("s1._domainkey.tend.example. IN TXT")
    assert "v=DKIM1; k=rsa; p=" in "".join(re.findall(r'"([^"]*)"', record))
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    again = flask_cli(app_env(), "dkim", "keygen", "--out", str(key))
    assert again.returncode != 0 and "exists" in again.stderr  # never overwrites a key
    app = make_app(
        DKIM_SELECTOR="s1",
        DKIM_PRIVATE_KEY_PATH=str(key),
        MAIL_RETURN_PATH="bounces@mail.tend.example",
        DOUBLE_OPT_IN="0",
        DRIP_WINDOW="00:00-23:59",
        DRIP_DAYS="Mon-Sun",
    )
    signup(app.test_client())
    work(app)
    # The reader started today: their month-1 note is the drip email that gets signed.
    answer(app, "ann@example.com", "started", now=utcnow(), started_on=utcnow().date())
    tick(app, datetime.now(UTC) + timedelta(days=32), pretend=True)
    work(app)
    worksheet, drip = smtp.received
    for received in (worksheet, drip):
        assert dkim.verify(received.data, dnsfunc=dns_for(record))
        assert received.mail_from == "bounces@mail.tend.example"  # the envelope sender
        assert received.message["From"] == "Career Notes <coach@tend.example>"
    signature = drip.message["DKIM-Signature"]
    signed = {h.strip().lower() for h in re.search(r"h=([^;]+)", signature)[1].split(":")}
    assert {
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "feedback-id",
    } <= signed
    assert "d=tend.example" in signature and "s=s1" in signature
    assert drip.message["Feedback-ID"] == "month-1:drip:staying-connected:tend.example"
    assert worksheet.message["Feedback-ID"].startswith("worksheet:transactional:")
    # A changed header breaks the signature: the check is real.
    forged = drip.data.replace(b"Subject: A month in", b"Subject: A year in")
    assert not dkim.verify(forged, dnsfunc=dns_for(record))


def test_dkim_settings_go_together_and_name_the_variable(tmp_path):
    base = {"SECRET_KEY": "x" * 40, "FLASK_DEBUG": "1"}
    with pytest.raises(settings.ConfigError, match="DKIM_SELECTOR and DKIM_PRIVATE_KEY_PATH"):
        settings.load(base | {"DKIM_SELECTOR": "s1"})
    with pytest.raises(settings.ConfigError, match="DKIM_PRIVATE_KEY_PATH cannot be read"):
        settings.load(base | {"DKIM_SELECTOR": "s1", "DKIM_PRIVATE_KEY_PATH": "/nope.pem"})
    junk = tmp_path / "junk.pem"
    junk.write_text("hello")
    with pytest.raises(settings.ConfigError, match="not a PEM private key"):
        settings.load(base | {"DKIM_SELECTOR": "s1", "DKIM_PRIVATE_KEY_PATH": str(junk)})
    with pytest.raises(settings.ConfigError, match="MAIL_RETURN_PATH must be a bare address"):
        settings.load(base | {"MAIL_RETURN_PATH": "Bounces <b@x.example>"})
    with pytest.raises(settings.ConfigError, match="SMTP_CONNECTIONS must be from 1 to 64"):
        settings.load(base | {"SMTP_CONNECTIONS": "0"})
    loaded = settings.load(base | {"MAIL_FROM": "Coach <c@Mail.Example>"})
    assert loaded["DKIM_DOMAIN"] == "mail.example" and loaded["SMTP_CONNECTIONS"] == 4


def test_the_worker_rides_out_a_hung_redis(make_app, app_env, redis_server, smtp):
    from support import start_worker, stop, wait_for

    env = app_env(REDIS_URL=redis_server.url)
    app = make_app(REDIS_URL=redis_server.url, RQ_QUEUE=env["RQ_QUEUE"])
    worker = start_worker(env)
    try:
        signup(app.test_client(), "before@example.com")
        assert wait_for(lambda: len(smtp.received) == 1, timeout=30)
        redis_server.hang()
        signup(app.test_client(), "during@example.com")  # stored; its job never got there
        redis_server.unhang()
        assert worker.poll() is None  # the same worker, still running
        tick(app, datetime.now(UTC))  # the dispatcher queues the lost one again
        assert wait_for(lambda: len(smtp.received) == 2, timeout=30)
    finally:
        stop(worker)
    assert sorted(smtp.per_recipient()) == ["before@example.com", "during@example.com"]


def test_the_signup_limit_holds_in_memory_while_redis_hangs(make_app, redis_server, smtp):
    app = make_app(REDIS_URL=redis_server.url, SIGNUP_RATE_LIMIT="3/minute")
    client = app.test_client()
    redis_server.hang()
    try:
        codes = [
            client.post(
                "/api/subscribe", json={"name": "Ann", "email": f"m{i}@example.com"}
            ).status_code
            for i in range(5)
        ]
    finally:
        redis_server.unhang()
    assert codes == [202, 202, 202, 429, 429]  # counted in memory, answered, never hung
