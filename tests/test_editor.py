"""The email editor in the dashboard, through the test client: an edit published from the
form (publish, then confirm) reaches the next email and never the sent one, bad words are
refused next to their field, revert brings old words back, the confirmation's numbers are
what the next tick moves, check-ins are added and removed, every POST needs the CSRF token
and no GET or HEAD changes anything. Real Redis, a real worker, SMTP on loopback; the
clock's ticks are passed their time."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from html import unescape

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from support import ADMIN_PASSWORD, admin_client, answer, csrf_from, login, tick, work

from models import AuditEvent, ContentVersion, Delivery, DeliveryStatus, Subscriber, db
from signup import service

JOINED = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)  # a Monday
SUBJECT = "A month in, {{ first_name }}: who helped?"
BODY = "Hi {{ first_name }},\n\nNEW WORDS for {{ first_name }}: thank *one* person.\n\nWarmly,  \n{{ coach_name }}\n"


@pytest.fixture
def admin_app(make_app):
    return make_app(ADMIN_PASSWORD=ADMIN_PASSWORD)


@pytest.fixture
def coach(admin_app):
    client = admin_client(admin_app)
    assert login(client).status_code == 303
    return client


def join(app, name: str, email: str, started: date | None) -> None:
    """A reader signs up, confirms at JOINED and (with a day) gives their start date."""
    client = app.test_client()
    assert client.post("/api/subscribe", json={"name": name, "email": email}).status_code == 202
    work(app)
    with app.test_request_context():
        sub = db.session.scalar(select(Subscriber).where(Subscriber.email_key == email))
        service.confirm(sub, now=JOINED, ip="127.0.0.1")
    if started:
        answer(app, email, "started", now=JOINED, started_on=started)


def text(response) -> str:
    return unescape(response.get_data(as_text=True))


def plain(page: str) -> str:
    """A page's words without its tags, as one line."""
    return " ".join(re.sub(r"<[^>]+>", "", page).split())


def fields_of(coach, key: str) -> dict[str, str]:
    """The editor's form as the page fills it, with its CSRF token."""
    html = coach.get(f"/admin/emails/{key}").get_data(as_text=True)
    found = {"csrf_token": csrf_from(html)}
    for name in ("subject", "preheader", "offset"):
        match = re.search(rf'<input type="text" id="{name}" name="{name}" value="([^"]*)"', html)
        if match:
            found[name] = unescape(match.group(1))
    body = re.search(r'<textarea id="body" name="body"[^>]*>(.*?)</textarea>', html, re.S)
    found["body"] = unescape(body.group(1))
    return found


def publish(coach, key: str, **changes) -> tuple[str, object]:
    """Publish from the page: the first POST (its confirmation page), then Confirm with
    the fields that page carries back."""
    form = fields_of(coach, key) | changes
    asked = coach.post(f"/admin/emails/{key}/publish", data=form)
    assert asked.status_code == 200, text(asked)
    page = asked.get_data(as_text=True)
    carried = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    carried = {k: unescape(v) for k, v in carried.items()} | {"csrf_token": csrf_from(page)}
    assert carried["confirmed"] == "1" and carried["body"] == form["body"].replace("\r\n", "\n")
    return text(asked), coach.post(f"/admin/emails/{key}/publish", data=carried)


def impact_of(page: str, what: str) -> int:
    return int(re.search(rf'data-impact="{what}">[^<]*<strong>(\d+)</strong>', page).group(1))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def month_1_subjects(smtp, address: str) -> list[str]:
    return [m["Subject"] for m in smtp.messages_to(address) if "worksheet" not in m["Subject"]]


