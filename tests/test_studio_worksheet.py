"""The worksheet as the coach's content: edited in the dashboard, rebuilt by the worker in the
background (readers get the old PDF until the new one is ready), put back, exported and
imported. The PDFs are read with pypdf: the questions' text and their form fields."""

from __future__ import annotations

import copy
import html
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from support import (
    ADMIN_PASSWORD,
    SECRET,
    admin_client,
    cli_env_of,
    csrf_from,
    flask_cli,
    login,
    work,
)

from campaigns.content import store
from campaigns.links import make_token
from campaigns.worksheet import content
from models import AuditEvent, Subscriber, db
from studio import coach, worksheet
from studio.audit import API, Actor
from studio.errors import NotFound, Refused

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
OLD_QUESTION = (
    "Picture the best manager you've had. What did they do that helped you do your best work?"
)
NEW_QUESTION = "Who was the best boss you ever had, and what made them so?"


@pytest.fixture
def admin_app(make_app, tmp_path):
    app = make_app(ADMIN_PASSWORD=ADMIN_PASSWORD)
    app.config["WORKSHEET_BUILD_DIR"] = str(tmp_path / "builds")
    return app


@pytest.fixture
def operator(admin_app):
    client = admin_client(admin_app)
    assert login(client).status_code == 303
    return client


def worksheet_link(app) -> str:
    with app.app_context():
        sub = Subscriber(email="ann@example.com", email_key="ann@example.com", name="Ann")
        db.session.add(sub)
        db.session.commit()
        return f"/worksheet/{make_token(SECRET, 'worksheet', sub.public_id)}"


def pdf_of(client, link: str, tmp_path: Path, name: str) -> PdfReader:
    response = client.get(link)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    path = tmp_path / name
    path.write_bytes(response.data)
    return PdfReader(path)


def words_of(reader: PdfReader) -> str:
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def form_of(page: str) -> dict[str, str]:
    """Every field the worksheet editor posts, as the browser would (a textarea's text, an
    input's value, the first button-less submit)."""
    inputs = r'<input type="(?:hidden|text|number)"[^>]* name="([^"]+)" value="([^"]*)"'
    fields = dict(re.findall(inputs, page))
    fields |= {
        name: text
        for name, text in re.findall(r'<textarea[^>]* name="([^"]+)"[^>]*>([^<]*)</textarea>', page)
    }
    fields = {name: html.unescape(value) for name, value in fields.items()}
    fields["csrf_token"] = csrf_from(page)
    return fields


def test_the_shipped_words_are_data_and_build_as_before(app):
    with app.app_context():
        shown = worksheet.view()
    assert shown["version"] == 1 and shown["title"] == content.SHIPPED.title
    assert content.from_data(shown) == content.SHIPPED  # the stored shape builds the same
    keys = [name for name, _, _ in content.SHIPPED.fields()]
    assert keys[:4] == ["your-name", "date", "values", "proud"] and len(keys) == len(set(keys))
    boxes = shown["sections"][3]["items"][0]
    assert boxes["kind"] == "checkboxes" and [b["key"] for b in boxes["boxes"]] == [
        "remote",
        "hybrid",
        "on-site",
    ]
    json.dumps(shown)  # what the admin API answers


def test_an_edited_question_is_in_the_pdf_the_worker_rebuilds(operator, tmp_path):
    app = operator.application
    link = worksheet_link(app)
    reader = operator.application.test_client()
    before = pdf_of(reader, link, tmp_path, "before.pdf")  # built on this first download
    assert before.get_fields()["best-manager"]["/TU"] == OLD_QUESTION

    page = operator.get("/admin/worksheet").get_data(as_text=True)
    assert OLD_QUESTION.replace("'", "&#39;") in page and "ready: readers get version 1" in page
    fields = form_of(page)
    assert fields["sections.1.items.0.key"] == "best-manager"
    fields["sections.1.items.0.text"] = NEW_QUESTION
    fields["sections.3.items.0.boxes.1.label"] = "Part remote, part office"
    answer = operator.post("/admin/worksheet", data=fields)
    assert answer.status_code == 303
    shown = html.unescape(operator.get("/admin/worksheet").get_data(as_text=True))
    assert "Published. The PDF is being rebuilt" in shown
    assert "being rebuilt for version 2" in shown
    with app.app_context():
        assert worksheet.status(NOW)["state"] == "building"

    # Until the worker is done, readers get the build before it.
    waiting = pdf_of(reader, link, tmp_path, "waiting.pdf")
    assert waiting.get_fields()["best-manager"]["/TU"] == OLD_QUESTION

    work(app)
    after = pdf_of(reader, link, tmp_path, "after.pdf")
    fields_after = after.get_fields()
    assert fields_after["best-manager"]["/TU"] == NEW_QUESTION  # same field, new question
    assert fields_after["hybrid"]["/TU"] == "Part remote, part office"
    assert NEW_QUESTION in words_of(after) and OLD_QUESTION not in words_of(after)
    assert list(fields_after) == list(before.get_fields())  # every answer keeps its name
    with app.app_context():
        status = worksheet.status(NOW)
        assert (status["state"], status["version"], status["built"]) == ("ready", 2, True)
        event = db.session.scalars(select(AuditEvent)).one()
        assert event.action == "worksheet.publish" and event.actor.startswith("dashboard:")
    assert list(Path(app.config["WORKSHEET_BUILD_DIR"]).glob("*.pdf")) == [
        Path(app.config["WORKSHEET_BUILD_DIR"]) / f"worksheet-letter-{_digest(app)}.pdf"
    ]
    status = operator.get("/admin/worksheet/status").get_json()
    assert status["state"] == "ready" and status["version"] == 2


