"""One reader, from the dashboard and through `studio.readers`: unsubscribe keeping the
history, change the name, correct the address, set the start date or the job answer,
resend the worksheet, add a reader by hand; every action in the audit log, on the reader's
page and on the Activity page; the dashboard's times in the coach's zone."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select
from support import (
    ADMIN_PASSWORD,
    EMAIL_MSG,
    NAME_MSG,
    admin_client,
    answer,
    csrf_from,
    login,
    signup,
    started_path,
    tick,
    work,
)

from admin.times import in_zone
from campaigns.timing import start_anchor
from models import AuditEvent, Delivery, Subscriber, db, utcnow
from studio import audit, readers
from studio.audit import Actor
from studio.errors import NotFound, Refused
from subscribers.lifecycle import find_by_address

ANN = "ann@example.com"
COACH = Actor("dashboard", "0a1b2c3d")
CONFIRM_SUBJECT = "Please confirm your email to get the worksheet"
WORKSHEET_SUBJECT = "Your worksheet: what you need from your next company"
NOTES = {"month-1": 1, "month-3": 3, "month-6": 6}


@pytest.fixture
def admin_app(make_app):
    return make_app(ADMIN_PASSWORD=ADMIN_PASSWORD)


@pytest.fixture
def operator(admin_app):
    client = admin_client(admin_app)
    assert login(client).status_code == 303
    return client


# ---- helpers ------------------------------------------------------------------------------


def confirm_link(smtp, address: str) -> str:
    text = smtp.messages_to(address)[-1].get_body(("plain",)).get_content()
    return re.search(r"https://tend\.example(/confirm/[\w.\-]+)", text).group(1)


def an_active_reader(app, smtp, email: str = ANN, name: str = "Ann Lee") -> None:
    """Signed up through the API, asked to confirm by email, and confirmed by the link."""
    signup(app.test_client(), email=email, name=name)
    work(app)
    assert app.test_client().post(confirm_link(smtp, email)).status_code == 303


def public_id(app, email: str = ANN) -> str:
    with app.app_context():
        found = find_by_address(email)
        db.session.remove()
        return found.public_id


def facts(app, email: str = ANN) -> dict:
    """The reader's row, consents, deliveries and audit events, read back."""
    with app.app_context():
        sub = find_by_address(email)
        if sub is None:
            return {}
        got = {
            "name": sub.name,
            "email": sub.email,
            "status": sub.status,
            "job_status": sub.job_status,
            "started_on": sub.started_job_on,
            "anchor_at": sub.anchor_at,
            "consents": [
                (c.source, c.note, c.confirmed_at is not None, c.left_reason) for c in sub.consents
            ],
            "deliveries": {(d.kind, d.step, d.status): d.due_at for d in sub.deliveries},
            "events": db.session.scalars(
                select(AuditEvent.summary)
                .where(AuditEvent.subscriber_id == sub.id)
                .order_by(AuditEvent.id)
            ).all(),
        }
        db.session.remove()
        return got


def counts(app) -> tuple[int, int, int]:
    """Subscribers, deliveries and audit events in all."""
    with app.app_context():
        found = tuple(
            db.session.scalar(select(func.count()).select_from(model))
            for model in (Subscriber, Delivery, AuditEvent)
        )
        db.session.remove()
        return found


def act(app, action, *args, **kwargs):
    """Call a `studio.readers` function as the API would, inside a request."""
    with app.test_request_context():
        try:
            return action(*args, **kwargs)
        finally:
            db.session.remove()


def on_reader(app, action, who: str = ANN, **kwargs):
    with app.test_request_context():
        try:
            return action(readers.find(who), **kwargs)
        finally:
            db.session.remove()


def post(client, path: str, data: dict | None = None):
    """A dashboard form post, with the CSRF token of the page it sits on."""
    token = csrf_from(client.get("/admin/activity").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **(data or {})})


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


# ---- unsubscribe --------------------------------------------------------------------------


