"""A failing relay is seen (`/healthz`, `/metrics`, `sending status`, the dashboard, one log
line each way), and what the public `/healthz` says of it and of a pause is a kind, never
an address or the relay's words. Strangers cannot pause sending: bounced confirmation
requests are counted apart, and held readers tried again together are no run."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from support import (
    ADMIN_PASSWORD,
    add_due_drip_rows,
    admin_client,
    cli_env_of,
    deliveries_of,
    flask_cli,
    login,
    sending_state,
    signup,
    subscriber_statuses,
    tick,
    work,
)

from campaigns import gate
from models import DeliveryStatus, MailEvent, Status, db

DUE = datetime(2027, 3, 10, 12, 0, tzinfo=UTC)

METRICS_TOKEN = "scrape-token-of-the-relay-tests"


def healthz(app) -> dict:
    response = app.test_client().get("/healthz")
    assert response.status_code == 200  # a failing relay or a pause never turns it 503
    return response.get_json()


def relay_up(app) -> float:
    scrape = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    text = scrape.get_data(as_text=True)
    samples = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    return samples["tend_relay_up"]


def relay_lines(caplog) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "tend.relay"]


def events(app) -> dict[str, int]:
    with app.app_context():
        found = db.session.execute(
            select(MailEvent.kind, func.count()).group_by(MailEvent.kind)
        ).all()
        db.session.remove()
    return dict(found)


def test_a_stopped_relay_shows_as_failing_until_an_email_goes_through(make_app, smtp, caplog):
    app = make_app(ADMIN_PASSWORD=ADMIN_PASSWORD, METRICS_TOKEN=METRICS_TOKEN)
    client = app.test_client()
    assert healthz(app)["relay"] == "ok" and relay_up(app) == 1
    smtp.stop()
    caplog.set_level(logging.INFO, logger="tend.relay")
    signup(client, "ann@example.com")
    work(app)  # one batch: its connection fails
    body = healthz(app)
    assert body["relay"] == "failing" and body["relay_error_kind"] == "connect"
    assert datetime.fromisoformat(body["relay_since"]) <= datetime.now(UTC)
    assert body["sending"] == "ok"  # one failed connection pauses nothing
    text = json.dumps(body)
    assert "@" not in text and "127.0.0.1" not in text and str(smtp.port) not in text
    assert relay_up(app) == 0
    signup(client, "bob@example.com")
    work(app)  # failing again: still one WARNING line, not one per job
    (line,) = relay_lines(caplog)
    assert line[0] == "WARNING" and line[1].startswith("SMTP relay failing (connect)")
    status = flask_cli(cli_env_of(app), "sending", "status")
    assert status.returncode == 0, status.stderr
    assert "sending: ok" in status.stdout
    assert "relay: failing since" in status.stdout and "(connect)" in status.stdout
    assert f"127.0.0.1:{smtp.port}" in status.stdout  # the operator sees where
    operator = admin_client(app)
    login(operator)
    page = operator.get("/admin/").get_data(as_text=True)
    assert "The mail server is failing (connect)" in page
    assert f"cannot reach SMTP server 127.0.0.1:{smtp.port}" in page
    smtp.start()  # the relay is back: the next email that goes through clears it
    assert tick(app, datetime.now(UTC) + timedelta(minutes=5)).queued == 2
    work(app)
    assert sorted(smtp.per_recipient()) == ["ann@example.com", "bob@example.com"]
    body = healthz(app)
    assert body["relay"] == "ok" and "relay_since" not in body and relay_up(app) == 1
    levels = [level for level, _ in relay_lines(caplog)]
    assert levels == ["WARNING", "INFO"]
    assert relay_lines(caplog)[1][1].startswith("SMTP relay ok again after")
    page = operator.get("/admin/").get_data(as_text=True)
    assert "The mail server is failing" not in page


def test_healthz_names_the_kind_of_pause_never_the_address_a_relay_refused(make_app, smtp):
    app = make_app(ADMIN_PASSWORD=ADMIN_PASSWORD, SMTP_CONNECTIONS="1")
    smtp.reject_rcpt = "550 5.1.1 <refused4@example.net>: Recipient address rejected"
    client = app.test_client()
    for i in range(5):
        signup(client, f"u{i}@example.org")
        work(app)
    assert sending_state(app).paused  # a relay that refuses every new reader pauses
    body = healthz(app)
    assert body["sending"] == "paused" and body["sending_pause"] == "relay"
    assert datetime.fromisoformat(body["sending_since"]) <= datetime.now(UTC)
    assert body["relay"] == "failing" and body["relay_error_kind"] == "refused"
    # The words of every value but the times (a timestamp's digits may read "550").
    text = json.dumps({k: v for k, v in body.items() if not k.endswith("_since")})
    for leak in ("@", "550 ", "5.1.1", "refused4", "example", "Recipient"):
        assert leak not in text, leak
    assert "sending_reason" not in body
    # The operator still reads the relay's words, on the dashboard and in the CLI.
    operator = admin_client(app)
    login(operator)
    page = operator.get("/admin/").get_data(as_text=True)
    assert "Sending is paused" in page and "refused4@example.net" in page
    status = flask_cli(cli_env_of(app), "sending", "status")
    assert status.returncode == 3 and "refused4@example.net" in status.stdout


def test_bounced_confirmation_requests_never_pause_sending_and_are_shown(make_app, smtp):
    # Strangers sign up mailboxes that do not exist, between real readers. The relay takes
    # the real ones, so each stranger's address is proven wrong when it is tried again.
    app = make_app(
        ADMIN_PASSWORD=ADMIN_PASSWORD,
        SMTP_CONNECTIONS="1",
        REPUTATION_MIN_SENT="1",  # the guard judges from the first email on
        REPUTATION_BOUNCE_PERCENT="5",
    )
    client = app.test_client()
    bogus = [f"nobody{i}@example.net" for i in range(6)]
    for address in bogus:
        smtp.reject[address] = "550 5.1.1 No such user"
    before = datetime.now(UTC)
    for i, address in enumerate(bogus):
        signup(client, address)
        signup(client, f"real{i}@example.com")
    work(app)
    assert not sending_state(app).paused
    # The six held strangers come back in one batch, refused together: no run, no pause.
    assert tick(app, before + timedelta(hours=4)).queued == 6
    work(app)
    assert not sending_state(app).paused
    assert subscriber_statuses(app) == {Status.BOUNCED: 6, Status.PENDING: 6}
    # Counted apart from the guard's hard bounces, which a stranger cannot move.
    assert events(app) == {gate.EventKind.PENDING_BOUNCE: 6}
    assert not tick(app, before + timedelta(hours=5)).paused
    assert not sending_state(app).paused
    operator = admin_client(app)
    login(operator)
    page = operator.get("/admin/").get_data(as_text=True)
    assert "6 confirmation emails bounced or were marked as spam in the last 24 hours" in page


def test_a_confirmed_readers_hard_bounces_still_pause_sending(make_app, smtp):
    app = make_app(
        DRIP_WINDOW="00:00-23:59",
        REPUTATION_MIN_SENT="10",
        SEND_BATCH_SIZE="20",
        SMTP_CONNECTIONS="1",
    )
    add_due_drip_rows(app, 20, DUE)  # active readers
    smtp.reject["r2@example.com"] = "550 5.1.1 No such user"
    tick(app, DUE, pretend=True)
    work(app)
    assert events(app) == {gate.EventKind.HARD_BOUNCE: 1}
    assert "hard bounce rate" in tick(app, DUE + timedelta(minutes=1), pretend=True).paused


def test_held_readers_are_retried_after_a_resume_without_pausing_again(make_app, smtp):
    app = make_app(DRIP_WINDOW="00:00-23:59", SEND_BATCH_SIZE="20", SMTP_CONNECTIONS="1")
    add_due_drip_rows(app, 20, DUE)
    smtp.reject_rcpt = "550 5.1.1 User unknown"  # a relay that knows nobody, for a while
    tick(app, DUE, pretend=True)
    work(app)
    state = sending_state(app)
    assert state.paused and "recipients in a row refused" in state.reason
    held = [r for r in deliveries_of(app) if gate.HELD_NOTE in (r.last_error or "")]
    assert len(held) == 5 and {r.attempts for r in held} == {0}
    assert len({r.due_at for r in held}) == 5  # spread out, not due together
    # Two days later the relay is fixed, except for three addresses that are truly wrong.
    smtp.reject_rcpt = ""
    for i in (0, 2, 4):
        smtp.reject[f"r{i}@example.com"] = "550 5.1.1 No such user"
    resumed = DUE + timedelta(days=2)
    with app.app_context():
        gate.resume(now=resumed)
        db.session.remove()
    # The five held readers come back 2 minutes apart from the resume, not all at once.
    assert sorted(r.due_at for r in deliveries_of(app) if gate.HELD_NOTE in r.last_error) == [
        resumed + timedelta(minutes=2 * k) for k in range(5)
    ]
    assert tick(app, resumed, pretend=True).queued == 16  # the 15 that waited, and one held
    work(app)
    for hour in range(0, 25, 2):
        tick(app, resumed + timedelta(hours=hour, minutes=1), pretend=True)
        work(app)
        assert not sending_state(app).paused
    assert subscriber_statuses(app) == {Status.ACTIVE: 17, Status.BOUNCED: 3}
    assert len(smtp.received) == 17
    rows = deliveries_of(app)
    assert sorted(r.status for r in rows) == sorted(
        [DeliveryStatus.SENT] * 17 + [DeliveryStatus.FAILED] * 3
    )


def test_provider_reports_on_addresses_nobody_confirmed_never_feed_the_guard(make_app, smtp):
    from bounces.events import Event, Kind, apply

    app = make_app(REPUTATION_MIN_SENT="1")
    client = app.test_client()
    for i in range(3):
        signup(client, f"stranger{i}@example.net")
    work(app)  # three confirmation requests went out
    assert len(smtp.received) == 3
    reports = [
        Event(Kind.HARD_BOUNCE, "stranger0@example.net"),
        Event(Kind.HARD_BOUNCE, "stranger1@example.net"),
        Event(Kind.COMPLAINT, "stranger2@example.net"),
    ]
    with app.app_context():
        apply(reports, now=datetime.now(UTC), provider="test")
        db.session.remove()
    assert events(app) == {gate.EventKind.PENDING_BOUNCE: 2, gate.EventKind.PENDING_SPAM: 1}
    assert not tick(app, datetime.now(UTC) + timedelta(minutes=1)).paused
    assert not sending_state(app).paused
    assert subscriber_statuses(app) == {Status.BOUNCED: 2, Status.UNSUBSCRIBED: 1}


def test_requests_to_confirm_that_strangers_set_off_do_not_dilute_the_guard(make_app, smtp):
    # 60 strangers' signups send 60 requests to confirm that nobody confirms; then one of 20
    # confirmed readers' mailboxes is gone. 1 in 19 is over 5 %; 1 in 79 would not be.
    app = make_app(
        DRIP_WINDOW="00:00-23:59",
        DRIP_DAYS="Mon-Sun",
        REPUTATION_MIN_SENT="10",
        REPUTATION_BOUNCE_PERCENT="5",
        SEND_BATCH_SIZE="20",
        SMTP_CONNECTIONS="1",
        SIGNUP_RATE_LIMIT="1000/minute",
    )
    client = app.test_client()
    for i in range(60):
        signup(client, f"stranger{i}@example.net")
    work(app)
    assert subscriber_statuses(app)[Status.PENDING] == 60
    due = datetime.now(UTC) + timedelta(minutes=5)  # within the guard's window of the 60
    add_due_drip_rows(app, 20, due)  # active readers, r60 to r79
    smtp.reject["r62@example.com"] = "550 5.1.1 No such user"
    assert tick(app, due, pretend=True).queued == 20
    work(app)
    assert events(app) == {gate.EventKind.HARD_BOUNCE: 1}
    paused = tick(app, due + timedelta(minutes=1), pretend=True).paused
    assert "hard bounce rate 5.26 % (1 of 19 sent" in paused
