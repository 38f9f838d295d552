"""The worksheet email and everything after: real RQ worker, real Redis, real SMTP server."""

from __future__ import annotations

import mailbox
import re
from datetime import datetime, timedelta

from sqlalchemy import select
from support import (
    ROOT,
    SECRET,
    flask_cli,
    signup,
    started_path,
    tampered,
    tick,
    wait_for,
    work,
)

from campaigns import gate
from campaigns.links import make_token
from models import Consent, Delivery, DeliveryStatus, Status, Subscriber, db, utcnow
from workers.send.job import send_batch


def the_subscriber(app, email="ann@example.com") -> Subscriber:
    with app.app_context():
        sub = db.session.scalar(select(Subscriber).where(Subscriber.email_key == email.lower()))
        db.session.expunge_all()
        return sub


def deliveries(app):
    with app.app_context():
        rows = db.session.scalars(select(Delivery).order_by(Delivery.id)).all()
        db.session.expunge_all()
        return rows


def token(purpose, sub):
    return make_token(SECRET, purpose, sub.public_id)


def link_in(text: str, path: str) -> str:
    return re.search(rf"https://tend\.example/{path}/[\w.\-]+", text).group(0)


def noon_in(days: int) -> datetime:
    """Noon UTC `days` from today: inside the drip window whatever the hour the test runs."""
    return (utcnow() + timedelta(days=days)).replace(hour=12, minute=0, second=0, microsecond=0)


def test_signup_sends_one_worksheet_email_that_inboxes_accept(app, client, smtp):
    signup(client)
    work(app)
    (received,) = smtp.received
    assert received.rcpt_tos == ["ann@example.com"]
    assert received.mail_from == "coach@tend.example"
    msg = received.message
    assert msg.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in msg.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    (row,) = deliveries(app)
    assert msg["Message-ID"] == row.message_id
    assert row.status == DeliveryStatus.SENT and row.sent_at is not None and row.attempts == 1
    assert msg["Date"] and msg["List-Id"].endswith("<staying-connected.tend.example>")
    assert msg["To"] == "Ann Lee <ann@example.com>"
    assert "List-Unsubscribe" not in msg  # the worksheet email is transactional
    assert len(received.data) < 102 * 1024
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Hi Ann," in text and link_in(text, "confirm") in html
    assert '<html lang="en">' in html and 'role="presentation"' in html
    assert "<style" not in html and 'style="' in html  # CSS inlined
    assert "One click confirms it" in html  # preheader
    assert "12 Garden Lane" in html and "12 Garden Lane" in text


def test_the_worksheet_email_takes_its_words_from_the_sequence_file(make_app, smtp, tmp_path):
    own = tmp_path / "sequence.toml"
    # A value in the sequence file wins over the Markdown file's front matter.
    own.write_text(
        (ROOT / "campaigns" / "sequence.toml")
        .read_text(encoding="utf-8")
        .replace(
            "[worksheet]\n",
            '[worksheet]\nsubject = "Here is your worksheet"\n'
            'confirm_preheader = "Twenty quiet minutes and a pen."\n',
        )
    )
    app = make_app(SEQUENCE_PATH=str(own))
    signup(app.test_client())
    work(app)
    (received,) = smtp.received
    # Double opt-in: the request to confirm, its own subject kept as shipped, its preheader
    # the file's.
    assert received.message["Subject"] == "Please confirm your email to get the worksheet"
    assert "Twenty quiet minutes and a pen." in received.message.get_body(("html",)).get_content()


def download_link(page: str) -> str:
    return re.search(r'href="(/worksheet/[\w.\-]+)"', page).group(1)