def test_unsubscribe_from_the_dashboard_keeps_their_history_and_sends_nothing_more(
    admin_app, operator, smtp
):
    an_active_reader(admin_app, smtp)
    start = date.today() + timedelta(days=3)
    answer(admin_app, ANN, "started", now=utcnow(), started_on=start)
    page_url = f"/admin/subscribers/{public_id(admin_app)}"

    # No CSRF token: nothing happens.
    refused = operator.post(page_url + "/unsubscribe")
    assert refused.status_code == 303 and facts(admin_app)["status"] == "active"
    assert "That form expired" in text_of(operator.get(page_url).get_data(as_text=True))

    # The button asks first, saying what happens; nothing changes until they confirm.
    asked = post(operator, page_url + "/unsubscribe")
    assert asked.status_code == 200 and facts(admin_app)["status"] == "active"
    shown = text_of(asked.get_data(as_text=True))
    assert "Unsubscribe Ann Lee <ann@example.com>?" in shown
    assert "Nothing more goes to them" in shown and "Their history stays" in shown
    assert "It cannot be undone from here" in shown
    assert 'name="confirmed" value="1"' in asked.get_data(as_text=True)

    done = post(operator, page_url + "/unsubscribe", {"confirmed": "1"})
    assert done.status_code == 303 and done.headers["Location"] == page_url
    page = text_of(operator.get(page_url).get_data(as_text=True))
    assert "Unsubscribed. Nothing more goes to them" in page
    assert "Unsubscribed them: nothing more goes to them" in page  # the audit log
    assert CONFIRM_SUBJECT in page and "sent" in page  # the email they got, by subject
    for subject in ("A month in: who helped you get here?", "Give before you need"):
        assert subject in page
    after = facts(admin_app)
    assert after["status"] == "unsubscribed"
    assert after["consents"] == [("api", None, True, "operator")]
    assert {s for (_, _, s) in after["deliveries"]} == {"sent", "cancelled"}

    data = operator.get(page_url + "/data.json").get_json()
    assert data["profile"]["status"] == "unsubscribed"
    assert [(c["source"], c["left_reason"]) for c in data["consents"]] == [("api", "operator")]
    assert [d["status"] for d in data["deliveries"] if d["kind"] == "worksheet"] == ["sent"]

    # A tick when the first note would be due, and a worker: nothing goes.
    got = len(smtp.received)
    tick(admin_app, utcnow() + relativedelta(months=2), pretend=True)
    work(admin_app)
    assert len(smtp.received) == got == 1

    # Unsubscribed already: the action says so, and records nothing more.
    with pytest.raises(Refused) as again:
        on_reader(admin_app, readers.unsubscribe, actor=COACH, now=utcnow())
    assert again.value.errors == {
        "status": ["They are unsubscribed already: nothing goes to them."]
    }
    assert len(facts(admin_app)["events"]) == 1


def test_a_reader_the_coach_took_off_is_told_so_not_that_they_unsubscribed(admin_app, smtp):
    an_active_reader(admin_app, smtp)
    link = started_path(admin_app, ANN)
    on_reader(admin_app, readers.unsubscribe, actor=COACH, now=utcnow())
    page = text_of(admin_app.test_client().get(link).get_data(as_text=True))
    assert "I've taken you off my list" in page and "You've unsubscribed" not in page
    welcome = text_of(admin_app.test_client().get(link + "?welcome=1").get_data(as_text=True))
    assert "I've taken you off my list since you asked for it" in welcome


# ---- the start date and the job answer ----------------------------------------------------