def _digest(app) -> str:
    from campaigns.worksheet import build

    with app.app_context():
        return build.digest(build.Options.from_config(app.config))


def test_add_and_remove_a_question_in_the_dashboard(operator, tmp_path):
    app = operator.application
    fields = form_of(operator.get("/admin/worksheet").get_data(as_text=True))
    added = operator.post("/admin/worksheet", data=fields | {"add": "sections.0"})
    page = added.get_data(as_text=True)
    assert added.status_code == 200 and 'name="sections.0.items.2.text"' in page
    new = 'id="f-sections-0-items-2-text" name="sections.0.items.2.text" rows="3" maxlength="400"'
    assert f"{new} autofocus" in page  # the new question's box has the focus
    # Published empty, it is refused by name; nothing changes.
    fields = form_of(page)
    refused = operator.post("/admin/worksheet", data=fields)
    shown = html.unescape(refused.get_data(as_text=True))
    assert refused.status_code == 400 and "Nothing was published" in shown
    assert "Section 1 (Your values), question 3: the question is empty; please write it." in shown
    with app.app_context():
        assert worksheet.view()["version"] == 1
    fields["sections.0.items.2.text"] = "What would make you leave within a year?"
    fields["sections.2.items.2.remove"] = "1"  # "invests", the third question of Growth
    assert operator.post("/admin/worksheet", data=fields).status_code == 303
    work(app)
    reader = pdf_of(app.test_client(), worksheet_link(app), tmp_path, "added.pdf")
    found = reader.get_fields()
    assert found["question-1"]["/TU"] == "What would make you leave within a year?"
    assert "invests" not in found and "values" in found


def test_bad_words_are_refused_naming_the_section_and_question(app):
    with app.app_context():
        data = worksheet.view()
        bad = copy.deepcopy(data)
        bad["title"] = ""
        bad["sections"][2]["items"][1]["text"] = "x" * 401
        bad["sections"][3]["items"][0]["boxes"][0]["key"] = "values"
        bad["sections"][0]["items"][0]["lines"] = 40
        bad["sections"][1]["items"].append({"kind": "poem"})
        with pytest.raises(Refused) as refused:
            worksheet.publish(bad, actor=API, now=NOW)
        assert refused.value.errors == {
            "title": ["The title is empty; please write it."],
            "sections.0.items.0.lines": [
                "Section 1 (Your values), question 1: lines must be a whole number from 1 to 12."
            ],
            "sections.1.items.2.kind": [
                "Section 2 (The manager and team you work best with), item 3: its kind must be "
                "one of question, checkboxes, blanks, network."
            ],
            "sections.2.items.1.text": [
                "Section 3 (Growth), question 2: the question is 401 characters long; keep it to 400."
            ],
            "sections.3.items.0.boxes.0.key": [
                "Section 4 (Flexibility: schedule, location, remote), item 1 (checkboxes), box 1: "
                "the key 'values' is already the key of another field."
            ],
        }
        for junk in (None, [], {"sections": "x"}, {"title": "T", "sections": []}):
            with pytest.raises(Refused):
                worksheet.publish(junk, actor=API, now=NOW)
        assert worksheet.view() == data and store.latest("worksheet") is None