def test_an_edit_from_the_form_reaches_the_next_email_not_the_sent_one(admin_app, coach, smtp):
    join(admin_app, "Ann Lee", "ann@example.com", date(2026, 11, 2))  # month-1: Wed 2 Dec
    join(admin_app, "Bo Chen", "bo@example.com", date(2026, 11, 16))  # month-1: Wed 16 Dec
    tick(admin_app, datetime(2026, 12, 2, 14, 0, tzinfo=UTC))
    work(admin_app)
    assert month_1_subjects(smtp, "ann@example.com") == ["A month in: who helped you get here?"]

    confirm, done = publish(coach, "month-1", subject=SUBJECT, body=BODY)
    assert "This reaches 1 planned email" in plain(confirm)  # Bo's; Ann's is sent
    assert done.status_code == 303 and done.headers["Location"] == "/admin/emails/month-1"
    page = text(coach.get("/admin/emails/month-1"))
    assert "Published version 2: “A month in, {{ first_name }}: who helped?”." in page
    assert f'value="{SUBJECT}"' in page and "version 2" in page

    tick(admin_app, datetime(2026, 12, 16, 14, 0, tzinfo=UTC))
    work(admin_app)
    (bo,) = smtp.messages_to("bo@example.com")[1:]
    assert bo["Subject"] == "A month in, Bo: who helped?"
    assert "NEW WORDS for Bo: thank one person." in bo.get_body(("plain",)).get_content()
    html = bo.get_body(("html",)).get_content()
    assert "NEW WORDS for Bo: thank <em>one</em> person." in html
    assert month_1_subjects(smtp, "ann@example.com") == ["A month in: who helped you get here?"]
    with admin_app.app_context():
        (event,) = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "email.publish")
        )
        assert re.fullmatch(r"dashboard:\S{8}", event.actor)


def test_an_unknown_variable_is_refused_on_the_page_and_nothing_is_published(
    admin_app, coach, smtp
):
    form = fields_of(coach, "month-1") | {"body": "Hi {{ first_name }},\n\nYour {{ salary }}?\n"}
    for confirmed in ("", "1"):  # the first POST, or a Confirm sent straight away
        refused = coach.post("/admin/emails/month-1/publish", data=form | {"confirmed": confirmed})
        assert refused.status_code == 422
        page = text(refused)
        error = re.search(r'<div class="error" id="body-error"[^>]*>(.*?)</div>', page, re.S).group(
            1
        )
        assert "line 3: unknown variable {{ salary }}" in error
        assert 'aria-invalid="true"' in page and "Your {{ salary }}?" in page  # words kept
    with admin_app.app_context():
        assert count(ContentVersion) == 0 and count(AuditEvent) == 0
    assert "version 1 (the shipped default)" in text(coach.get("/admin/emails/month-1"))


def test_bad_words_are_named_next_to_each_field(coach):
    form = fields_of(coach, "month-3") | {"subject": "", "offset": "soon"}
    page = text(coach.post("/admin/emails/month-3/publish", data=form))
    assert re.search(r'id="subject-error"[^>]*><p>The subject is empty', page)
    assert re.search(r"id=\"offset-error\"[^>]*><p>The offset 'soon' cannot be read", page)


def test_each_problem_of_a_field_is_its_own_line(coach):
    body = "Hi <b>there</b>, [a link](http://example.com)\n"
    page = text(
        coach.post(
            "/admin/emails/month-3/publish", data=fields_of(coach, "month-3") | {"body": body}
        )
    )
    error = re.search(r'<div class="error" id="body-error"[^>]*>(.*?)</div>', page, re.S).group(1)
    lines = re.findall(r"<p>(.*?)</p>", error)
    assert len(lines) == 2, error
    assert lines[0].startswith("line 1: HTML is not allowed") and lines[0].endswith(
        "write Markdown"
    )
    assert lines[1].startswith("line 1: links must start with https://")


def test_revert_from_the_page_brings_the_old_words_back(coach):
    shipped = fields_of(coach, "month-6")
    publish(coach, "month-6", subject="Half a year, {{ first_name }}", body=BODY)
    page = text(coach.get("/admin/emails/month-6"))
    assert "Revert to version 1" in page and "Current" in page
    # Revert asks first, as Publish… does: what the old words reach, and nothing changes yet.
    asked = coach.post(
        "/admin/emails/month-6/revert",
        data={"csrf_token": csrf_from(page), "version": "1"},
    )
    assert asked.status_code == 200
    shown = plain(text(asked))
    assert f"Revert to version 1, “{shipped['subject']}”?" in shown
    assert "Version 1's words are published again, as a new version." in shown
    assert "This reaches 0 planned emails now" in shown
    assert fields_of(coach, "month-6")["subject"] == "Half a year, {{ first_name }}"
    back = coach.post(
        "/admin/emails/month-6/revert",
        data={
            "csrf_token": csrf_from(asked.get_data(as_text=True)),
            "version": "1",
            "confirmed": "1",
        },
    )
    assert back.status_code == 303
    page = text(coach.get("/admin/emails/month-6"))
    assert "Version 1 is back, published as version 3." in page
    assert fields_of(coach, "month-6") | {"csrf_token": ""} == shipped | {"csrf_token": ""}
    assert "Revert to version 2" in page and "Shipped with Tend" in page
    bad = coach.post(
        "/admin/emails/month-6/revert", data={"csrf_token": csrf_from(page), "version": "x"}
    )
    assert bad.status_code == 303
    assert "month-6 has no version" in text(coach.get("/admin/emails/month-6"))