def test_a_start_date_set_by_the_coach_plans_the_three_notes_at_one_three_and_six_months(
    admin_app, smtp
):
    an_active_reader(admin_app, smtp)
    now = utcnow()
    start = now.date() + timedelta(days=10)
    on_reader(admin_app, readers.change, actor=COACH, now=now, started_on=start.isoformat())

    after = facts(admin_app)
    assert after["job_status"] == "started" and after["started_on"] == start
    anchor = start_anchor(start, ZoneInfo("UTC"))
    planned = {step: due for (kind, step, status), due in after["deliveries"].items()}
    assert {k: planned[k] for k in NOTES} == {
        k: anchor + relativedelta(months=n) for k, n in NOTES.items()
    }
    notes = {(k, s) for (kind, k, s) in after["deliveries"] if kind in ("drip", "checkin")}
    assert {s for k, s in notes if k in NOTES} == {"scheduled"}
    assert {s for k, s in notes if k.startswith("checkin")} == {"cancelled"}  # they answered
    assert after["events"] == [
        f"Set their start date to {start:%A}, {start:%B} {start.day}, {start.year}: "
        "the after-hire notes follow it."
    ]

    # The reader object the admin API answers with: exactly these keys, by subject.
    with admin_app.test_request_context():
        shown = readers.view(readers.find(ANN), now)
    assert set(shown) == {
        "public_id",
        "name",
        "email",
        "status",
        "job_answer",
        "started_on",
        "planned",
        "sent",
    }
    assert (shown["status"], shown["job_answer"], shown["started_on"]) == (
        "active",
        "started",
        start.isoformat(),
    )
    assert [(e["key"], e["subject"]) for e in shown["planned"]] == [
        ("month-1", "A month in: who helped you get here?"),
        ("month-3", "Give before you need"),
        ("month-6", "Six months in: tell them how it's going"),
    ]
    assert shown["planned"][0]["due_at"] == (anchor + relativedelta(months=1)).isoformat()
    assert [(e["key"], e["subject"]) for e in shown["sent"]] == [("confirm", CONFIRM_SUBJECT)]

    # Cleared: the notes wait for a date again, and the check-ins ask once more.
    on_reader(admin_app, readers.change, actor=COACH, now=now, started_on=None)
    cleared = facts(admin_app)
    assert (cleared["job_status"], cleared["started_on"], cleared["anchor_at"]) == (
        "unknown",
        None,
        None,
    )
    states = {(k, s) for (kind, k, s) in cleared["deliveries"]}
    assert {s for k, s in states if k in NOTES} == {"held"}
    assert {s for k, s in states if k.startswith("checkin")} == {"scheduled"}
    with admin_app.test_request_context():
        assert readers.view(readers.find(ANN), now)["job_answer"] is None


def test_the_start_date_and_job_answer_forms_on_the_reader_page(admin_app, operator, smtp):
    an_active_reader(admin_app, smtp)
    page_url = f"/admin/subscribers/{public_id(admin_app)}"
    start = date.today() + timedelta(days=20)
    saved = post(operator, page_url + "/start", {"started_on": start.isoformat()})
    assert saved.status_code == 303
    page = text_of(operator.get(page_url).get_data(as_text=True))
    assert (
        "Start date saved" in page and f"Started the new job on {start.day} {start:%b %Y}" in page
    )

    too_far = date.today() + timedelta(days=400)
    refused = post(operator, page_url + "/start", {"started_on": too_far.isoformat()})
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert re.search(
        r'<p class="error" id="started_on-error">Please enter a start date between', html
    )
    assert f'value="{too_far.isoformat()}"' in html  # what they typed, to correct
    assert facts(admin_app)["started_on"] == start

    assert post(operator, page_url + "/job", {"job_answer": "looking"}).status_code == 303
    assert (facts(admin_app)["job_status"], facts(admin_app)["started_on"]) == ("looking", None)
    assert post(operator, page_url + "/job", {"job_answer": "started"}).status_code == 400
    assert post(operator, page_url + "/job", {"job_answer": "hired"}).status_code == 400
    assert facts(admin_app)["job_status"] == "looking"
    assert post(operator, page_url + "/start", {"clear": "1"}).status_code == 303
    assert facts(admin_app)["job_status"] == "unknown"
    assert facts(admin_app)["events"] == [
        f"Set their start date to {start:%A}, {start:%B} {start.day}, {start.year}: "
        "the after-hire notes follow it.",
        'Set their job answer to "still looking".',
        "Cleared their start date and job answer: the check-ins ask again.",
    ]


# ---- adding a reader by hand --------------------------------------------------------------


def test_a_reader_added_by_hand_gets_a_request_to_confirm(admin_app, operator, smtp):
    page = operator.get("/admin/subscribers").get_data(as_text=True)
    assert 'href="/admin/subscribers/new"' in page
    added = post(
        operator,
        "/admin/subscribers/new",
        {"name": "Bob Stone", "email": "Bob@Example.com", "note": "Asked at the March workshop"},
    )
    assert added.status_code == 303
    work(admin_app)
    (request,) = smtp.messages_to("Bob@example.com")
    assert request["Subject"] == CONFIRM_SUBJECT and "List-Unsubscribe" not in request
    bob = facts(admin_app, "bob@example.com")
    assert bob["status"] == "pending" and bob["email"] == "Bob@example.com"
    assert bob["consents"] == [("operator", "Asked at the March workshop", False, None)]
    assert bob["events"] == ["Added by hand: a request to confirm went to their address."]
    page = text_of(operator.get(added.headers["Location"]).get_data(as_text=True))
    assert "Added. A request to confirm is on its way." in page
    assert "operator:dashboard" in page and "Asked at the March workshop" in page  # consent
    data = operator.get(added.headers["Location"] + "/data.json").get_json()
    (consent,) = data["consents"]
    assert (consent["source"], consent["note"], consent["confirmed_at"]) == (
        "operator",
        "Asked at the March workshop",
        None,
    )

    # Their click puts them on the list, as after the signup form.
    assert admin_app.test_client().post(confirm_link(smtp, "Bob@example.com")).status_code == 303
    assert facts(admin_app, "bob@example.com")["consents"][0][2] is True