def test_confirm_get_changes_nothing_post_confirms_and_shows_the_thank_you_page(app, client, smtp):
    signup(client)
    work(app)
    url = link_in(smtp.received[0].message.get_body(("plain",)).get_content(), "confirm")
    path = url.removeprefix("https://tend.example")
    page = client.get(path)
    assert page.status_code == 200 and "Get my worksheet" in page.get_data(as_text=True)
    assert the_subscriber(app).status == Status.PENDING

    fresh = app.test_client()  # no cookies: the button works from any browser
    response = fresh.post(path)
    assert response.status_code == 303
    thanks = fresh.get(response.headers["Location"])
    html = thanks.get_data(as_text=True)
    assert thanks.status_code == 200 and "Your worksheet is ready" in html
    assert "Have you started a new job, or do you have a start date?" in html
    pdf = fresh.get(download_link(html))
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    sub = the_subscriber(app)
    # Confirming is not the start of a new job: no anchor, no after-hire note.
    assert sub.status == Status.ACTIVE and sub.confirmed_at and sub.anchor_at is None
    with app.app_context():
        consent = db.session.scalars(select(Consent)).one()
        assert consent.confirmed_at == sub.confirmed_at and consent.confirmed_ip == "127.0.0.1"
    assert [d for d in deliveries(app) if d.kind == "drip"] == []
    checkins = [d for d in deliveries(app) if d.kind == "checkin"]
    assert [d.step for d in checkins] == ["checkin-1", "checkin-2", "checkin-3"]
    assert fresh.post(path).status_code == 303  # confirming twice is harmless
    assert len([d for d in deliveries(app) if d.kind == "checkin"]) == 3


def test_single_opt_in_links_worksheet_directly(make_app, smtp):
    app = make_app(DOUBLE_OPT_IN="0")
    client = app.test_client()
    signup(client)
    work(app)
    assert the_subscriber(app).status == Status.ACTIVE
    text = smtp.received[0].message.get_body(("plain",)).get_content()
    assert "/confirm/" not in text
    pdf = client.get(link_in(text, "worksheet").removeprefix("https://tend.example"))
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert client.get("/worksheet/forged-token").status_code == 404


def test_signing_up_again_resends_at_most_once_per_ten_minutes(app, client, smtp):
    from signup import service

    signup(client)
    signup(client)
    work(app)
    assert len(smtp.received) == 1
    entry = service.Entry("Ann Lee", "ann@example.com", "ann@example.com", "UTC")
    context = service.Context(None, None, None, "test")
    with app.test_request_context():
        service.subscribe(entry, context, now=utcnow() + timedelta(minutes=11))
    work(app)
    assert len(smtp.received) == 2
    assert smtp.received[0].message["Message-ID"] != smtp.received[1].message["Message-ID"]


