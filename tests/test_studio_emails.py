"""The coach's emails as versions: an edit reaches the next email and never the sent one,
bad words are refused with their line, revert brings old words back, a new offset moves
exactly the planned notes it said it would, and the files round-trip. Real Redis, a real
worker, SMTP on loopback; time is passed in."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from support import answer, tick, work

from campaigns.content import markdown
from models import AuditEvent, ContentVersion, Delivery, DeliveryStatus, Subscriber, db
from signup import service
from studio import audit, emails, pages, worksheet
from studio.errors import NotFound, Refused

JOINED = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)  # a Monday
ME = audit.Actor("dashboard", "test")
NEW_BODY = "Hi {{ first_name }},\n\nNEW WORDS for {{ first_name }}: thank *one* person.\n\nWarmly,  \n{{ coach_name }}\n"


def join(app, name: str, email: str, started: date) -> None:
    client = app.test_client()
    assert client.post("/api/subscribe", json={"name": name, "email": email}).status_code == 202
    work(app)
    with app.test_request_context():
        sub = db.session.scalar(select(Subscriber).where(Subscriber.email_key == email))
        service.confirm(sub, now=JOINED, ip="127.0.0.1")
    answer(app, email, "started", now=JOINED, started_on=started)


def month_1_subjects(smtp, address: str) -> list[str]:
    return [m["Subject"] for m in smtp.messages_to(address) if "worksheet" not in m["Subject"]]


def test_an_edit_reaches_the_next_email_not_the_sent_one(make_app, smtp):
    app = make_app()
    join(app, "Ann Lee", "ann@example.com", date(2026, 11, 2))  # month-1: Wed 2 Dec
    join(app, "Bo Chen", "bo@example.com", date(2026, 11, 16))  # month-1: Wed 16 Dec
    tick(app, datetime(2026, 12, 2, 14, 0, tzinfo=UTC))
    work(app)
    assert month_1_subjects(smtp, "ann@example.com") == ["A month in: who helped you get here?"]

    with app.test_request_context():
        shown = emails.publish(
            "month-1",
            subject="A month in, {{ first_name }}: who helped?",
            body=NEW_BODY,
            actor=ME,
            now=datetime(2026, 12, 3, tzinfo=UTC),
        )
        assert shown["version"] == 2 and shown["offset"] == "1 month"
    tick(app, datetime(2026, 12, 16, 14, 0, tzinfo=UTC))
    work(app)

    (bo,) = smtp.messages_to("bo@example.com")[1:]
    assert bo["Subject"] == "A month in, Bo: who helped?"
    text = bo.get_body(("plain",)).get_content()
    html = bo.get_body(("html",)).get_content()
    assert "NEW WORDS for Bo: thank one person." in text
    assert "NEW WORDS for Bo: thank <em>one</em> person." in html
    assert "<h1" in html and "A month in, Bo: who helped?</h1>" in html
    # What Tend adds below every body is still there: the correction and the footer.
    assert "Wrong start date?" in text and "/unsubscribe/" in text
    # Ann got month-1 before the edit, once, in the old words.
    assert month_1_subjects(smtp, "ann@example.com") == ["A month in: who helped you get here?"]


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("Hi {{ first_name }},\n\n<script>alert(1)</script>\n", "line 3: HTML is not allowed"),
        ("Hi,\n\n[click](javascript:alert(1))\n", "line 3: links must start with https://"),
        ("Hi,\n\n[plain](http://example.com)\n", "links must start with https://"),
        ("Hi,\n\n<a href='https://x.example' onclick='x()'>x</a>\n", "HTML is not allowed"),
        ("Hi {{ salary }},\n", "line 1: unknown variable {{ salary }}"),
        ("Hi,\n\n{{ first_name\n", "line 3: broken template syntax"),
        ("Hi {{ name|upper }}\n", "line 1: only {{ variable }}"),
        ("Hi {{ start_date }}\n", "{{ start_date }} is only in after-hire notes"),
        ("   \n", "The body is empty"),
        ("Hi\x00 there\n", "control character"),
    ],
)
def test_bad_words_are_refused_naming_the_problem_and_nothing_changes(app, body, said):
    with app.test_request_context():
        with pytest.raises(Refused) as refused:
            emails.publish("checkin-1", subject="Hello", body=body, actor=ME, now=JOINED)
        assert any(said in m for m in refused.value.errors["body"]), refused.value.errors
        assert emails.get("checkin-1")["version"] == 1
        assert emails.versions("checkin-1")[0]["published_at"] is None


def test_a_subject_is_one_line_of_at_most_150_characters_and_offsets_are_read(app):
    with app.test_request_context():
        for subject, said in (("", "The subject is empty"), ("x" * 151, "151 characters")):
            with pytest.raises(Refused) as refused:
                emails.publish("month-3", subject=subject, body="Hi\n", actor=ME, now=JOINED)
            assert said in refused.value.errors["subject"][0]
        with pytest.raises(Refused) as refused:
            emails.publish("month-3", subject="s", body="Hi\n", offset="soon", actor=ME, now=JOINED)
        assert "offset" in refused.value.errors
        with pytest.raises(NotFound):
            emails.get("month-99")


def test_the_sanitizer_keeps_no_script_and_no_link_but_https():
    html = markdown.body_html("[a](http://x.example) [b](https://x.example) <b onclick=x>c</b>")
    assert 'href="http://' not in html and 'href="https://x.example"' in html
    # Raw HTML is never markup: at most the coach's own characters, escaped.
    assert "<b " not in html and "&lt;b onclick=x&gt;" in html


def test_revert_brings_the_old_words_back_as_a_new_version(app):
    with app.test_request_context():
        shipped = emails.get("month-6")
        emails.publish("month-6", subject="Newer", body=NEW_BODY, actor=ME, now=JOINED)
        back = emails.revert("month-6", 1, actor=ME, now=JOINED)
        assert (back["subject"], back["body"], back["version"]) == (
            shipped["subject"],
            shipped["body"],
            3,
        )
        assert [v["version"] for v in emails.versions("month-6")] == [3, 2, 1]
        assert [v["subject"] for v in emails.versions("month-6")][1] == "Newer"
        with pytest.raises(Refused):
            emails.revert("month-6", 9, actor=ME, now=JOINED)
        actions = db.session.scalars(select(AuditEvent.action)).all()
        assert actions.count("email.publish") == 1 and actions.count("email.revert") == 1


def test_a_new_offset_moves_exactly_the_planned_notes_it_said_it_would(make_app, smtp):
    app = make_app()
    join(app, "Ann Lee", "ann@example.com", date(2026, 11, 2))
    join(app, "Bo Chen", "bo@example.com", date(2026, 11, 16))
    tick(app, datetime(2026, 11, 19, 14, 0, tzinfo=UTC))  # the clock has run: the file is recorded
    with app.test_request_context():
        said = emails.impact("month-3", offset="10 weeks")
        assert (said.moved, said.dropped) == (2, 0)
        assert emails.impact("month-3").moved == 0
        before = _due("month-3")
        emails.publish(
            "month-3",
            subject=emails.get("month-3")["subject"],
            body=emails.get("month-3")["body"],
            offset="10 weeks",
            actor=ME,
            now=JOINED,
        )
    tick(app, datetime(2026, 11, 20, 14, 0, tzinfo=UTC))
    with app.app_context():
        after = _due("month-3")
        moved = [k for k in before if before[k] != after[k]]
        assert len(moved) == said.moved
        assert after[("ann@example.com")].date() == date(2027, 1, 11)  # 2 Nov + 10 weeks


def _due(step: str) -> dict[str, datetime]:
    rows = db.session.execute(
        select(Subscriber.email, Delivery.due_at)
        .join(Delivery, Delivery.subscriber_id == Subscriber.id)
        .where(Delivery.step == step)
    )
    return dict(rows.all())


def test_a_check_in_is_added_and_removed_and_its_planned_notes_are_dropped(make_app, smtp):
    app = make_app()
    client = app.test_client()
    client.post("/api/subscribe", json={"name": "Cy", "email": "cy@example.com"})
    work(app)
    with app.test_request_context():
        sub = db.session.scalar(select(Subscriber))
        service.confirm(sub, now=JOINED, ip="127.0.0.1")
        added = emails.add_checkin(
            offset="9 months",
            subject="Nine months on",
            body="Hi {{ first_name }},\n\nStill there?\n",
            actor=ME,
            now=JOINED,
        )
        assert (added["key"], added["kind"], added["offset"]) == (
            "checkin-4",
            "checkin",
            "9 months",
        )
        assert emails.impact("checkin-2", remove=True).dropped == 1
    tick(app, datetime(2026, 11, 3, 14, 0, tzinfo=UTC))
    with app.test_request_context():
        assert "checkin-4" in _due("checkin-4").__repr__() or _due("checkin-4")
        assert emails.remove_checkin("checkin-2", actor=ME, now=JOINED) == {"dropped": 1}
        with pytest.raises(Refused):
            emails.remove_checkin("month-1", actor=ME, now=JOINED)
        assert "checkin-2" not in [e["key"] for e in emails.catalogue()]
    tick(app, datetime(2026, 11, 3, 15, 0, tzinfo=UTC))
    with app.app_context():
        status = db.session.scalar(select(Delivery.status).where(Delivery.step == "checkin-2"))
        assert status == DeliveryStatus.CANCELLED
        assert len(_due("checkin-4")) == 1


def test_every_email_previews_in_each_state_from_unsaved_words(app):
    with app.test_request_context():
        shown = emails.preview(
            "checkin-1",
            now=JOINED,
            state="looking",
            subject="Still with me, {{ first_name }}?",
            body="Hi {{ first_name }},\n\n{% if looking %}Still looking?{% endif %}\n",
        )
        assert shown.subject == "Still with me, Sam?"
        assert "Still looking?" in shown.text and "Not yet, still looking" in shown.html
        assert emails.get("checkin-1")["version"] == 1  # nothing stored
        with pytest.raises(Refused):
            emails.preview("checkin-1", now=JOINED, state="pending")
        for email in emails.catalogue():
            for state in ("pending", "unknown", "looking", "not_changing", "started"):
                try:
                    rendered = emails.preview(email["key"], now=JOINED, state=state)
                except Refused:
                    continue
                assert rendered.subject and "Sam" in rendered.text


def all_versions() -> list[tuple[str, int, str]]:
    rows = db.session.execute(
        select(ContentVersion.key, ContentVersion.version, ContentVersion.data).order_by(
            ContentVersion.key, ContentVersion.version
        )
    )
    return [tuple(row) for row in rows]


def test_content_export_then_import_changes_nothing(app, tmp_path):
    cli = app.test_cli_runner()
    with app.test_request_context():
        emails.publish("month-1", subject="Mine", body=NEW_BODY, actor=ME, now=JOINED)
        pages.publish("thanks", {"text": 'Soon in your inbox, "promise".'}, actor=ME, now=JOINED)
        sheet = worksheet.export_data()
        sheet["title"] = "What You Need Next"
        worksheet.publish(sheet, actor=ME, now=JOINED)
        before = {e["key"]: (e, emails.versions(e["key"])) for e in emails.catalogue()}
        stored = all_versions()
    exported = cli.invoke(args=["content", "export", str(tmp_path)])
    assert exported.exit_code == 0 and f"9 files in {tmp_path}" in exported.output
    assert sorted(p.name for p in (tmp_path / "emails").iterdir()) == sorted(
        f"{key}.md" for key in before
    )
    assert 'title = "What You Need Next"' in (tmp_path / "pages.toml").read_text()

    imported = cli.invoke(args=["content", "import", str(tmp_path)])
    assert imported.output == "content import: 0 published, 10 unchanged\n"
    with app.test_request_context():
        after = {e["key"]: (e, emails.versions(e["key"])) for e in emails.catalogue()}
        assert after == before
        assert all_versions() == stored

    # An edited file publishes that email, the pages or the worksheet alone.
    path = tmp_path / "emails" / "month-3.md"
    path.write_text(path.read_text().replace("Give before you need", "Give first"))
    toml = tmp_path / "pages.toml"
    toml.write_text(toml.read_text().replace("What You Need Next", "What You Need"))
    imported = cli.invoke(args=["content", "import", str(tmp_path)])
    assert imported.output == (
        "content import: 2 published (pages.toml [worksheet], emails/month-3.md), 8 unchanged\n"
    )
    with app.test_request_context():
        assert emails.get("month-3")["subject"] == "Give first"
        assert worksheet.view()["title"] == "What You Need" and worksheet.view()["version"] == 3
        assert pages.version() == 2
        stored = all_versions()

    # A bad file anywhere is named, and nothing of the folder is published.
    path.write_text(path.read_text().replace("Give first", "Give early"))
    toml.write_text(toml.read_text().replace('button = "Send me the worksheet"', 'button = ""'))
    refused = cli.invoke(args=["content", "import", str(tmp_path)])
    assert refused.exit_code == 1
    assert "pages.toml, pages: form.button:" in refused.output
    with app.test_request_context():
        assert all_versions() == stored
        assert emails.get("month-3")["subject"] == "Give first"
    toml.write_text("title = ")
    refused = cli.invoke(args=["content", "import", str(tmp_path)])
    assert "pages.toml: not TOML" in refused.output


def test_drip_sync_says_when_the_coach_s_version_wins_over_the_file(app):
    with app.test_request_context():
        emails.publish("month-1", subject="Mine", body=NEW_BODY, actor=ME, now=JOINED)
    result = app.test_cli_runner().invoke(args=["drip", "sync"])
    assert "month-1 is sent as the coach published it (version 2)" in result.output