def test_a_reader_who_confirmed_in_person_gets_the_worksheet_email_at_once(
    admin_app, operator, smtp
):
    added = post(
        operator,
        "/admin/subscribers/new",
        {"name": "Cat Ng", "email": "cat@example.com", "note": "Phoned", "confirmed": "y"},
    )
    assert added.status_code == 303
    work(admin_app)
    (email,) = smtp.messages_to("cat@example.com")
    assert email["Subject"] == WORKSHEET_SUBJECT
    assert "List-Unsubscribe" in email  # list mail, as single opt-in sends it
    assert "/worksheet/" in email.get_body(("plain",)).get_content()
    cat = facts(admin_app, "cat@example.com")
    assert cat["status"] == "active"
    assert cat["consents"] == [("operator", "Phoned", True, None)]
    assert {(k, s) for (kind, k, s) in cat["deliveries"] if kind == "checkin"} == {
        ("checkin-1", "scheduled"),
        ("checkin-2", "scheduled"),
        ("checkin-3", "scheduled"),
    }
    assert cat["events"] == [
        "Added by hand, confirmed in person: the worksheet email went to them."
    ]
    assert "Added. The worksheet email is on its way." in text_of(
        operator.get(added.headers["Location"]).get_data(as_text=True)
    )


def test_bad_input_is_refused_with_its_message_and_changes_nothing(admin_app, operator, smtp):
    an_active_reader(admin_app, smtp)
    before = counts(admin_app)
    now = utcnow()
    cases = [
        (("  ", "bob@example.com", "Met in person"), {"name": [NAME_MSG]}),
        (("Bob", "bob@example", "Met in person"), {"email": [EMAIL_MSG]}),
        (
            ("Bob", "ANN@example.com", "Met"),
            {"email": ["Another reader already has this address."]},
        ),
        (("Bob", "bob@example.com", "  "), {"note": [readers.reader_checks.NOTE]}),
        (("www.spam.example", "", "x" * 501), None),
    ]
    for (name, email, note), errors in cases:
        with pytest.raises(Refused) as refused:
            act(admin_app, readers.add, name, email, note, confirmed=False, actor=COACH, now=now)
        if errors is not None:
            assert refused.value.errors == errors
        else:
            assert refused.value.errors == {
                "name": [NAME_MSG],
                "email": [EMAIL_MSG],
                "note": ["Please keep the note to 500 characters."],
            }
    for change, errors in [
        ({"name": ""}, {"name": [NAME_MSG]}),
        ({"email": "not an address"}, {"email": [EMAIL_MSG]}),
        ({"started_on": "03/04/2027"}, {"started_on": [readers.reader_checks.DAY_FORMAT]}),
        (
            {"job_answer": "hired"},
            {"job_answer": ["Please choose started, looking or not_changing (or none)."]},
        ),
    ]:
        with pytest.raises(Refused) as refused:
            on_reader(admin_app, readers.change, actor=COACH, now=now, **change)
        assert refused.value.errors == errors
    assert counts(admin_app) == before
    assert facts(admin_app)["name"] == "Ann Lee"

    # From the dashboard: the message beside its field, and the form again.
    added = post(operator, "/admin/subscribers/new", {"name": "", "email": ANN, "note": "Met"})
    assert added.status_code == 400
    html = added.get_data(as_text=True)
    assert f'<p class="error" id="name-error">{NAME_MSG}</p>' in html
    assert '<p class="error" id="email-error">Another reader already has this address.</p>' in html
    assert ">Met</textarea>" in html
    page_url = f"/admin/subscribers/{public_id(admin_app)}"
    renamed = post(operator, page_url + "/name", {"name": "   "})
    assert renamed.status_code == 400
    assert f'<p class="error" id="name-error">{NAME_MSG}</p>' in renamed.get_data(as_text=True)
    assert counts(admin_app) == before and facts(admin_app)["name"] == "Ann Lee"


