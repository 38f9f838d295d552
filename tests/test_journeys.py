"""Readers through the months: the after-hire notes follow the start date, the check-ins ask
those who have not said, and no email goes to a reader it is not true for.

Real Redis, a real RQ worker, a real SMTP server on loopback, and time travelled with
`drip tick --now` (the command on the key days, its function on the others).
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from support import answer, flask_cli, signup, started_path, tick, wait_for, work

from campaigns.compose import long_date
from models import Delivery, DeliveryStatus, Subscriber, db, utcnow
from signup import service
from subscribers.lifecycle import find_by_address
from workers.send.job import send_batch

AFTER_HIRE = {
    "A month in: who helped you get here?": "month-1",
    "Give before you need": "month-3",
    "Six months in: tell them how it's going": "month-6",
}
CHECK_INS = {
    "Have you started somewhere new?": "checkin-1",
    "A network is a garden: water it now": "checkin-2",
    "Six months on: how are you doing?": "checkin-3",
}
# The first email: a request to confirm (double opt-in, the default), or the worksheet.
WORKSHEET = "Please confirm your email to get the worksheet"
WORKSHEET_DIRECT = "Your worksheet: what you need from your next company"
# Sentences that assume the reader was hired: never for a reader without a start date.
HIRED = ("into the new job", "where you landed", "how the new role is going", "Three months in")
CHICAGO = ZoneInfo("America/Chicago")


def confirm(app, email: str, *, at: datetime) -> None:
    with app.test_request_context():
        service.confirm(find_by_address(email), now=at, ip="127.0.0.1")
        db.session.remove()


def received(smtp, address: str) -> list[tuple[str, object]]:
    """(subject, message) of every email that reached `address`, in order."""
    return [(m["Subject"], m) for m in smtp.messages_to(address)]


def sent_at(app, email: str) -> dict[str, datetime]:
    with app.app_context():
        rows = db.session.execute(
            select(Delivery.step, Delivery.sent_at)
            .join(Subscriber)
            .where(Subscriber.email_key == email, Delivery.status == DeliveryStatus.SENT)
        ).all()
        db.session.remove()
    return dict(rows)


def statuses(app, email: str) -> dict[str, str]:
    with app.app_context():
        rows = db.session.execute(
            select(Delivery.step, Delivery.status)
            .join(Subscriber)
            .where(Subscriber.email_key == email)
        ).all()
        db.session.remove()
    return dict(rows)


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


# ---- three readers confirmed on the same day -------------------------------------------

CONFIRMED = datetime(2027, 2, 10, 10, 0, tzinfo=UTC)  # a Wednesday
BO_STARTS = date(2027, 3, 3)  # three weeks on: a month later is Saturday 3 April


@pytest.mark.slow  # 190 simulated days, a tick at a time
def test_three_readers_confirmed_the_same_day(app, app_env, smtp):
    client = app.test_client()
    signup(client, "ann@example.com", "Ann Lee", timezone="UTC")
    signup(client, "bo@example.com", "Bo Park", timezone="America/Chicago")
    signup(client, "cy@example.com", "Cy Reyes", timezone="UTC")
    work(app)
    for email in ("ann@example.com", "bo@example.com", "cy@example.com"):
        confirm(app, email, at=CONFIRMED)
    # Ann started that very day; Bo starts in three weeks; Cy never answers.
    answer(app, "ann@example.com", "started", now=CONFIRMED, started_on=CONFIRMED.date())
    answer(app, "bo@example.com", "started", now=CONFIRMED, started_on=BO_STARTS)

    # What the page they saved says, by the function it calls, as of the day they saved.
    rules_page = {}
    with app.test_request_context():
        from campaigns import schedule
        from campaigns.plan import Rules

        rules = Rules.current()
        for email in ("ann@example.com", "bo@example.com"):
            found = find_by_address(email)
            zone = rules.zone(found.timezone)
            rules_page[email] = {
                f.key: f.at.astimezone(zone).date()
                for f in schedule.upcoming(
                    found, app.extensions["tend.sequence"], now=CONFIRMED, rules=rules
                )
                if f.outcome == "planned"
            }
        db.session.remove()
    assert rules_page["ann@example.com"] == {
        "month-1": date(2027, 3, 10),
        "month-3": date(2027, 5, 10),
        "month-6": date(2027, 8, 10),
    }
    assert rules_page["bo@example.com"] == {
        "month-1": date(2027, 4, 5),  # Saturday's note on Monday
        "month-3": date(2027, 6, 3),
        "month-6": date(2027, 9, 3),
    }

    # Every day at 15:00 UTC (10:00 in Chicago) for seven months. The days that matter run
    # `flask --app app drip tick --now` itself, as an operator would.
    env = app_env(RQ_QUEUE=app.config["RQ_QUEUE"])
    by_command = {
        date(2027, 3, 9),
        date(2027, 3, 24),
        date(2027, 4, 2),
        date(2027, 4, 3),
        date(2027, 4, 4),
        date(2027, 4, 5),
    }
    day = CONFIRMED.date()
    while day <= date(2027, 9, 15):
        now = datetime.combine(day, time(15), UTC)
        if day in by_command:
            out = flask_cli(env, "drip", "tick", "--now", now.isoformat())
            assert out.returncode == 0, out.stderr
        else:
            tick(app, now, pretend=True)
        work(app)
        if day == date(2027, 4, 4):  # the weekend Bo's month-1 came due: nothing yet
            assert [s for s, _ in received(smtp, "bo@example.com") if s in AFTER_HIRE] == []
        day += timedelta(days=1)

    ann = received(smtp, "ann@example.com")
    assert [s for s, _ in ann] == [WORKSHEET, *AFTER_HIRE]
    assert {
        k: v.date() for k, v in sent_at(app, "ann@example.com").items() if k != "worksheet"
    } == (rules_page["ann@example.com"])

    bo = received(smtp, "bo@example.com")
    assert [s for s, _ in bo] == [WORKSHEET, *AFTER_HIRE]
    bo_sent = {k: v for k, v in sent_at(app, "bo@example.com").items() if k != "worksheet"}
    assert {k: v.astimezone(CHICAGO).date() for k, v in bo_sent.items()} == rules_page[
        "bo@example.com"
    ]
    for when in bo_sent.values():  # a weekday, in Bo's window, in Bo's zone
        local = when.astimezone(CHICAGO)
        assert local.weekday() < 5 and time(9) <= local.time() < time(17)
    assert min(bo_sent.values()) >= datetime(2027, 4, 3, tzinfo=CHICAGO)  # nothing before

    cy = received(smtp, "cy@example.com")
    assert [s for s, _ in cy] == [WORKSHEET, *CHECK_INS]  # at most three, and no note
    assert {k: v.date() for k, v in sent_at(app, "cy@example.com").items() if k != "worksheet"} == {
        "checkin-1": date(2027, 3, 24),  # six weeks after confirming
        "checkin-2": date(2027, 5, 10),
        "checkin-3": date(2027, 8, 10),
    }
    for subject, message in cy[1:]:
        text = text_of(message)
        assert re.search(r"https://tend\.example/started/[\w.\-]+\?answer=started", text), subject
        assert "Started somewhere new? Tell me when" in text
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert not any(sentence in text for sentence in HIRED), subject
    assert statuses(app, "cy@example.com") == {
        "worksheet": "sent",
        "checkin-1": "sent",
        "checkin-2": "sent",
        "checkin-3": "sent",
    }
    for _, message in ann[1:] + bo[1:]:
        assert "Wrong start date? Change it" in text_of(message)
    assert "Wrong start date? Change it (you told me Wednesday, March 3, 2027)" in text_of(bo[1][1])


# ---- answers ------------------------------------------------------------------------------

T = datetime(2027, 1, 13, 10, 0, tzinfo=UTC)  # a Wednesday


def a_reader(app, email="ann@example.com", *, at=T) -> None:
    signup(app.test_client(), email, "Ann Lee", timezone="UTC")
    work(app)
    confirm(app, email, at=at)


def travel(app, until: datetime, *, start: datetime, hour: int = 15, every: int = 1) -> None:
    """A tick (and a worker run) at `hour` UTC every `every` days from `start` to `until`."""
    day = start.date()
    while day <= until.date():
        tick(app, datetime.combine(day, time(hour), UTC), pretend=True)
        work(app)
        day += timedelta(days=every)


def test_still_looking_waits_for_the_next_check_in(app, smtp):
    a_reader(app)
    travel(app, T + timedelta(weeks=6), start=T)
    assert [s for s, _ in received(smtp, "ann@example.com")][1:] == [
        "Have you started somewhere new?"
    ]
    answer(app, "ann@example.com", "looking", now=T + timedelta(weeks=7))
    travel(app, T + timedelta(days=200), start=T + timedelta(weeks=7), every=3)
    subjects = [s for s, _ in received(smtp, "ann@example.com")][1:]
    assert subjects == list(CHECK_INS)  # the next two still come; no note about a job
    with app.app_context():
        assert find_by_address("ann@example.com").anchor_at is None


def test_an_answer_on_the_day_a_check_in_is_due_answers_it(app, smtp):
    a_reader(app)
    due = T + timedelta(weeks=6)
    answer(app, "ann@example.com", "looking", now=due + timedelta(hours=1))
    travel(app, due + timedelta(days=10), start=due)
    assert [s for s, _ in received(smtp, "ann@example.com")][1:] == []
    assert statuses(app, "ann@example.com")["checkin-1"] == DeliveryStatus.CANCELLED
    assert statuses(app, "ann@example.com")["checkin-2"] == DeliveryStatus.SCHEDULED


def test_not_changing_jobs_ends_every_email(app, smtp):
    a_reader(app)
    answer(app, "ann@example.com", "not_changing", now=T + timedelta(days=2))
    travel(app, T + timedelta(days=200), start=T, every=3)
    assert [s for s, _ in received(smtp, "ann@example.com")] == [WORKSHEET]
    assert {s: v for s, v in statuses(app, "ann@example.com").items() if s != "worksheet"} == {
        "checkin-1": "cancelled",
        "checkin-2": "cancelled",
        "checkin-3": "cancelled",
    }


def test_a_start_date_ends_the_check_ins_and_a_changed_answer_holds_the_notes(app, smtp):
    a_reader(app)
    answer(app, "ann@example.com", "started", now=T, started_on=date(2027, 2, 1))
    assert statuses(app, "ann@example.com") == {
        "worksheet": "sent",
        "checkin-1": "cancelled",
        "checkin-2": "cancelled",
        "checkin-3": "cancelled",
        "month-1": "scheduled",
        "month-3": "scheduled",
        "month-6": "scheduled",
    }
    # The offer fell through: "not yet, still looking". No after-hire note may go now.
    answer(app, "ann@example.com", "looking", now=T + timedelta(days=5))
    found = statuses(app, "ann@example.com")
    assert [found[k] for k in ("month-1", "month-3", "month-6")] == ["held"] * 3
    assert [found[k] for k in ("checkin-1", "checkin-2", "checkin-3")] == ["scheduled"] * 3
    travel(app, datetime(2027, 3, 10, tzinfo=UTC), start=T)
    # Month-1 was due on March 1: not sent. Still looking, so the check-in asks again.
    assert [s for s, _ in received(smtp, "ann@example.com")][1:] == [
        "Have you started somewhere new?"
    ]
    # A new date: the held notes count from it, and the check-ins stop.
    answer(
        app,
        "ann@example.com",
        "started",
        now=datetime(2027, 3, 11, tzinfo=UTC),
        started_on=date(2027, 3, 15),
    )
    found = statuses(app, "ann@example.com")
    assert [found[k] for k in ("month-1", "month-3", "month-6")] == ["scheduled"] * 3
    travel(app, datetime(2027, 4, 20, tzinfo=UTC), start=datetime(2027, 3, 11, tzinfo=UTC))
    assert sent_at(app, "ann@example.com")["month-1"].date() == date(2027, 4, 15)


def test_a_step_more_than_two_weeks_overdue_is_skipped_not_sent_late(app, smtp):
    a_reader(app)
    # On January 13 the reader says they started on October 20: month-1 (Nov 20) is far
    # past, month-3 (Jan 20) is ahead.
    answer(app, "ann@example.com", "started", now=T, started_on=date(2026, 10, 20))
    assert statuses(app, "ann@example.com")["month-1"] == DeliveryStatus.SKIPPED
    travel(app, datetime(2027, 4, 25, tzinfo=UTC), start=T, every=3)
    assert [s for s, _ in received(smtp, "ann@example.com")][1:] == [
        "Give before you need",
        "Six months in: tell them how it's going",
    ]
    assert statuses(app, "ann@example.com")["month-1"] == DeliveryStatus.SKIPPED


def test_an_overdue_step_within_two_weeks_still_goes(app, smtp):
    a_reader(app)
    answer(app, "ann@example.com", "started", now=T, started_on=date(2026, 12, 1))  # Jan 1: 12 days
    tick(app, T + timedelta(hours=1), pretend=True)
    work(app)
    assert [s for s, _ in received(smtp, "ann@example.com")][1:] == [
        "A month in: who helped you get here?"
    ]


# ---- what is true when it is sent -------------------------------------------------------


def test_a_queued_check_in_never_reaches_a_reader_who_answered_since(app, smtp):
    a_reader(app, "a@example.com")
    a_reader(app, "b@example.com")
    due = T + timedelta(weeks=6, hours=5)
    assert tick(app, due).queued == 2  # both check-ins are on the conveyor...
    answer(app, "a@example.com", "not_changing", now=due)  # ...when both answer
    answer(app, "b@example.com", "looking", now=due)
    work(app)
    assert [s for s, _ in received(smtp, "a@example.com")] == [WORKSHEET]
    assert [s for s, _ in received(smtp, "b@example.com")] == [WORKSHEET]
    assert statuses(app, "b@example.com")["checkin-1"] == DeliveryStatus.CANCELLED
    assert statuses(app, "b@example.com")["checkin-2"] == DeliveryStatus.SCHEDULED


def test_a_queued_note_never_reaches_a_reader_who_took_back_the_date(app, smtp):
    a_reader(app)
    answer(app, "ann@example.com", "started", now=T, started_on=T.date())
    due = datetime(2027, 2, 15, 15, 0, tzinfo=UTC)
    assert tick(app, due).queued == 1
    answer(app, "ann@example.com", "looking", now=due)
    work(app)
    assert [s for s, _ in received(smtp, "ann@example.com")] == [WORKSHEET]
    assert statuses(app, "ann@example.com")["month-1"] == DeliveryStatus.HELD


def test_the_send_job_reads_the_readers_answer_just_before_each_email(make_app, smtp):
    """Even an answer written behind the service's back (no row cancelled) stops a check-in
    whose batch is already being sent: the job re-reads the reader just before it."""
    # One connection: b's check-in waits behind a's (with more, b's would be in flight too).
    app = make_app(SEND_BATCH_SIZE="10", SMTP_CONNECTIONS="1")
    a_reader(app, "a@example.com")
    a_reader(app, "b@example.com")
    ((job_id, ids),) = tick(app, T + timedelta(weeks=6, hours=5)).batches
    smtp.delay = 2.0  # a's check-in is in flight while b's answer lands
    before = smtp.arriving  # the two worksheet emails

    def run_job():
        with app.app_context():
            send_batch(job_id, ids)

    sender = threading.Thread(target=run_job)
    sender.start()
    assert wait_for(lambda: smtp.arriving == before + 1, timeout=10)
    with app.app_context():
        db.session.execute(
            update(Subscriber)
            .where(Subscriber.email_key == "b@example.com")
            .values(job_status="not_changing")
        )
        db.session.commit()
    sender.join()
    assert smtp.per_recipient() == {"a@example.com": 2, "b@example.com": 1}  # worksheets + a's


# ---- the page says the dates the dispatcher keeps ----------------------------------------


def test_the_dates_on_the_saved_page_are_the_days_the_notes_arrive(make_app, smtp):
    app = make_app(DOUBLE_OPT_IN="0")
    signup(app.test_client(), timezone="Europe/Berlin")
    work(app)
    berlin = ZoneInfo("Europe/Berlin")
    today = utcnow().astimezone(berlin).date()
    starts = today + timedelta(days=10)
    page = app.test_client().post(
        started_path(app, "ann@example.com"),
        data={"answer": "started", "started_on": starts.isoformat()},
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Congratulations on the new job" in html
    listed = re.findall(
        r'<li><span class="when">([^<]+)</span> <span class="what">([^<]+)</span></li>', html
    )
    assert [what.replace("&#39;", "'") for _, what in listed] == list(AFTER_HIRE)
    # A tick every week, and every day from five days before each listed day: a note
    # that left on any other day would show a different date.
    days = [datetime.strptime(when, "%A, %B %d, %Y").date() for when, _ in listed]
    dense = {d - timedelta(days=i) for d in days for i in range(-1, 6)}
    day = utcnow().date() + timedelta(days=1)
    while day <= days[-1] + timedelta(days=8):
        if day in dense or day.weekday() == 2:
            tick(app, datetime.combine(day, time(12), UTC), pretend=True)
            work(app)
        day += timedelta(days=1)
    arrived = sent_at(app, "ann@example.com")
    assert [when for when, _ in listed] == [
        long_date(arrived[key].astimezone(berlin).date()) for key in AFTER_HIRE.values()
    ]
    assert [s for s, _ in received(smtp, "ann@example.com")] == [WORKSHEET_DIRECT, *AFTER_HIRE]


@pytest.mark.parametrize("mode", ["0", "1"])
def test_the_first_email_of_single_opt_in_is_list_mail(make_app, smtp, mode):
    app = make_app(DOUBLE_OPT_IN=mode)
    signup(app.test_client())
    work(app)
    (message,) = smtp.messages_to("ann@example.com")
    text, html = text_of(message), message.get_body(("html",)).get_content()
    # Single opt-in asks for the start date; a request to confirm asks only to confirm.
    assert bool(re.search(r"https://tend\.example/started/[\w.\-]+", text)) == (mode == "0")
    if mode == "0":  # on the list at once: one-click unsubscribe, in the headers and in view
        assert message["List-Unsubscribe"].startswith("<https://tend.example/unsubscribe/")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "Unsubscribe: https://tend.example/unsubscribe/" in text
        assert ">Unsubscribe</a>" in html
    else:  # a request to confirm: transactional
        assert "List-Unsubscribe" not in message and "Unsubscribe" not in text


def test_leaving_cancels_held_notes_too_and_a_return_follows_the_answer(app, smtp):
    a_reader(app)
    answer(app, "ann@example.com", "started", now=T, started_on=date(2027, 2, 1))
    answer(app, "ann@example.com", "looking", now=T + timedelta(days=1))
    with app.test_request_context():
        service.unsubscribe(find_by_address("ann@example.com"), now=T + timedelta(days=2))
        db.session.remove()
    assert {v for k, v in statuses(app, "ann@example.com").items() if k != "worksheet"} == {
        DeliveryStatus.CANCELLED
    }
    # Back a month later, confirmed again, and started on March 1: the notes count from it.
    back = datetime(2027, 2, 15, 10, 0, tzinfo=UTC)
    with app.test_request_context():
        entry = service.Entry("Ann Lee", "ann@example.com", "ann@example.com", "UTC")
        service.subscribe(entry, service.Context(None, None, None, "test"), now=back)
        db.session.remove()
    confirm(app, "ann@example.com", at=back)
    answer(app, "ann@example.com", "started", now=back, started_on=date(2027, 3, 1))
    found = statuses(app, "ann@example.com")
    assert [found[k] for k in ("month-1", "month-3", "month-6")] == ["scheduled"] * 3
    assert [found[k] for k in ("checkin-1", "checkin-2", "checkin-3")] == ["cancelled"] * 3


def test_an_answer_leaves_a_retry_waiting_out_its_backoff(app, smtp):
    a_reader(app)
    answer(app, "ann@example.com", "started", now=T, started_on=T.date())
    monday = datetime(2027, 2, 15, 15, 0, tzinfo=UTC)  # month-1 came due on Saturday
    smtp.reject["ann@example.com"] = "450 4.2.1 mailbox temporarily unavailable"
    tick(app, monday, pretend=True)
    work(app)
    with app.app_context():
        row = db.session.scalar(select(Delivery).where(Delivery.step == "month-1"))
        assert (row.status, row.attempts) == (DeliveryStatus.SCHEDULED, 1)
        retry_at = row.due_at
        db.session.remove()
    assert retry_at == monday + timedelta(minutes=1)
    # The same answer again (a reader pressing Save twice) does not cut the backoff short.
    answer(app, "ann@example.com", "started", now=monday, started_on=T.date())
    with app.app_context():
        assert db.session.scalar(select(Delivery.due_at).where(Delivery.step == "month-1")) == (
            retry_at
        )
        db.session.remove()