def test_the_confirmation_says_what_a_new_offset_moves_and_the_next_tick_moves_that_many(
    admin_app, coach
):
    join(admin_app, "Ann Lee", "ann@example.com", date(2026, 11, 2))
    join(admin_app, "Bo Chen", "bo@example.com", date(2026, 11, 16))
    tick(admin_app, datetime(2026, 11, 19, 14, 0, tzinfo=UTC))  # the file's offsets recorded
    with admin_app.app_context():
        before = _due("month-3")
    subject = fields_of(coach, "month-3")["subject"]
    confirm, done = publish(coach, "month-3", offset="10 weeks")
    # Activity names the email by its subject and the move in words.
    assert (
        f"Published “{subject}” (version 2); moved from 3 months to 10 weeks after the start date"
        in plain(text(coach.get("/admin/activity")))
    )
    assert (impact_of(confirm, "reach"), impact_of(confirm, "moved")) == (2, 2)
    assert "from 3 months after the start date to 10 weeks after the start date" in plain(confirm)
    assert "sent ones are untouched" in confirm
    assert done.status_code == 303
    assert "10 weeks after the start date" in text(coach.get("/admin/emails"))
    tick(admin_app, datetime(2026, 11, 20, 14, 0, tzinfo=UTC))
    with admin_app.app_context():
        after = _due("month-3")
    assert len([k for k in before if before[k] != after[k]]) == impact_of(confirm, "moved")
    assert after["ann@example.com"].date() == date(2027, 1, 11)  # 2 Nov + 10 weeks
    # The same words at the same offset move nothing, and say so.
    again, _ = publish(coach, "month-3")
    assert impact_of(again, "reach") == 2 and 'data-impact="moved"' not in again


def _due(step: str) -> dict[str, datetime]:
    rows = db.session.execute(
        select(Subscriber.email, Delivery.due_at)
        .join(Delivery, Delivery.subscriber_id == Subscriber.id)
        .where(Delivery.step == step)
    )
    return dict(rows.all())


def test_the_confirmation_asks_about_words_that_name_another_span_than_the_timing(coach):
    # checkin-2 says "about three months since you signed up": moved to 6 weeks, it asks.
    form = fields_of(coach, "checkin-2") | {"offset": "6 weeks"}
    page = plain(text(coach.post("/admin/emails/checkin-2/publish", data=form)))
    assert (
        "The words say “three months”, but this note's timing is 6 weeks: is that still true?"
        in page
    )
    # Words that fit the timing, and the shipped ones as they are, raise nothing.
    for key, changes in (("checkin-2", {}), ("month-6", {}), ("checkin-1", {"offset": "7 weeks"})):
        page = plain(
            text(coach.post(f"/admin/emails/{key}/publish", data=fields_of(coach, key) | changes))
        )
        assert "is that still true?" not in page, key
    # Nothing is published by the question: it is a warning, and Confirm still publishes.
    form["confirmed"] = "1"
    assert coach.post("/admin/emails/checkin-2/publish", data=form).status_code == 303