def test_find_and_by_public_id_say_not_found(app):
    with app.test_request_context():
        for lookup in (lambda: readers.find("nobody@example.com"), lambda: readers.find("x")):
            with pytest.raises(NotFound):
                lookup()
        with pytest.raises(NotFound):
            readers.by_public_id("no-such-id")


# ---- the name and the address -------------------------------------------------------------


def test_a_corrected_address_confirms_again_unless_they_asked_in_person(admin_app, operator, smtp):
    an_active_reader(admin_app, smtp)
    page_url = f"/admin/subscribers/{public_id(admin_app)}"
    assert post(operator, page_url + "/name", {"name": "Ann Lee-Smith"}).status_code == 303

    moved = post(operator, page_url + "/email", {"email": "ann.lee@example.com"})
    assert moved.status_code == 303
    work(admin_app)
    (request,) = smtp.messages_to("ann.lee@example.com")
    assert request["Subject"] == CONFIRM_SUBJECT
    ann = facts(admin_app, "ann.lee@example.com")
    assert (ann["name"], ann["status"]) == ("Ann Lee-Smith", "pending")
    assert ann["consents"] == [
        ("api", None, True, None),
        ("operator", readers.reader_checks.CORRECTED, False, None),
    ]
    assert not {s for (kind, k, s) in ann["deliveries"] if kind == "checkin"} - {"cancelled"}
    assert (
        admin_app.test_client().post(confirm_link(smtp, "ann.lee@example.com")).status_code == 303
    )
    back = facts(admin_app, "ann.lee@example.com")
    assert back["status"] == "active" and back["consents"][1][2] is True
    assert "scheduled" in {s for (kind, k, s) in back["deliveries"] if kind == "checkin"}

    # They asked for it in person: no request, still on the list.
    got = len(smtp.received)
    kept = post(operator, page_url + "/email", {"email": "ann@work.example", "in_person": "y"})
    assert kept.status_code == 303
    work(admin_app)
    assert len(smtp.received) == got
    assert facts(admin_app, "ann@work.example")["status"] == "active"
    assert facts(admin_app, "ann@work.example")["events"] == [
        "Changed their name.",
        "Corrected their email address: a request to confirm went to the new one.",
        "Corrected their email address, as they asked in person.",
    ]

    # An address another reader has is refused, and nothing changes.
    an_active_reader(admin_app, smtp, "bob@example.com", "Bob Stone")
    taken = post(operator, page_url + "/email", {"email": "BOB@example.com", "in_person": "y"})
    assert taken.status_code == 400
    html = taken.get_data(as_text=True)
    assert '<p class="error" id="email-error">Another reader already has this address.</p>' in html
    assert 'value="BOB@example.com"' in html and "checked" in html
    assert facts(admin_app, "ann@work.example")["email"] == "ann@work.example"


# ---- resending the worksheet --------------------------------------------------------------


def test_resending_the_worksheet_keeps_the_usual_limits(admin_app, operator, smtp):
    an_active_reader(admin_app, smtp)
    with admin_app.app_context():
        sent_at = find_by_address(ANN).worksheet_sent_at
        db.session.remove()
    with pytest.raises(Refused) as soon:
        on_reader(
            admin_app, readers.resend_worksheet, actor=COACH, now=sent_at + timedelta(minutes=1)
        )
    assert soon.value.errors == {
        "worksheet": [
            "An email went to them less than 10 minutes ago (RESEND_MINUTES): "
            "try again in 9 minutes."
        ]
    }
    assert facts(admin_app)["events"] == []

    # From the dashboard, at once: the same refusal, on the page.
    page_url = f"/admin/subscribers/{public_id(admin_app)}"
    refused = post(operator, page_url + "/resend")
    assert refused.status_code == 400
    assert "less than 10 minutes ago" in text_of(refused.get_data(as_text=True))

    on_reader(admin_app, readers.resend_worksheet, actor=COACH, now=sent_at + timedelta(minutes=11))
    work(admin_app)
    again = smtp.messages_to(ANN)[-1]
    assert again["Subject"] == WORKSHEET_SUBJECT and "List-Unsubscribe" in again
    assert facts(admin_app)["events"] == ["Sent the worksheet email again."]