def test_revert_brings_the_old_words_back(app, tmp_path):
    app.config["WORKSHEET_BUILD_DIR"] = str(tmp_path / "builds")
    link = worksheet_link(app)
    with app.app_context():
        data = worksheet.view()
        data["sections"][1]["items"][0]["text"] = NEW_QUESTION
        assert worksheet.publish(data, actor=API, now=NOW)["version"] == 2
        # Publishing the shipped version's data again through the store, as a revert does.
        old = store.get("worksheet", 1, None)
        store.publish("worksheet", old.data, default=None, by="api", now=NOW)
        db.session.commit()
        assert worksheet.view()["sections"][1]["items"][0]["text"] == OLD_QUESTION
    work(app)  # the job of version 2 builds the newest words: version 3's
    fields = pdf_of(app.test_client(), link, tmp_path, "old.pdf").get_fields()
    assert fields["best-manager"]["/TU"] == OLD_QUESTION
    with app.app_context():
        worksheet.revert(2, actor=API, now=NOW)
        assert worksheet.view()["version"] == 4
        assert [v["version"] for v in worksheet.versions()] == [4, 3, 2, 1]
        with pytest.raises(NotFound):
            worksheet.revert(7, actor=API, now=NOW)
    work(app)
    fields = pdf_of(app.test_client(), link, tmp_path, "new.pdf").get_fields()
    assert fields["best-manager"]["/TU"] == NEW_QUESTION


def test_export_then_import_changes_nothing(app):
    with app.app_context():
        exported = json.loads(json.dumps(worksheet.export_data()))
        assert worksheet.import_data(exported, actor=API, now=NOW) == {
            "version": 1,
            "changed": False,
        }
        assert store.latest("worksheet") is None
        exported["intro"] = "Twenty quiet minutes, and a pen."
        assert worksheet.import_data(exported, actor=API, now=NOW) == {
            "version": 2,
            "changed": True,
        }
        again = json.loads(json.dumps(worksheet.export_data()))
        assert again == exported
        assert worksheet.import_data(again, actor=API, now=NOW)["changed"] is False


def test_a_queue_that_does_not_answer_leaves_the_pdf_to_the_next_download(make_app, tmp_path):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    app.config["WORKSHEET_BUILD_DIR"] = str(tmp_path / "builds")
    link = worksheet_link(app)
    with app.app_context():
        data = worksheet.view()
        data["title"] = "What You Need Next"
        worksheet.publish(data, actor=API, now=NOW)
        status = worksheet.status(NOW)
        assert status["state"] == "failed" and status["error"] == worksheet.QUEUE_DOWN
    reader = pdf_of(app.test_client(), link, tmp_path, "inline.pdf")
    assert reader.metadata.title == "What You Need Next"


def test_the_build_command_builds_the_published_words(make_app, tmp_path):
    app = make_app()
    with app.app_context():
        data = worksheet.view()
        data["sections"][1]["items"][0]["text"] = NEW_QUESTION
        worksheet.publish(data, actor=API, now=NOW)
    out = tmp_path / "look.pdf"
    done = flask_cli(cli_env_of(app), "worksheet", "build", "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"worksheet: wrote {out} (letter, ")
    assert done.stdout.endswith(" (the words of version 2)\n")
    assert PdfReader(out).get_fields()["best-manager"]["/TU"] == NEW_QUESTION


def test_right_after_publish_the_banner_and_the_status_agree_with_a_name_set_here(operator):
    """The coach's name set on the Settings page signs the PDF: the rebuild that publishing
    marks is the one the status line looks for, so both say it is being rebuilt."""
    app = operator.application
    with app.app_context():
        coach.change({"coach_name": "Robin Vale"}, actor=API, now=NOW)
    fields = form_of(operator.get("/admin/worksheet").get_data(as_text=True))
    fields["title"] = "Your next job, on paper"
    assert operator.post("/admin/worksheet", data=fields).status_code == 303
    shown = html.unescape(operator.get("/admin/worksheet").get_data(as_text=True))
    assert "Published. The PDF is being rebuilt" in shown
    assert "being rebuilt for version 2" in shown and "built on the first download" not in shown
    assert operator.get("/admin/worksheet/status").get_json()["state"] == "building"


def test_the_history_says_when_in_the_coachs_zone_and_who_in_words(make_app):
    app = make_app(ADMIN_PASSWORD=ADMIN_PASSWORD, COACH_TIMEZONE="America/Chicago")
    with app.app_context():
        data = worksheet.view()
        worksheet.publish(
            data | {"title": "Take two"}, actor=Actor("dashboard", "3d84280e"), now=NOW
        )
        worksheet.publish(data | {"title": "Take three"}, actor=API, now=NOW)
    operator = admin_client(app)
    assert login(operator).status_code == 303
    page = html.unescape(operator.get("/admin/worksheet").get_data(as_text=True))
    history = " ".join(re.sub(r"<[^>]+>", " ", page.split('id="history-h"')[1]).split())
    assert "Published (UTC)" not in page
    assert "3 (readers get it) 7 Dec 2026, 04:00 CST Admin API" in history
    assert "2 7 Dec 2026, 04:00 CST Dashboard (session 3d84280e)" in history
    assert "1 Shipped with Tend" in history