def test_a_check_in_is_added_and_removed_from_the_dashboard(admin_app, coach):
    join(admin_app, "Cy Park", "cy@example.com", None)
    listing = coach.get("/admin/emails").get_data(as_text=True)
    empty = coach.post(
        "/admin/emails",
        data={"csrf_token": csrf_from(listing), "offset": "9 months", "subject": "", "body": "Hi"},
    )
    assert empty.status_code == 422 and "The subject is empty" in text(empty)
    added = coach.post(
        "/admin/emails",
        data={
            "csrf_token": csrf_from(listing),
            "offset": "9 months",
            "subject": "Nine months on, {{ first_name }}",
            "preheader": "",
            "body": "Hi {{ first_name }},\n\nStill there?\n",
        },
    )
    assert added.status_code == 303 and added.headers["Location"] == "/admin/emails/checkin-4"
    listing = text(coach.get("/admin/emails"))
    assert (
        "Added the check-in “Nine months on, {{ first_name }}”, 9 months after confirming."
        in listing
    )
    row = re.search(r'<tr data-key="checkin-4">(.*?)</tr>', listing, re.S).group(1)
    assert "Check-in" in row and "9 months after confirming" in row
    tick(admin_app, datetime(2026, 11, 3, 14, 0, tzinfo=UTC))
    with admin_app.app_context():
        assert list(_due("checkin-4")) == ["cy@example.com"]

    page = coach.get("/admin/emails/checkin-2").get_data(as_text=True)
    asked = coach.post("/admin/emails/checkin-2/remove", data={"csrf_token": csrf_from(page)})
    assert asked.status_code == 200
    assert (
        "This drops 1 planned note" in plain(text(asked)) and impact_of(text(asked), "dropped") == 1
    )
    removed = coach.post(
        "/admin/emails/checkin-2/remove", data={"csrf_token": csrf_from(page), "confirmed": "1"}
    )
    assert removed.status_code == 303 and removed.headers["Location"] == "/admin/emails"
    listing = text(coach.get("/admin/emails"))
    assert "1 planned note dropped; sent ones are untouched." in listing
    activity = plain(text(coach.get("/admin/activity")))
    assert (
        "Added the check-in “Nine months on, {{ first_name }}”, sent 9 months after confirming"
        in activity
    )
    assert re.search(r"Removed the check-in “[^”]+” \(1 planned note dropped\)", activity)
    assert 'data-key="checkin-2"' not in listing
    assert coach.get("/admin/emails/checkin-2").status_code == 404
    tick(admin_app, datetime(2026, 11, 3, 15, 0, tzinfo=UTC))
    with admin_app.app_context():
        status = db.session.scalar(select(Delivery.status).where(Delivery.step == "checkin-2"))
        assert status == DeliveryStatus.CANCELLED
    # A step has no Remove button, and a forged removal is refused.
    assert "Remove this check-in" not in text(coach.get("/admin/emails/month-1"))
    coach.post(
        "/admin/emails/month-1/remove", data={"csrf_token": csrf_from(page), "confirmed": "1"}
    )
    assert "only check-ins can be removed" in text(coach.get("/admin/emails/month-1"))
    assert 'data-key="month-1"' in text(coach.get("/admin/emails"))


def test_the_listing_names_every_email_by_subject_kind_timing_and_version(coach):
    listing = text(coach.get("/admin/emails"))
    rows = dict(re.findall(r'<tr data-key="([\w-]+)">(.*?)</tr>', listing, re.S))
    assert list(rows) == [
        "confirm", "worksheet", "month-1", "month-3", "month-6", "checkin-1", "checkin-2", "checkin-3"
    ]  # fmt: skip
    assert "Request to confirm" in rows["confirm"] and "Worksheet email" in rows["worksheet"]
    assert (
        "After-hire note" in rows["month-1"] and "1 month after the start date" in rows["month-1"]
    )
    assert "Check-in" in rows["checkin-1"] and "after confirming" in rows["checkin-1"]
    assert "A month in: who helped you get here?" in rows["month-1"]
    assert all("Shipped default" in row for row in rows.values())
    # With double opt-in, a reader who confirms downloads the worksheet on the page the
    # button opens: the listing never says the worksheet email goes when they confirm.
    assert "when someone signs up" in plain(rows["confirm"])
    assert "readers who confirm download the worksheet on the page they confirm on" in plain(
        rows["worksheet"]
    )


def test_without_double_opt_in_the_worksheet_email_is_the_signup_email(make_app):
    app = make_app(ADMIN_PASSWORD=ADMIN_PASSWORD, DOUBLE_OPT_IN="0")
    client = admin_client(app)
    assert login(client).status_code == 303
    listing = text(client.get("/admin/emails"))
    rows = dict(re.findall(r'<tr data-key="([\w-]+)">(.*?)</tr>', listing, re.S))
    assert "when someone signs up, and when you resend it" in plain(rows["worksheet"])
    assert "only when a reader's address changes (double opt-in is off)" in plain(rows["confirm"])