def test_an_address_that_never_confirmed_is_asked_three_times_at_most(make_app, smtp):
    app = make_app(RESEND_MINUTES="0")
    signup(app.test_client())
    now = utcnow()
    for _ in range(2):
        on_reader(app, readers.resend_worksheet, actor=COACH, now=now)
    with pytest.raises(Refused) as refused:
        on_reader(app, readers.resend_worksheet, actor=COACH, now=now)
    assert refused.value.errors == {
        "worksheet": ["They were asked to confirm 3 times and never did: Tend does not ask again."]
    }
    assert facts(app)["events"] == ["Sent the request to confirm again."] * 2


# ---- the audit log ------------------------------------------------------------------------


def logged(html: str) -> list[str]:
    """The rows of a page's activity table, as read, without their times."""
    table = re.search(r'<table class="activity".*?</table>', html, re.S).group(0)
    rows = [text_of(r) for r in re.findall(r"<tr><td>.*?</tr>", table, re.S)]
    return [re.sub(r"^\d+ \w+ \d{4}, \d\d:\d\d \w+ ", "", r) for r in rows]


def test_every_action_is_on_the_readers_page_and_on_the_activity_page(admin_app, operator, smtp):
    an_active_reader(admin_app, smtp)
    page_url = f"/admin/subscribers/{public_id(admin_app)}"
    for path, data in [
        ("/name", {"name": "Ann B. Lee"}),
        ("/job", {"job_answer": "not_changing"}),
        ("/unsubscribe", {"confirmed": "1"}),
    ]:
        assert post(operator, page_url + path, data).status_code == 303
    on_reader(admin_app, readers.change, actor=Actor("api"), now=utcnow(), name="Ann Lee")

    rows = logged(operator.get(page_url).get_data(as_text=True))
    session = re.search(r"Dashboard \(session ([0-9a-f]{8})\)", rows[1]).group(1)
    dashboard = f"Dashboard (session {session})"
    unsubscribed = (
        "Unsubscribed them: nothing more goes to them; their history and consent are kept."
    )
    assert rows == [
        "Admin API Changed their name.",
        f"{dashboard} {unsubscribed}",
        f'{dashboard} Set their job answer to "not changing jobs".',
        f"{dashboard} Changed their name.",
    ]

    html = operator.get("/admin/activity").get_data(as_text=True)
    assert '<a href="/admin/activity">Activity</a>' in html  # in the navigation
    assert logged(html) == [
        "Admin API Ann Lee ann@example.com Changed their name.",
        f"{dashboard} Ann Lee ann@example.com {unsubscribed}",
        f'{dashboard} Ann Lee ann@example.com Set their job answer to "not changing jobs".',
        f"{dashboard} Ann Lee ann@example.com Changed their name.",
    ]
    assert f'href="{page_url}">Ann Lee</a>' in html

    # Deleted: the log keeps what was done, and names no one.
    assert post(operator, page_url + "/delete").status_code == 303
    rows = logged(operator.get("/admin/activity").get_data(as_text=True))
    assert len(rows) == 5 and "ann@example.com" not in " ".join(rows)
    assert rows[0] == (
        f"{dashboard} – Deleted a reader with their consent records and emails; "
        "the address stays suppressed."
    )


def test_the_activity_page_pages_through_every_event_newest_first(admin_app, operator):
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with admin_app.app_context():
        for n in range(1, 251):
            audit.record(Actor("api"), "test", f"Event {n}.", now=start + timedelta(minutes=n))
        db.session.commit()

    def summaries(page: str) -> list[str]:
        html = operator.get("/admin/activity" + page).get_data(as_text=True)
        return [row.rpartition(" ")[2] for row in logged(html)], text_of(html)

    first, text = summaries("")
    assert first == [f"{n}." for n in range(250, 150, -1)]
    assert "1 to 100 of 250" in text and "Page 1 of 3" in text and "Older" in text
    assert "Newer" not in text
    third, text = summaries("?page=3")
    assert third == [f"{n}." for n in range(50, 0, -1)]
    assert "201 to 250 of 250" in text and "Newer" in text and "Older" not in text
    assert summaries("?page=2")[0] == [f"{n}." for n in range(150, 50, -1)]
    # A page past the end is the last; one that is not a number, the first.
    assert summaries("?page=99")[0] == summaries("?page=" + "9" * 40)[0] == third
    for odd in ("0", "-1", "x", "2.5", "%EF%BC%92", ""):
        assert summaries(f"?page={odd}")[0] == first, odd


