"""The admin API's routes do what the coach's dashboard does, through the same studio
functions: emails, readers, settings, pages, the worksheet. Every answer is checked
against openapi.json as it comes (`ApiClient`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from dateutil.relativedelta import relativedelta
from support import add_due_drip_rows, tick, work
from support.admin_api import API_TOKEN, ApiClient

from admin.api.schemas import COACH_SETTINGS, STATES
from models import Consent, Subscriber, db, utcnow
from studio import previews

EMAIL_KEYS = ["confirm", "worksheet", "month-1", "month-3", "month-6"]
CHECKINS = ["checkin-1", "checkin-2", "checkin-3"]


def _api(make_app, **env) -> ApiClient:
    return ApiClient(make_app(ADMIN_API_TOKEN=API_TOKEN, **env))


@pytest.fixture
def emails_api(make_app):
    return _api(make_app)


@pytest.fixture
def readers_api(make_app):
    return _api(make_app)


def test_the_reader_states_are_the_previews_own():
    assert [state.key for state in previews.STATES] == STATES


# ---- emails ------------------------------------------------------------------------------


@pytest.mark.parametrize("double_opt_in", ["1", "0"])
def test_every_email_is_listed_whatever_double_opt_in_says(make_app, double_opt_in):
    api = _api(make_app, DOUBLE_OPT_IN=double_opt_in)
    listed = api.get("/emails").get_json()
    assert [e["key"] for e in listed] == EMAIL_KEYS + CHECKINS
    kinds = {e["key"]: e["kind"] for e in listed}
    assert kinds["confirm"] == "confirm" and kinds["worksheet"] == "worksheet"
    assert {kinds[k] for k in ("month-1", "month-3", "month-6")} == {"step"}
    assert {kinds[k] for k in CHECKINS} == {"checkin"}
    offsets = {e["key"]: e["offset"] for e in listed}
    assert offsets["confirm"] is None and offsets["worksheet"] is None
    assert offsets["month-1"] == "1 month"
    assert {e["version"] for e in listed} == {1}


@pytest.mark.parametrize(
    "kinds",
    [
        pytest.param(("step", "checkin"), id="steps-and-checkins"),
        pytest.param(("worksheet", "confirm"), id="worksheet-and-confirm"),
    ],
)
def test_every_shipped_body_goes_back_through_put_unchanged(emails_api, kinds):
    for shown in emails_api.get("/emails").get_json():
        if shown["kind"] not in kinds:
            continue
        words = {k: shown[k] for k in ("subject", "preheader", "body", "offset")}
        put = emails_api.put(f"/emails/{shown['key']}", json=words)
        assert put.status_code == 200, (shown["key"], put.get_json())
        again = put.get_json()
        assert {k: again[k] for k in words} == words
        assert again["version"] == 2


def test_put_publishes_a_version_with_its_history_and_revert_brings_words_back(emails_api):
    month_1 = emails_api.get("/emails/month-1").get_json()
    words = {
        "subject": "A month in, {{ first_name }}",
        "preheader": "p",
        "body": "Hi {{ name }}.\n",
    }
    put = emails_api.put("/emails/month-1", json=words)
    assert put.status_code == 200
    assert put.get_json() | words == put.get_json()
    assert emails_api.get("/emails/month-1").get_json()["version"] == 2
    history = emails_api.get("/emails/month-1/versions").get_json()
    assert [(v["version"], v["subject"]) for v in history] == [
        (2, words["subject"]),
        (1, month_1["subject"]),
    ]
    assert history[0]["published_by"] == "api" and history[0]["published_at"]
    back = emails_api.post("/emails/month-1/revert", json={"version": 1})
    assert back.status_code == 200
    assert back.get_json()["version"] == 3
    assert back.get_json()["subject"] == month_1["subject"]
    assert back.get_json()["body"] == month_1["body"]
    assert emails_api.post("/emails/month-1/revert", json={"version": 99}).status_code == 422
    actions = [e["action"] for e in emails_api.get("/activity").get_json()]
    assert actions[:2] == ["email.revert", "email.publish"]
    assert {e["actor"] for e in emails_api.get("/activity").get_json()} == {"api"}
    # Paged: `offset` skips the newest, `limit` keeps that many.
    everything = emails_api.get("/activity").get_json()
    assert emails_api.get("/activity?limit=1&offset=1").get_json() == everything[1:2]
    assert emails_api.get(f"/activity?offset={len(everything)}").get_json() == []
    assert emails_api.get("/activity?offset=-1").status_code == 422


def test_bad_words_are_refused_naming_the_problem_and_nothing_changes(emails_api):
    good = {"subject": "Hello", "preheader": "", "body": "Hi.", "offset": "1 month"}
    cases = [
        ({"body": "Hi {{ nickname }}."}, "body", "nickname"),
        ({"body": "Hi {{ first_name }."}, "body", "line 1"),
        ({"subject": ""}, "subject", ""),
        ({"subject": "x" * 151}, "subject", "150"),
        ({"offset": "soon"}, "offset", ""),
    ]
    for change, field, named in cases:
        refused = emails_api.put("/emails/month-1", json=good | change)
        assert refused.status_code == 422, change
        messages = " ".join(refused.get_json()["errors"][field])
        assert named in messages, (change, messages)
    assert [v["version"] for v in emails_api.get("/emails/month-1/versions").get_json()] == [1]
    assert emails_api.put("/emails/no-such-email", json=good).status_code == 404


def test_preview_renders_unsaved_words_and_stores_nothing(emails_api):
    shown = emails_api.post("/emails/month-1/preview").get_json()
    assert shown["subject"] and "<html" in shown["html"].lower() and shown["text"]
    unsaved = {"subject": "Unsaved, {{ first_name }}", "body": "Still **here**, {{ first_name }}?"}
    shown = emails_api.post("/emails/month-1/preview", json=unsaved | {"state": "started"})
    assert shown.status_code == 200
    assert shown.get_json()["subject"] == "Unsaved, Sam"
    assert "Still here, Sam?" in shown.get_json()["text"]
    assert "<strong>here</strong>" in shown.get_json()["html"]
    assert emails_api.get("/emails/month-1").get_json()["version"] == 1
    refused = emails_api.post("/emails/month-1/preview", json={"body": "{{ nickname }}"})
    assert refused.status_code == 422 and "nickname" in " ".join(refused.get_json()["errors"]["body"])  # fmt: skip
    never = emails_api.post("/emails/month-1/preview", json={"state": "pending"})
    assert never.status_code == 422 and list(never.get_json()["errors"]) == ["state"]


def test_a_test_send_reaches_the_address_marked_as_a_test(emails_api, smtp):
    sent = emails_api.post("/emails/checkin-1/test", json={"email": "coach@example.com"})
    assert sent.status_code == 200
    assert sent.get_json() == {"key": "checkin-1", "email": "coach@example.com", "state": None}
    (message,) = smtp.messages_to("coach@example.com")
    assert message["Subject"].startswith("[Test] ")


def test_a_checkin_is_added_and_removed_and_a_step_cannot_be(emails_api):
    new = {"kind": "checkin", "offset": "9 months", "subject": "Still there?", "preheader": "", "body": "Hi {{ first_name }}."}  # fmt: skip
    added = emails_api.post("/emails", json=new)
    assert added.status_code == 201
    assert added.get_json()["key"] == "checkin-4" and added.get_json()["offset"] == "9 months"
    assert "checkin-4" in [e["key"] for e in emails_api.get("/emails").get_json()]
    removed = emails_api.delete("/emails/checkin-4")
    assert removed.get_json() == {"key": "checkin-4", "dropped": 0}
    assert emails_api.get("/emails/checkin-4").status_code == 404
    for kept in ("month-1", "worksheet", "confirm"):
        assert emails_api.delete(f"/emails/{kept}").status_code == 422, kept


def test_impact_counts_the_planned_notes_a_change_would_move(emails_api):
    add_due_drip_rows(emails_api.app, 2, utcnow() + timedelta(days=3))
    assert emails_api.post("/emails/month-1/impact").get_json() == {
        "reach": 2,
        "moved": 0,
        "dropped": 0,
    }
    moved = emails_api.post("/emails/month-1/impact", json={"offset": "2 months"}).get_json()
    assert moved["moved"] == 2
    assert emails_api.post("/emails/month-3/impact").get_json()["reach"] == 0
    assert emails_api.post("/emails/month-1/impact", json={"offset": "soon"}).status_code == 422


# ---- readers -----------------------------------------------------------------------------


def _add(api, email="ann@example.com", **more):
    body = {"name": "Ann Lee", "email": email, "note": "Asked after my talk"} | more
    added = api.post("/subscribers", json=body)
    assert added.status_code == 201, added.get_json()
    return added.get_json()


def test_a_reader_added_by_hand_is_found_by_address_and_by_public_id(readers_api):
    ann = _add(readers_api)
    assert ann["status"] == "pending" and ann["name"] == "Ann Lee"
    assert readers_api.get("/subscribers?email=ANN@example.com").get_json() == ann
    assert readers_api.get(f"/subscribers/{ann['public_id']}").get_json() == ann
    with readers_api.app.app_context():
        consent = db.session.query(Consent).one()
        assert consent.source == "operator"
    bob = _add(readers_api, "bob@example.com", confirmed=True)
    assert bob["status"] == "active"
    assert readers_api.post("/subscribers", json={"name": "A", "email": "ann@example.com", "note": ""}).status_code == 422  # fmt: skip
    missing = readers_api.get("/subscribers?email=nobody@example.com")
    assert missing.status_code == 404
    assert list(missing.get_json()["errors"]) == ["email"]
    assert readers_api.get("/subscribers").get_json() == {"errors": {"email": ["Required."]}}
    assert readers_api.get("/subscribers/nobody1234").status_code == 404


def test_a_start_date_set_through_the_api_plans_the_three_notes(readers_api):
    ann = _add(readers_api, confirmed=True)
    day = (utcnow() - timedelta(days=3)).date().isoformat()
    changed = readers_api.patch(f"/subscribers/{ann['public_id']}", json={"started_on": day})
    assert changed.status_code == 200
    seen = changed.get_json()
    assert seen["started_on"] == day and seen["job_answer"] == "started"
    steps = [p for p in seen["planned"] if p["key"].startswith("month-")]
    assert [p["key"] for p in steps] == ["month-1", "month-3", "month-6"]
    start = date.fromisoformat(day)
    for step, months in zip(steps, (1, 3, 6), strict=True):
        due = datetime.fromisoformat(step["due_at"]).date()
        # That day, or the next the window, the send days and the gap allow.
        assert start + relativedelta(months=months) <= due <= start + relativedelta(months=months, days=10), step  # fmt: skip
    bad = readers_api.patch(f"/subscribers/{ann['public_id']}", json={"started_on": "soon"})
    assert bad.get_json() == {"errors": {"started_on": ["Must be a date, YYYY-MM-DD."]}}
    odd = readers_api.patch(f"/subscribers/{ann['public_id']}", json={"job_answer": "maybe"})
    assert list(odd.get_json()["errors"]) == ["job_answer"]


def test_words_put_through_the_api_reach_the_readers_next_note(make_app, smtp):
    api = _api(make_app)
    ann = _add(api, confirmed=True)
    start = (utcnow() + timedelta(days=2)).date().isoformat()
    seen = api.patch(f"/subscribers/{ann['public_id']}", json={"started_on": start}).get_json()
    (month_1,) = [p for p in seen["planned"] if p["key"] == "month-1"]
    words = {
        "subject": "A month in, {{ first_name }}: who helped?",
        "preheader": "Ten minutes of thanks.",
        "body": "Hi {{ first_name }},\n\nNEW WORDS for {{ first_name }}: thank *one* person.\n",
        "offset": "1 month",
    }
    assert api.put("/emails/month-1", json=words).status_code == 200
    # The first weekday afternoon from its day on: inside the sending window.
    when = datetime.fromisoformat(month_1["due_at"]).replace(hour=14)
    while when.weekday() >= 5:
        when += timedelta(days=1)
    tick(api.app, when, pretend=True)
    work(api.app)
    (note,) = [m for m in smtp.messages_to("ann@example.com") if "month in" in m["Subject"]]
    assert note["Subject"] == "A month in, Ann: who helped?"
    parsed = message_from_bytes(note.as_bytes(), policy=policy.default)
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert "NEW WORDS for Ann: thank one person." in " ".join(text.split())
    assert "NEW WORDS for Ann: thank <em>one</em> person." in html


def test_unsubscribe_keeps_the_history_and_resend_answers_with_the_reader(readers_api):
    ann = _add(readers_api, confirmed=True)
    resent = readers_api.post(f"/subscribers/{ann['public_id']}/resend-worksheet")
    assert resent.status_code in (200, 422)
    gone = readers_api.post(f"/subscribers/{ann['public_id']}/unsubscribe")
    assert gone.status_code == 200 and gone.get_json()["status"] == "unsubscribed"
    assert gone.get_json()["planned"] == []
    with readers_api.app.app_context():
        assert db.session.query(Subscriber).count() == 1  # kept, with their consent


# ---- settings, pages, the worksheet ------------------------------------------------------


def test_the_coach_settings_are_read_and_changed_by_name(make_app):
    api = _api(make_app)
    shown = api.get("/settings").get_json()
    assert [s["name"] for s in shown] == COACH_SETTINGS
    assert {s["source"] for s in shown} == {"environment"}
    changed = api.patch("/settings", json={"drip_days": "Mon,Wed"}).get_json()
    days = next(s for s in changed if s["name"] == "drip_days")
    assert days == days | {"value": "Mon,Wed", "source": "dashboard"}
    refused = api.patch("/settings", json={"drip_days": "Funday"})
    assert refused.status_code == 422 and list(refused.get_json()["errors"]) == ["drip_days"]
    assert api.patch("/settings", json={"smtp_host": "x"}).get_json() == {
        "errors": {"smtp_host": ["Unknown field."]}
    }


def test_a_page_text_is_published_with_its_warning(make_app):
    api = _api(make_app)
    keys = [page["key"] for page in api.get("/pages").get_json()]
    assert {"form", "thanks", "started"} <= set(keys)
    put = api.put("/pages/form", json={"fields": {"fine_print": "No spam, ever."}})
    assert put.status_code == 200
    assert put.get_json()["fields"]["fine_print"] == "No spam, ever."
    assert put.get_json()["warnings"]  # the rule that notes count from the start date
    assert api.put("/pages/nope", json={"fields": {}}).status_code == 404


def test_the_worksheet_goes_back_through_put_with_a_question_changed(make_app):
    api = _api(make_app)
    sheet = api.get("/worksheet").get_json()
    assert sheet["title"] and sheet["build"]["state"] in ("building", "ready", "failed")
    question = next(i for s in sheet["sections"] for i in s["items"] if i["kind"] == "question")
    question["text"] = "What would make you stay five years?"
    put = api.put("/worksheet", json=sheet)
    assert put.status_code == 200, put.get_json()
    texts = [i.get("text") for s in put.get_json()["sections"] for i in s["items"]]
    assert "What would make you stay five years?" in texts
    assert put.get_json()["version"] == sheet["version"] + 1
    empty = api.put("/worksheet", json={"title": "", "sections": []})
    assert empty.status_code == 422