def test_the_preview_renders_unsaved_words_for_the_script_and_without_it(admin_app, coach):
    form = fields_of(coach, "checkin-1") | {
        "subject": "Still with me, {{ first_name }}?",
        "body": "Hi {{ first_name }},\n\n{% if looking %}Still looking?{% endif %}\n",
        "reader": "looking",
    }
    json_ = {"Accept": "application/json"}
    shown = coach.post("/admin/emails/checkin-1/preview", data=form, headers=json_)
    assert shown.status_code == 200 and shown.json["subject"] == "Still with me, Sam?"
    assert "Still looking?" in shown.json["text"] and "Still looking?" in shown.json["html"]
    # A timing that cannot be read is named as it is typed, not only at Publish.
    late = coach.post(
        "/admin/emails/checkin-1/preview", data=form | {"offset": "six weeks"}, headers=json_
    )
    assert late.status_code == 422 and late.json["errors"] == {
        "offset": [
            "The offset 'six weeks' cannot be read: write a number and a unit, such as "
            "1 month, 6 weeks or 10 days."
        ]
    }
    bad = coach.post(
        "/admin/emails/checkin-1/preview", data=form | {"body": "{{ salary }}"}, headers=json_
    )
    assert (
        bad.status_code == 422 and "unknown variable {{ salary }}" in bad.json["errors"]["body"][0]
    )
    # Without the script: the Preview button renders the page with the unsaved words.
    page = text(coach.post("/admin/emails/checkin-1/preview", data=form))
    assert '<dd class="subject">Still with me, Sam?</dd>' in page and "Your unsaved words" in page
    assert re.search(r'<option value="looking" selected>', page)
    assert 'sandbox="" srcdoc="' in coach.get("/admin/emails/checkin-1").get_data(as_text=True)
    with admin_app.app_context():
        assert count(ContentVersion) == 0


def test_a_test_send_carries_the_unsaved_words_and_keeps_them_on_the_page(admin_app, coach, smtp):
    form = fields_of(coach, "month-3") | {
        "subject": "Draft: give first",
        "email": "me@blog.example",
    }
    sent = coach.post("/admin/emails/month-3", data=form)
    assert sent.status_code == 200
    page = text(sent)
    assert "Test sent to me@blog.example." in page and 'value="Draft: give first"' in page
    (received,) = smtp.received
    assert received.message["Subject"] == "[Test] Draft: give first"
    # To the coach's bare address, never the sample reader's name on it; the words still
    # greet the sample reader.
    assert received.message["To"] == "me@blog.example"
    assert "Hi Sam," in received.message.get_body(("plain",)).get_content()
    with admin_app.app_context():
        assert count(ContentVersion) == 0
        event = db.session.scalar(select(AuditEvent))
        assert event.action == "email.test"
        assert event.summary == (
            "Sent a test of “Draft: give first”, as a reader who gave a start date, "
            "to me@blog.example"
        )


def test_the_versions_say_when_in_the_coachs_zone_and_who_in_words(make_app):
    app = make_app(ADMIN_PASSWORD=ADMIN_PASSWORD, COACH_TIMEZONE="America/Chicago")
    coach = admin_client(app)
    assert login(coach).status_code == 303
    publish(coach, "month-1", subject=SUBJECT, body=BODY)
    page = coach.get("/admin/emails/month-1").get_data(as_text=True)
    row = plain(re.search(r'<td class="num">2</td>(.*?)</tr>', page, re.S).group(1))
    assert re.search(
        r"\d{1,2} \w{3} 20\d\d, \d\d:\d\d C[SD]T, Dashboard \(session [0-9a-f]{8}\)", row
    )
    shipped = plain(re.search(r'<td class="num">1</td>(.*?)</tr>', page, re.S).group(1))
    assert "Shipped with Tend" in shipped


def test_a_subject_that_asks_is_asked_once(coach):
    asked = coach.post(
        "/admin/emails/checkin-1/publish",
        data=fields_of(coach, "checkin-1") | {"subject": "Have you started somewhere new?"},
    )
    assert asked.status_code == 200
    assert "<h1>Publish “Have you started somewhere new?”</h1>" in text(asked)
    plain_one = coach.post(
        "/admin/emails/checkin-1/publish",
        data=fields_of(coach, "checkin-1") | {"subject": "Still with me"},
    )
    assert "<h1>Publish “Still with me”?</h1>" in text(plain_one)


