"""The pages' texts as the coach's content: edited in the dashboard, shown to the next
reader, kept as versions, put back, exported and imported. What readers are promised (the
contract's messages, the fine print's rule) stays."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from support import (
    ADMIN_PASSWORD,
    BANNER,
    EMAIL_MSG,
    NAME_MSG,
    admin_client,
    csrf_from,
    login,
    signup,
    started_path,
)

from campaigns.content import store
from models import AuditEvent, Consent, db
from signup import messages
from studio import emails, pages
from studio.audit import API, CLI, Actor
from studio.errors import NotFound, Refused

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
RATE_LIMITED = "Too many tries from your network. Please wait a minute and try again."
SHIPPED_HEADING = "Do you want to make sure you're happy in your next job?"
SHIPPED_FINE = (
    "I'll email you the worksheet, and now and then (three times at most) ask whether "
    "you've started a new job. Once you tell me your start date, three short notes follow, "
    "1, 3 and 6 months in. Unsubscribe any time."
)


@pytest.fixture
def admin_app(make_app):
    return make_app(ADMIN_PASSWORD=ADMIN_PASSWORD)


@pytest.fixture
def operator(admin_app):
    client = admin_client(admin_app)
    assert login(client).status_code == 303
    return client


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def publish_in_dashboard(operator, key: str, **fields):
    page = operator.get("/admin/pages").get_data(as_text=True)
    current = pages.PAGES[key][1]
    with operator.application.app_context():
        shown = pages.view()[key]
    data = {f.name: shown[f.name] for f in current} | fields
    return operator.post(f"/admin/pages/{key}", data={"csrf_token": csrf_from(page), **data})


def test_the_shipped_words_are_todays_and_in_one_file(client, app):
    form, thanks = text_of(client.get("/signup")), text_of(client.get("/signup/thanks"))
    assert SHIPPED_HEADING in form and "Send me the worksheet" in form and SHIPPED_FINE in form
    assert "Check your inbox for the worksheet" in thanks
    with app.app_context():
        assert pages.version() == 1 and pages.versions()[0]["published_at"] is None
        # The coach edits the sentence with its placeholders; readers read it filled in.
        assert pages.view()["form"]["fine_print"] == SHIPPED_FINE.replace(
            "three times", "{checkins}"
        ).replace("1, 3 and 6 months", "{notes_at}")
        assert pages.view()["started"]["looking"] == "Not yet, still looking"


def test_edited_heading_and_thanks_reach_the_hosted_pages_and_the_embed(operator):
    answer = publish_in_dashboard(operator, "form", heading="Find the job that fits <you>")
    assert answer.status_code == 303
    answer = publish_in_dashboard(
        operator, "thanks", heading="Look in your inbox", text="It's on its way, & soon."
    )
    assert answer.status_code == 303
    shown = operator.get("/admin/pages")
    assert "Published: the thank-you page shows the new words now." in text_of(shown)

    reader = operator.application.test_client()
    form = reader.get("/signup").get_data(as_text=True)
    assert "<h1>Find the job that fits &lt;you&gt;</h1>" in form  # plain text, escaped
    assert SHIPPED_HEADING not in html.unescape(form)
    thanks = text_of(reader.get("/signup/thanks"))
    assert "Look in your inbox" in thanks and "It's on its way, & soon." in thanks
    assert "Check your inbox for the worksheet" not in thanks
    embed = reader.get("/embed.js").get_data(as_text=True)
    assert '"heading": "Look in your inbox"' in embed and "Check your inbox" not in embed

    with operator.application.app_context():
        events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert [e.action for e in events] == ["pages.publish", "pages.publish"]
        assert events[0].actor.startswith("dashboard:") and len(events[0].actor) == 18
        assert events[1].summary == "Published the texts of the thank-you page (version 3)"


def test_the_contract_messages_still_show_exactly(make_app):
    app = make_app(SIGNUP_RATE_LIMIT="2/minute")
    with app.app_context():
        pages.publish("form", {"heading": "Hello there"}, actor=API, now=NOW)
    client = app.test_client()
    page = client.get("/signup").get_data(as_text=True)
    refused = client.post(
        "/signup", data={"csrf_token": csrf_from(page), "name": "", "email": "nope"}
    )
    shown = text_of(refused)
    assert refused.status_code == 400 and "Hello there" in shown
    assert NAME_MSG in shown and EMAIL_MSG in shown and BANNER in shown
    api = client.post("/api/subscribe", json={"name": "", "email": "x"})
    assert api.get_json() == {
        "errors": {"name": [NAME_MSG], "email": [EMAIL_MSG]},
        "message": BANNER,
    }
    answers = [
        client.post("/api/subscribe", json={"name": "A", "email": f"a{n}@example.com"})
        for n in range(3)
    ]
    limited = answers[-1]
    assert limited.status_code == 429 and limited.get_json()["message"] == RATE_LIMITED
    assert (messages.NAME, messages.EMAIL, messages.BANNER, messages.RATE_LIMITED) == (
        NAME_MSG,
        EMAIL_MSG,
        BANNER,
        RATE_LIMITED,
    )
    # The page to edit them says they can't be: none of them is a field to change.
    assert not any(
        f.name in ("name", "email", "banner", "rate_limited") for f in pages.PAGES["form"][1]
    )


def test_dropping_start_from_the_fine_print_warns_but_publishes(operator):
    app = operator.application
    kept = "Three short notes follow, counted from the day you start. Unsubscribe any time."
    with app.app_context():
        assert pages.publish("form", {"fine_print": kept}, actor=API, now=NOW) == []
        consent_before = _signup_and_consent(app, "ann@example.com")
    assert consent_before == "pages-v2"
    vague = "I'll email you the worksheet and a few notes. Unsubscribe any time."
    answer = publish_in_dashboard(operator, "form", fine_print=vague)
    assert answer.status_code == 303
    shown = text_of(operator.get(answer.headers["Location"]))
    assert pages.NO_START in shown and "Published: the signup form shows" in shown
    assert vague in text_of(app.test_client().get("/signup"))
    with app.app_context():
        assert pages.publish("form", {"fine_print": vague}, actor=API, now=NOW) == [pages.NO_START]
        assert _signup_and_consent(app, "bo@example.com") == "pages-v4"
        # Back to the shipped sentence: consents name it as before.
        pages.publish("form", {"fine_print": SHIPPED_FINE}, actor=API, now=NOW)
        assert _signup_and_consent(app, "cy@example.com") == messages.FORM_VERSION


def test_the_promises_follow_the_sequence_the_coach_changes(operator):
    app = operator.application
    reader = app.test_client()
    with app.app_context():
        assert _signup_and_consent(app, "ann@example.com") == messages.FORM_VERSION
        month_3 = emails.get("month-3")
        emails.publish(
            "month-3",
            subject=month_3["subject"],
            body=month_3["body"],
            offset="4 months",
            actor=API,
            now=NOW,
        )
        emails.add_checkin(
            offset="9 months",
            subject="Still there?",
            body="Hi {{ first_name }},\n",
            actor=API,
            now=NOW,
        )
        db.session.commit()
    promise = (
        "now and then (four times at most) ask whether you've started a new job. Once you "
        "tell me your start date, three short notes follow, 1, 4 and 6 months in."
    )
    assert promise in text_of(reader.get("/signup"))
    embed = reader.get("/embed.js").get_data(as_text=True)
    assert "(four times at most)" in embed and "1, 4 and 6 months in" in embed
    with app.app_context():
        # The consent names the pages' version and the content it was filled from.
        named = _signup_and_consent(app, "bo@example.com")
        assert named == f"pages-v1.{store.stamp()}"
    # A placeholder the text may not hold is refused, naming those it may.
    answer = publish_in_dashboard(
        operator, "form", fine_print="Notes at {offsets}, from the start."
    )
    assert answer.status_code == 400
    assert (
        "Fine print: {offsets} is not a placeholder Tend fills in (it may hold {notes_at} "
        "and {checkins})." in text_of(answer)
    )


def _signup_and_consent(app, email: str) -> str:
    signup(app.test_client(), email=email)
    return db.session.scalars(
        select(Consent.form_version).order_by(Consent.id.desc()).limit(1)
    ).one()


def test_bad_texts_are_refused_by_field_and_change_nothing(operator):
    answer = publish_in_dashboard(operator, "form", heading="   ", button="x" * 41)
    shown = text_of(answer)
    assert answer.status_code == 400 and "Nothing was published" in shown
    assert "Heading is empty; please write it." in shown
    assert "Button is 41 characters long; please keep it to 40 or fewer." in shown
    assert 'value="' + "x" * 41 + '"' in shown  # what was typed stays to correct
    with operator.application.app_context():
        assert pages.version() == 1
        assert db.session.scalars(select(AuditEvent)).all() == []
        with pytest.raises(Refused) as refused:
            pages.publish(
                "started", {"intro": "At {offset} in", "colour": "red"}, actor=API, now=NOW
            )
        assert refused.value.errors == {
            "colour": [
                "colour is not a text of the start-date page; its texts are heading, intro, "
                "date_label, started, looking, not_changing."
            ],
            "intro": [
                "Intro: {offset} is not a placeholder Tend fills in "
                "(the only one it may hold is {offsets})."
            ],
        }
        with pytest.raises(Refused, match="must be text"):
            pages.publish("thanks", {"text": 5}, actor=API, now=NOW)
        with pytest.raises(NotFound):
            pages.publish("privacy", {"heading": "x"}, actor=API, now=NOW)
        assert pages.version() == 1


def test_the_start_date_page_shows_its_edited_question_intro_and_answers(app):
    client = app.test_client()
    signup(client)
    with app.app_context():
        pages.publish(
            "started",
            {
                "heading": "Got a new job?",
                "intro": "Tell me, and you'll hear from me at {offsets} in.",
                "looking": "Still searching",
                "not_changing": "Staying put",
                "started": "Save the date",
            },
            actor=API,
            now=NOW,
        )
    page = text_of(client.get(started_path(app, "ann@example.com")))
    assert "Got a new job?" in page
    assert "Tell me, and you'll hear from me at 1 month, 3 months and 6 months in." in page
    for label in ("Still searching", "Staying put", "Save the date"):
        assert f">{label}</button>" in page
    assert "Not yet, still looking" not in page


def test_a_publish_in_another_process_reaches_this_one(app):
    """Each process keeps the texts until the content store's stamp moves: a version stored
    by another process (here: straight into the store, as it would) is seen at once."""
    client = app.test_client()
    assert SHIPPED_HEADING in text_of(client.get("/signup"))  # kept in this process now
    with app.app_context():
        data = pages.view()
        data["form"]["heading"] = "Written elsewhere"
        store.publish("pages", data, default=None, by="api", now=NOW)
        db.session.commit()
    assert "Written elsewhere" in text_of(client.get("/signup"))


def test_revert_brings_the_old_words_back(operator):
    app = operator.application
    with app.app_context():
        pages.publish("form", {"heading": "Second words"}, actor=API, now=NOW)
        pages.publish("form", {"heading": "Third words"}, actor=API, now=NOW)
    assert "Third words" in text_of(app.test_client().get("/signup"))
    # Publishing an older version's data again through the store, as any revert does.
    with app.app_context():
        old = store.get("pages", 2, None)
        store.publish("pages", old.data, default=None, by="api", now=NOW)
        db.session.commit()
    assert "Second words" in text_of(app.test_client().get("/signup"))
    # The dashboard's "Put back version 1": the shipped words, as version 5.
    history = operator.get("/admin/pages").get_data(as_text=True)
    assert "Put back version 1" in history
    answer = operator.post(
        "/admin/pages/revert", data={"csrf_token": csrf_from(history), "version": "1"}
    )
    assert answer.status_code == 303
    assert SHIPPED_HEADING in text_of(app.test_client().get("/signup"))
    with app.app_context():
        assert [v["version"] for v in pages.versions()] == [5, 4, 3, 2, 1]
        assert pages.versions()[0]["texts"] == pages.versions()[-1]["texts"]
        with pytest.raises(NotFound):
            pages.revert(9, actor=API, now=NOW)
    bad = operator.post(
        "/admin/pages/revert", data={"csrf_token": csrf_from(history), "version": "x"}
    )
    assert bad.status_code == 303
    assert "There is no such version" in text_of(operator.get("/admin/pages"))


def test_export_then_import_changes_nothing_and_an_edit_is_published(app):
    with app.app_context():
        pages.publish("thanks", {"text": "Soon in your inbox."}, actor=API, now=NOW)
        exported = pages.export_data()
        # What `content export` writes and `content import` reads back: plain data.
        again = json.loads(json.dumps(exported))
        assert pages.import_data(again, actor=API, now=NOW) == {
            "version": 2,
            "changed": False,
            "warnings": [],
        }
        assert pages.version() == 2
        again["form"]["fine_print"] = "Notes now and then. Unsubscribe any time."
        done = pages.import_data(again, actor=API, now=NOW)
        assert done == {"version": 3, "changed": True, "warnings": [pages.NO_START]}
        assert pages.view() == again
        with pytest.raises(Refused) as refused:
            pages.import_data({"form": {"button": ""}, "footer": {}}, actor=API, now=NOW)
        assert set(refused.value.errors) == {"form.button", "footer"}
        assert pages.version() == 3


def test_the_dashboard_page_is_behind_login_and_csrf(admin_app, operator):
    stranger = admin_client(admin_app)
    assert stranger.get("/admin/pages").status_code == 302
    assert stranger.post("/admin/pages/form", data={"heading": "x"}).status_code == 302
    forged = operator.post("/admin/pages/form", data={"heading": "Forged"})
    assert forged.status_code == 303
    assert "That form expired" in text_of(operator.get("/admin/pages"))
    assert operator.post("/admin/pages/nope", data={}).status_code == 404
    with admin_app.app_context():
        assert pages.version() == 1
    nav = operator.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/pages">Pages</a>' in nav and 'href="/admin/worksheet">Worksheet</a>' in nav


def test_one_toml_file_holds_the_pages_and_the_worksheet_and_a_round_trip_changes_nothing(app):
    from studio import content_file, worksheet

    with app.app_context():
        pages.publish("form", {"heading": 'A "quoted" heading\\ with é'}, actor=API, now=NOW)
        text = content_file.export_text()
        data = content_file.loads(text)
        assert data == {"pages": pages.export_data(), "worksheet": worksheet.export_data()}
        assert '[[worksheet.sections.items]]\nkind = "question"\nkey = "values"' in text
        assert '  { key = "remote", label = "Remote" },' in text
        for key, module in (("pages", pages), ("worksheet", worksheet)):
            assert module.import_data(data[key], actor=API, now=NOW)["changed"] is False
        data["worksheet"]["title"] = "Your Next Company"
        data["pages"]["thanks"]["heading"] = "On its way"
        # A command checks both before it publishes either.
        for key, module in (("pages", pages), ("worksheet", worksheet)):
            assert module.import_data(data[key], actor=API, now=NOW, dry_run=True)["changed"]
        assert pages.version() == 2 and worksheet.view()["version"] == 1
        assert content_file.loads(content_file.export_text()) != data
        pages.import_data(data["pages"], actor=API, now=NOW)
        worksheet.import_data(data["worksheet"], actor=API, now=NOW)
        assert content_file.loads(content_file.export_text()) == data
    with pytest.raises(ValueError, match="not TOML"):
        content_file.loads("title = ")


def test_the_history_says_when_in_the_coachs_zone_and_who_in_words(make_app):
    app = make_app(ADMIN_PASSWORD=ADMIN_PASSWORD, COACH_TIMEZONE="America/Chicago")
    with app.app_context():
        pages.publish(
            "form", {"heading": "Take two"}, actor=Actor("dashboard", "3d84280e"), now=NOW
        )
        pages.publish("form", {"heading": "Take three"}, actor=CLI, now=NOW)
    operator = admin_client(app)
    assert login(operator).status_code == 303
    page = text_of(operator.get("/admin/pages"))
    history = " ".join(re.sub(r"<[^>]+>", " ", page.split('id="history-h"')[1]).split())
    assert "Published (UTC)" not in page
    assert "3 (shown now) 7 Dec 2026, 04:00 CST Command line" in history
    assert "2 7 Dec 2026, 04:00 CST Dashboard (session 3d84280e)" in history
    assert "1 Shipped with Tend" in history