def test_one_click_unsubscribe_without_cookies_cancels_everything(make_app, smtp):
    app = make_app(DOUBLE_OPT_IN="0")
    signup(app.test_client())
    work(app)
    sub = the_subscriber(app)
    path = f"/unsubscribe/{token('unsubscribe', sub)}"
    page = app.test_client().get(path)
    assert page.status_code == 200 and "Unsubscribe?" in page.get_data(as_text=True)
    assert the_subscriber(app).status == Status.ACTIVE

    response = app.test_client().post(
        path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200 and "unsubscribed" in response.get_data(as_text=True)
    assert the_subscriber(app).status == Status.UNSUBSCRIBED
    statuses = {d.step: d.status for d in deliveries(app)}
    assert statuses == {
        "worksheet": "sent",
        "checkin-1": "cancelled",
        "checkin-2": "cancelled",
        "checkin-3": "cancelled",
    }
    again = app.test_client().post(
        path, data={"List-Unsubscribe": "One-Click"}, content_type="multipart/form-data"
    )
    assert again.status_code == 200  # idempotent, multipart too


def test_tampered_tokens_get_404_and_change_nothing(app, client, smtp):
    signup(client)
    sub = the_subscriber(app)
    good = token("unsubscribe", sub)
    wrong_purpose = token("confirm", sub)
    for path in [
        f"/unsubscribe/{tampered(good)}",
        f"/unsubscribe/{wrong_purpose}",
        "/confirm/abc",
        f"/confirm/{good}",
    ]:
        assert client.post(path).status_code == 404
        page = client.get(path)
        assert page.status_code == 404 and "This link is not valid" in page.get_data(as_text=True)
    assert the_subscriber(app).status == Status.PENDING


def test_smtp_down_then_up_delivers_exactly_once(app, client, smtp):
    smtp.stop()
    signup(client)
    work(app)
    (row,) = deliveries(app)
    assert (
        row.status == DeliveryStatus.SCHEDULED
        and row.attempts == 1
        and "cannot reach" in row.last_error
    )
    smtp.start()
    assert tick(app, utcnow()).queued == 0  # backoff: not yet
    result = tick(app, utcnow() + timedelta(minutes=5))
    assert result.queued == 1
    work(app)
    tick(app, utcnow() + timedelta(hours=1))
    work(app)
    assert len(smtp.received) == 1
    assert deliveries(app)[0].status == DeliveryStatus.SENT


def test_temporary_failures_retry_until_attempts_are_used(make_app, smtp):
    app = make_app(MAX_SEND_ATTEMPTS="3")
    smtp.reject["ann@example.com"] = "451 4.7.1 try later"
    signup(app.test_client())
    work(app)
    later = utcnow()
    for attempt in (2, 3):
        assert deliveries(app)[0].status == DeliveryStatus.SCHEDULED
        later += timedelta(hours=7)
        assert tick(app, later).queued == 1
        work(app)
        assert deliveries(app)[0].attempts == attempt
    row = deliveries(app)[0]
    assert row.status == DeliveryStatus.FAILED and "451" in row.last_error
    assert the_subscriber(app).status == Status.PENDING


def test_permanent_rejection_marks_bounced(app, client, smtp):
    smtp.reject["gone@example.com"] = "550 5.1.1 no such user"
    signup(client, email="gone@example.com")
    work(app)  # held: until the relay takes someone else's email, it may be the relay
    assert the_subscriber(app, "gone@example.com").status == Status.PENDING
    signup(client, email="ann@example.com")
    work(app)
    assert tick(app, utcnow() + timedelta(minutes=16)).queued == 1
    work(app)
    row = deliveries(app)[0]
    assert row.status == DeliveryStatus.FAILED and row.last_error.startswith("550")
    assert the_subscriber(app, "gone@example.com").status == Status.BOUNCED
    assert [r.rcpt_tos for r in smtp.received] == [["ann@example.com"]]


def test_a_job_executed_twice_sends_once(app, client, smtp):
    signup(client)
    (row,) = deliveries(app)
    with app.app_context():
        first = send_batch(row.job_id, [row.id])
        second = send_batch(row.job_id, [row.id])
    assert first["sent"] == 1 and second == {"sent": 0, "retry": 0, "failed": 0, "skipped": 0}
    work(app)  # the queued copy of the same job finds nothing to do
    assert len(smtp.received) == 1


def test_crlf_in_a_stored_name_never_adds_a_recipient(app, smtp):
    with app.app_context():
        sub = Subscriber(
            email="ann@example.com",
            email_key="ann@example.com",
            name="Ann\r\nBcc: evil@example.com",
            status=Status.ACTIVE,
        )
        db.session.add(sub)
        db.session.add(
            Delivery(
                subscriber=sub,
                step="worksheet",
                kind="worksheet",
                status=DeliveryStatus.QUEUED,
                due_at=utcnow(),
                job_id="job-1",
                message_id="<x@tend.example>",
            )
        )
        db.session.commit()
        send_batch("job-1", [1])
    (received,) = smtp.received
    assert received.rcpt_tos == ["ann@example.com"]
    headers = received.data.split(b"\r\n\r\n")[0]
    assert not re.search(rb"(^|\r\n)Bcc:", headers)  # no header line was added
    assert received.message["To"].addresses[0].addr_spec == "ann@example.com"
    assert received.message["Bcc"] is None


def test_internationalized_address_uses_smtputf8(app, client, smtp):
    signup(client, email="jösé@exämple.com", name="José Müller")
    work(app)
    (received,) = smtp.received
    assert received.smtputf8 and received.rcpt_tos == ["jösé@exämple.com"]
    assert "José Müller" in str(received.message["To"])


def test_internationalized_address_fails_clearly_without_smtputf8(app, client, smtp):
    smtp.stop()
    smtp.enable_smtputf8 = False
    smtp.start()
    signup(client, email="jösé@exämple.com")
    work(app)
    row = deliveries(app)[0]
    assert row.status == DeliveryStatus.FAILED and "SMTPUTF8" in row.last_error
    assert smtp.received == []


def test_an_idn_domain_with_an_ascii_local_part_goes_out_without_smtputf8(app, client, smtp):
    smtp.stop()
    smtp.enable_smtputf8 = False
    smtp.start()
    signup(client, email="idn@münchen.example", name="Idn Reader")
    work(app)
    (received,) = smtp.received
    assert not received.smtputf8 and received.rcpt_tos == ["idn@xn--mnchen-3ya.example"]
    headers = received.data.split(b"\r\n\r\n")[0]
    assert b"\r\nTo: Idn Reader <idn@xn--mnchen-3ya.example>\r\n" in headers
    assert headers.isascii()
    assert deliveries(app)[0].status == DeliveryStatus.SENT


def test_an_idn_domain_with_a_name_outside_ascii_keeps_the_name_encoded(app, client, smtp):
    smtp.stop()
    smtp.enable_smtputf8 = False
    smtp.start()
    signup(client, email="idn@münchen.example", name="Jürgen Groß")
    work(app)
    (received,) = smtp.received
    assert received.message["To"].addresses[0].display_name == "Jürgen Groß"
    assert received.message["To"].addresses[0].addr_spec == "idn@xn--mnchen-3ya.example"
    assert received.data.split(b"\r\n\r\n")[0].isascii()


def start_today(app, email="ann@example.com"):
    """The reader says, on their start-date page, that the new job starts today."""
    response = app.test_client().post(
        started_path(app, email),
        data={"answer": "started", "started_on": utcnow().date().isoformat()},
    )
    assert response.status_code == 200, response.get_data(as_text=True)


def test_drip_emails_carry_one_click_unsubscribe_and_postal_address(make_app, smtp):
    app = make_app(DOUBLE_OPT_IN="0", DRIP_WINDOW="00:00-23:59", DRIP_DAYS="Mon-Sun")
    signup(app.test_client())
    work(app)
    start_today(app)
    tick(app, noon_in(32))
    work(app)
    drip = smtp.received[-1].message
    assert drip["Subject"] == "A month in: who helped you get here?"
    sub = the_subscriber(app)
    assert (
        drip["List-Unsubscribe"]
        == f"<https://tend.example/unsubscribe/{token('unsubscribe', sub)}>"
    )
    assert drip["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = drip.get_body(("html",)).get_content()
    text = drip.get_body(("plain",)).get_content()
    assert "Unsubscribe</a>" in html and "12 Garden Lane" in html
    assert "Wrong start date?" in html and "Change it</a>" in html and link_in(text, "started")


def test_outbox_transport_writes_a_maildir(make_app, tmp_path):
    app = make_app(MAIL_BACKEND="outbox")
    app.config["OUTBOX_PATH"] = str(tmp_path / "outbox")
    signup(app.test_client())
    work(app)
    (message,) = list(mailbox.Maildir(str(tmp_path / "outbox"), create=False))
    assert message["To"] == "Ann Lee <ann@example.com>"


def test_worker_command_drains_the_queue(app, app_env, client, smtp):
    signup(client)
    done = flask_cli(app_env(RQ_QUEUE=app.config["RQ_QUEUE"]), "worker", "--burst")
    assert done.returncode == 0, done.stderr
    assert len(smtp.received) == 1


def test_a_refused_sender_holds_the_batch_and_bounces_nobody(app, client, smtp):
    smtp.reject_sender = "550 5.7.1 Sender address rejected"
    signup(client)
    signup(client, email="bo@example.com", name="Bo")
    work(app)
    rows = deliveries(app)
    assert [r.status for r in rows] == [DeliveryStatus.SCHEDULED, DeliveryStatus.SCHEDULED]
    assert [r.attempts for r in rows] == [0, 0]  # a pause uses up no attempt
    assert "sender refused: 550" in rows[0].last_error
    assert the_subscriber(app).status == Status.PENDING
    assert the_subscriber(app, "bo@example.com").status == Status.PENDING
    smtp.reject_sender = ""
    assert tick(app, utcnow() + timedelta(hours=1)).paused  # paused: nothing queued
    assert smtp.received == []
    with app.app_context():
        gate.resume()
    tick(app, utcnow() + timedelta(hours=1))
    work(app)
    assert sorted(smtp.per_recipient()) == ["ann@example.com", "bo@example.com"]


def test_a_refused_message_fails_that_email_only(app, client, smtp):
    smtp.reject_data = "554 5.6.0 Message content rejected"
    signup(client)
    work(app)
    (row,) = deliveries(app)
    assert row.status == DeliveryStatus.FAILED and "message refused: 554" in row.last_error
    assert the_subscriber(app).status == Status.PENDING  # the address itself is fine


def test_two_confirms_at_once_both_get_the_worksheet(app, client, smtp):
    import threading

    signup(client)
    path = f"/confirm/{token('confirm', the_subscriber(app))}"
    results = []
    barrier = threading.Barrier(2)

    def press():
        with app.test_client() as c:
            barrier.wait()
            results.append(c.post(path))

    threads = [threading.Thread(target=press) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [303, 303]
    for r in results:  # each lands on the thank-you page with the download
        page = app.test_client().get(r.headers["Location"]).get_data(as_text=True)
        assert app.test_client().get(download_link(page)).data.startswith(b"%PDF")
    assert sorted(d.step for d in deliveries(app) if d.kind == "checkin") == [
        "checkin-1",
        "checkin-2",
        "checkin-3",
    ]


def test_unsubscribing_during_a_batch_stops_the_unsent_email(make_app, smtp):
    import threading

    from campaigns.links import make_token

    # One connection: b's email waits behind a's (with more, b's would be in flight too).
    app = make_app(
        DOUBLE_OPT_IN="0", SEND_BATCH_SIZE="10", SMTP_CONNECTIONS="1", DRIP_DAYS="Mon-Sun"
    )
    client = app.test_client()
    smtp.delay = 2.0  # a slow server: a's email is in flight while b unsubscribes
    signup(client, email="a@example.com")
    signup(client, email="b@example.com")
    for email, day in (("a@example.com", 1), ("b@example.com", 0)):  # a started a day sooner
        started_on = (utcnow() - timedelta(days=day)).date().isoformat()
        page = client.post(started_path(app, email), data={"started_on": started_on})
        assert page.status_code == 200
    with app.app_context():
        db.session.execute(
            Delivery.__table__.update()
            .where(Delivery.kind == "worksheet")
            .values(status=DeliveryStatus.SENT)
        )
        db.session.commit()
    ((job_id, ids),) = tick(app, noon_in(40)).batches  # one batch, a first

    def run_job():  # the job itself (RQ's timeouts need the main thread)
        with app.app_context():
            send_batch(job_id, ids)

    sender = threading.Thread(target=run_job)
    sender.start()
    assert wait_for(lambda: smtp.arriving == 1, timeout=10)
    b = the_subscriber(app, "b@example.com")
    path = f"/unsubscribe/{make_token(SECRET, 'unsubscribe', b.public_id)}"
    assert app.test_client().post(path).status_code == 200  # while a's email is in flight
    sender.join()
    assert smtp.per_recipient() == {"a@example.com": 1}
    statuses = {(d.subscriber_id, d.step): d.status for d in deliveries(app)}
    assert statuses[(b.id, "month-1")] == DeliveryStatus.CANCELLED


def test_a_drip_retry_waits_for_backoff_not_the_gap(make_app, smtp):
    app = make_app(DOUBLE_OPT_IN="0", DRIP_WINDOW="00:00-23:59", DRIP_DAYS="Mon-Sun")
    signup(app.test_client())
    work(app)
    start_today(app)
    smtp.reject["ann@example.com"] = "451 4.3.0 try again later"
    later = noon_in(40)
    assert tick(app, later).queued == 1
    work(app)
    smtp.reject.clear()
    result = tick(app, later + timedelta(minutes=5))
    assert (result.queued, result.deferred) == (1, 0)  # a minute's backoff, not a week's gap
    work(app)
    assert [m["Subject"] for m in smtp.messages_to("ann@example.com")][
        -1
    ] == "A month in: who helped you get here?"