# ---- the dashboard's times ----------------------------------------------------------------


def test_times_are_in_the_coachs_zone_to_the_minute():
    at = datetime(2026, 12, 7, 20, 14, 59, 123456, tzinfo=UTC)
    assert in_zone(at, ZoneInfo("Europe/Paris")) == "7 Dec 2026, 21:14 CET"
    assert in_zone(at, ZoneInfo("America/Chicago")) == "7 Dec 2026, 14:14 CST"
    assert in_zone(at.replace(month=7), ZoneInfo("Europe/London")) == "7 Jul 2026, 21:14 BST"


def test_the_dashboard_shows_times_in_the_coachs_zone(make_app, smtp):
    app = make_app(ADMIN_PASSWORD=ADMIN_PASSWORD, COACH_TIMEZONE="Asia/Tokyo")
    operator = admin_client(app)
    login(operator)
    signup(app.test_client())
    with app.app_context():
        signed = find_by_address(ANN).created_at
        db.session.remove()
    local = signed.astimezone(ZoneInfo("Asia/Tokyo"))
    shown = f"{local.day} {local:%b %Y, %H:%M} JST"
    listing = operator.get("/admin/subscribers").get_data(as_text=True)
    assert f'<time datetime="{signed.isoformat()}">{shown}</time>' in listing
    page = operator.get(f"/admin/subscribers/{public_id(app)}").get_data(as_text=True)
    assert f">{shown}</time>" in page  # signed up, consent given, the email's due time
    assert not re.search(r">\d{4}-\d\d-\d\dT\d\d:\d\d", page)  # no raw ISO time shown
    assert "JST" in text_of(operator.get("/admin/").get_data(as_text=True))


def test_emails_are_listed_by_the_subject_the_coach_published(admin_app, operator, smtp):
    from studio import emails

    an_active_reader(admin_app, smtp)
    now = utcnow()
    on_reader(admin_app, readers.change, actor=COACH, now=now, job_answer="looking")
    with admin_app.test_request_context():
        month = emails.get("checkin-1")
        emails.publish(
            "checkin-1",
            subject="Any news on the job front?",
            preheader=month["preheader"],
            body=month["body"],
            actor=COACH,
            now=now,
        )
        shown = readers.view(readers.find(ANN), now)
        db.session.remove()
    assert ("checkin-1", "Any news on the job front?") in [
        (e["key"], e["subject"]) for e in shown["planned"]
    ]
    page = operator.get(f"/admin/subscribers/{public_id(admin_app)}").get_data(as_text=True)
    assert '<td class="subject" data-key="checkin-1">Any news on the job front?</td>' in page


def test_the_readers_page_says_each_email_kind_and_the_profile_in_words(admin_app, operator, smtp):
    an_active_reader(admin_app, smtp)
    answer(admin_app, ANN, "started", now=utcnow(), started_on=date.today() + timedelta(days=3))
    html = operator.get(f"/admin/subscribers/{public_id(admin_app)}").get_data(as_text=True)
    table = re.search(r'<table class="reader-emails">.*?</table>', html, re.S).group(0)
    rows = [text_of(r) for r in re.findall(r"<tr><td.*?</tr>", table, re.S)]
    assert rows[0].startswith(f"{CONFIRM_SUBJECT} Request to confirm sent")
    kinds = {re.search(r" (After-hire note|Check-in) ", r).group(1) for r in rows[1:]}
    assert kinds == {"After-hire note", "Check-in"}
    heads = text_of(re.search(r"<thead>.*?</thead>", table, re.S).group(0))
    assert heads == "Email Kind Status Earliest Goes out (their time) Sent Last error"

    profile = text_of(re.search(r'<dl class="meta">.*?</dl>', html, re.S).group(0))
    assert "Status On the list" in profile
    assert "Their job answer Started (or has a start date)" in profile
    assert "After-hire notes count from" in profile and "Greeted as –" in profile
    for raw in ("Drip anchor", "Job status", "Called name", "started"):
        assert f"{raw} " not in profile
    # The download keeps its own keys.
    data = operator.get(f"/admin/subscribers/{public_id(admin_app)}/data.json").get_json()
    assert data["profile"]["job_status"] == "started" and "drip_anchor_at" in data["profile"]