POSTS = [
    ("/admin/emails", {"offset": "9 months", "subject": "Hi", "body": "Hi\n"}),
    ("/admin/emails/month-1", {"email": "me@blog.example"}),
    ("/admin/emails/month-1/preview", {"subject": "Hi", "body": "Hi\n"}),
    ("/admin/emails/month-1/publish", {"subject": "Hi", "body": "Hi\n", "offset": "1 month", "confirmed": "1"}),
    ("/admin/emails/month-1/revert", {"version": "1"}),
    ("/admin/emails/checkin-1/remove", {"confirmed": "1"}),
]  # fmt: skip


def _state(app, smtp) -> tuple:
    with app.app_context():
        return count(ContentVersion), count(AuditEvent), count(Delivery), len(smtp.received)


def test_every_post_without_the_csrf_token_is_refused_and_changes_nothing(admin_app, coach, smtp):
    before = _state(admin_app, smtp)
    for path, data in POSTS:
        response = coach.post(path, data=data)
        assert response.status_code == 400, path
        assert "That form expired. Please try again." in text(response), path
        forged = coach.post(path, data=data | {"csrf_token": "forged"})
        assert forged.status_code == 400, path
    json_ = coach.post(POSTS[2][0], data=POSTS[2][1], headers={"Accept": "application/json"})
    assert json_.status_code == 400 and json_.json["errors"]["form"]
    assert _state(admin_app, smtp) == before


def test_get_and_head_never_change_anything(admin_app, coach, smtp):
    join(admin_app, "Ann Lee", "ann@example.com", date(2026, 11, 2))
    before = _state(admin_app, smtp)
    paths = ["/admin/emails"]
    for key in ("confirm", "worksheet", "month-1", "checkin-1"):
        paths += [f"/admin/emails/{key}", f"/admin/emails/{key}/body.html"]
    paths += [
        "/admin/emails/checkin-1?reader=looking",
        "/admin/emails/month-1/body.html?reader=started",
    ]
    for path in paths:
        assert coach.get(path).status_code == 200, path
        assert coach.head(path).status_code == 200, path
    for path, data in POSTS[2:]:  # the POST-only URLs
        assert coach.get(path, query_string=data).status_code == 405, path
        assert coach.head(path, query_string=data).status_code == 405, path
    assert coach.get("/admin/emails/nope").status_code == 404
    assert coach.get("/admin/emails/month-1?reader=looking").status_code == 404
    assert _state(admin_app, smtp) == before


TEXT = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=60),
    st.lists(st.sampled_from(["\x00", "\r", "\n", "{{", "}}", "{%", "%}", "<", "a", " "])).map(
        "".join
    ),
    st.sampled_from(["", "①", "9 months", "x" * 30_000, "{{ first_name }}", "\x00" * 5]),
)
ROUTES = ["preview", "preview.json", "publish", "confirm", "test", "revert", "add", "remove"]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    route=st.sampled_from(ROUTES),
    key=st.sampled_from(["month-1", "checkin-1", "confirm", "worksheet"]),
    fields=st.dictionaries(
        st.sampled_from(["subject", "preheader", "body", "offset", "reader", "version", "email"]),
        TEXT,
        max_size=7,
    ),
)
@example(route="confirm", key="month-1", fields={"subject": "Hi\x00", "body": "A\x00\n"})
@example(
    route="add", key="month-1", fields={"subject": "Hi\x00", "body": "A\x00", "offset": "1 day"}
)
@example(route="test", key="month-1", fields={"subject": "Hi\x00", "email": "me@blog.example"})
@example(route="revert", key="month-1", fields={"version": "①"})
def test_no_words_typed_into_the_editor_make_a_5xx(coach, route, key, fields):
    page = coach.get("/admin/emails").get_data(as_text=True)  # checkin-1 may be gone
    data = fields | {"csrf_token": csrf_from(page)}
    path, headers = f"/admin/emails/{key}/{route.split('.')[0]}", {}
    if route == "preview.json":
        headers = {"Accept": "application/json"}
    elif route in ("confirm", "remove"):
        path, data = (
            path.replace(route, "publish" if route == "confirm" else route),
            data | {"confirmed": "1"},
        )
    elif route == "test":
        path = f"/admin/emails/{key}"
    elif route == "add":
        path = "/admin/emails"
    response = coach.post(path, data=data, headers=headers)
    assert response.status_code < 500, (path, data)
