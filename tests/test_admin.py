"""The operator's dashboard through the test client: login, counts, previews, test sends, care."""

from __future__ import annotations

import json
import os
import re
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from sqlalchemy import select
from support import (
    ADMIN_PASSWORD,
    BACKEND,
    PG_SERVER,
    ROOT,
    admin_client,
    csrf_from,
    env_for,
    login,
)

from admin import charts, stats
from admin.views import embed_codes
from app import create_app
from models import Consent, Delivery, DeliveryStatus, Status, Subscriber, Suppression, db, utcnow
from signup import service
from subscribers import rows
from subscribers.suppression import suppression_hash


@pytest.fixture
def admin_app(make_app):
    return make_app(ADMIN_PASSWORD=ADMIN_PASSWORD)


@pytest.fixture
def operator(admin_app):
    client = admin_client(admin_app)
    assert login(client).status_code == 303
    return client


def add(
    app, email: str, status: str, *, created: datetime, confirmed: datetime | None = None, **extra
):
    with app.app_context():
        sub = Subscriber(
            email=email,
            email_key=email.lower(),
            name=email.split("@")[0].title(),
            status=status,
            created_at=created,
            confirmed_at=confirmed,
            **extra,
        )
        sub.consents.append(
            Consent(created_at=created, form_version="test", source="form", ip="192.0.2.1")
        )
        db.session.add(sub)
        db.session.commit()
        return sub.id


def started(on: datetime) -> dict:
    """The columns of a reader who gave `on`'s day as the start of the new job."""
    day = on.replace(hour=0, minute=0, second=0, microsecond=0)
    return {"job_status": "started", "started_job_on": day.date().isoformat(), "anchor_at": day}


def deliver(app, subscriber_id: int, step: str, status: str, *, due: datetime, **extra):
    with app.app_context():
        db.session.add(
            Delivery(
                subscriber_id=subscriber_id,
                step=step,
                kind="worksheet" if step == "worksheet" else "drip",
                status=status,
                due_at=due,
                message_id=f"<{subscriber_id}.{step}@tend.example>",
                **extra,
            )
        )
        db.session.commit()


# ---- access -----------------------------------------------------------------------------


def test_admin_is_not_there_without_a_password(client):
    for path in (
        "/admin/",
        "/admin/login",
        "/admin/emails",
        "/admin/export.csv",
        "/admin/static/admin.css",
    ):
        assert client.get(path).status_code == 404
    assert client.post("/admin/login", data={"password": ""}).status_code == 404


def test_every_page_needs_a_login(admin_app):
    client = admin_client(admin_app)
    for path in (
        "/admin/",
        "/admin/emails",
        "/admin/emails/month-1",
        "/admin/subscribers",
        "/admin/import",
        "/admin/export.csv",
    ):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/admin/login")
    assert client.post("/admin/import").status_code == 302
    assert client.get("/admin/login").status_code == 200
    assert client.get("/admin/static/admin.css").status_code == 200


def test_wrong_password_is_refused_and_no_session_is_made(admin_app):
    client = admin_client(admin_app)
    response = login(client, "correct horse battery")
    assert response.status_code == 401
    assert "That password is not right." in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_login_without_csrf_token_is_refused(admin_app):
    client = admin_client(admin_app)
    response = client.post("/admin/login", data={"password": ADMIN_PASSWORD})
    assert response.status_code == 401 and "expired" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_login_is_rate_limited_per_address(admin_app):
    client = admin_client(admin_app)
    for _ in range(5):
        assert login(client, "guess").status_code == 401
    limited = login(client, ADMIN_PASSWORD)  # even the right password waits
    assert limited.status_code == 429
    assert "Too many attempts" in limited.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_login_lands_on_the_page_asked_for_and_logout_ends_the_session(admin_app):
    client = admin_client(admin_app)
    first = client.get("/admin/emails")
    assert first.headers["Location"] == "/admin/login?next=/admin/emails"  # no bare "?"
    asked = client.get("/admin/subscribers?email=ann%40example.com").headers["Location"]
    assert asked == "/admin/login?next=/admin/subscribers?email%3Dann%2540example.com"
    page = client.get(first.headers["Location"]).get_data(as_text=True)
    response = client.post(
        first.headers["Location"], data={"csrf_token": csrf_from(page), "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/admin/emails"
    dashboard = client.get("/admin/")
    assert dashboard.status_code == 200 and dashboard.headers["Cache-Control"] == "no-store"
    assert (
        client.post(
            "/admin/logout", data={"csrf_token": csrf_from(dashboard.get_data(as_text=True))}
        ).status_code
        == 303
    )
    assert client.get("/admin/").status_code == 302


def test_login_never_redirects_off_site(admin_app):
    client = admin_client(admin_app)
    page = client.get("/admin/login").get_data(as_text=True)
    response = client.post(
        "/admin/login?next=//evil.example/x",
        data={"csrf_token": csrf_from(page), "password": ADMIN_PASSWORD},
    )
    assert response.headers["Location"] == "/admin/"


def test_changing_the_password_ends_open_sessions(make_app):
    app = make_app(ADMIN_PASSWORD=ADMIN_PASSWORD)
    client = admin_client(app)
    login(client)
    assert client.get("/admin/").status_code == 200
    app.config["ADMIN_PASSWORD"] = "a brand new password"
    assert client.get("/admin/").status_code == 302


def _session_cookie(client) -> str:
    return client.get_cookie("session").value


def _browser_with(app, cookie: str):
    """Another browser holding a copy of a session cookie."""
    other = admin_client(app)
    other.set_cookie("session", cookie)
    return other


def test_a_cookie_copied_before_logout_gets_the_login_page_after_it(admin_app):
    client = admin_client(admin_app)
    assert login(client).status_code == 303
    dashboard = client.get("/admin/")
    assert dashboard.status_code == 200
    copied = _session_cookie(client)
    assert _browser_with(admin_app, copied).get("/admin/").status_code == 200
    token = csrf_from(dashboard.get_data(as_text=True))
    assert client.post("/admin/logout", data={"csrf_token": token}).status_code == 303
    replayed = _browser_with(admin_app, copied)
    response = replayed.get("/admin/", follow_redirects=True)
    assert response.request.path == "/admin/login"
    assert "Admin password" in response.get_data(as_text=True)
    assert replayed.get("/admin/export.csv").status_code == 302
    assert replayed.post("/admin/import").status_code == 302


def test_logging_out_ends_only_that_session(admin_app):
    first, second = admin_client(admin_app), admin_client(admin_app)
    login(first)
    login(second)
    token = csrf_from(first.get("/admin/").get_data(as_text=True))
    first.post("/admin/logout", data={"csrf_token": token})
    assert first.get("/admin/").status_code == 302
    assert second.get("/admin/").status_code == 200


def test_a_cookie_from_before_a_password_change_and_restart_is_refused(make_app):
    before = make_app(ADMIN_PASSWORD=ADMIN_PASSWORD)
    client = admin_client(before)
    login(client)
    copied = _session_cookie(client)
    # A restart with the same password keeps the session: it is held in the database.
    assert (
        _browser_with(make_app(ADMIN_PASSWORD=ADMIN_PASSWORD), copied).get("/admin/").status_code
        == 200
    )
    after = make_app(ADMIN_PASSWORD="a brand new password")
    response = _browser_with(after, copied).get("/admin/", follow_redirects=True)
    assert response.request.path == "/admin/login"
    fresh = admin_client(after)
    assert login(fresh, "a brand new password").status_code == 303
    assert fresh.get("/admin/").status_code == 200
    # Going back to the old password does not bring the old session back.
    back = make_app(ADMIN_PASSWORD=ADMIN_PASSWORD)
    assert _browser_with(back, copied).get("/admin/").status_code == 302


@pytest.mark.parametrize(
    "target",
    [
        "/admin\r\nX:1",
        "/admin\nSet-Cookie: x=1",
        "/admin\t/evil.example",
        "//evil.example/admin",
        "///evil.example/admin",
        "/\\evil.example/admin",
        "/admin\\..\\..\\evil",
        "\\\\evil.example/admin",
        "https://evil.example/admin",
        "javascript:alert(1)//admin",
        "/admin@evil.example\u2028",
        "/signup",
        "admin",
        "",
    ],
)
def test_login_falls_back_to_the_dashboard_for_a_next_that_is_not_a_local_admin_path(
    admin_app, target
):
    client = admin_client(admin_app)
    page = client.get("/admin/login", query_string={"next": target})
    assert page.status_code == 200
    response = client.post(
        "/admin/login",
        query_string={"next": target},
        data={"csrf_token": csrf_from(page.get_data(as_text=True)), "password": ADMIN_PASSWORD},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_the_raw_crlf_next_of_the_issue_is_not_a_500(admin_app):
    client = admin_client(admin_app)
    page = client.get("/admin/login?next=/admin%0d%0aX:1")
    assert page.status_code == 200
    response = client.post(
        "/admin/login?next=/admin%0d%0aX:1",
        data={"csrf_token": csrf_from(page.get_data(as_text=True)), "password": ADMIN_PASSWORD},
    )
    assert response.status_code == 303 and response.headers["Location"] == "/admin/"
    assert "X" not in response.headers


@pytest.mark.parametrize(
    "target", ["/admin/emails", "/admin/subscribers?q=ann%40example.com", "/admin/emails/month-1"]
)
def test_login_still_lands_on_a_local_admin_page(admin_app, target):
    client = admin_client(admin_app)
    page = client.get("/admin/login").get_data(as_text=True)
    response = client.post(
        "/admin/login",
        query_string={"next": target},
        data={"csrf_token": csrf_from(page), "password": ADMIN_PASSWORD},
    )
    assert response.status_code == 303 and response.headers["Location"] == target


# ---- the dashboard ----------------------------------------------------------------------


def test_dashboard_shows_counts_funnel_due_failures_and_embed(admin_app, operator):
    now = utcnow()
    day = timedelta(days=1)
    a = add(
        admin_app,
        "ann@example.com",
        Status.ACTIVE,
        created=now - 40 * day,
        confirmed=now - 40 * day,
        **started(now - 40 * day),
    )
    b = add(
        admin_app,
        "bob@example.com",
        Status.ACTIVE,
        created=now - 2 * day,
        confirmed=now - 2 * day,
        job_status="looking",
    )
    add(admin_app, "cat@example.com", Status.PENDING, created=now - day, job_status="not_changing")
    u = add(
        admin_app,
        "dan@example.com",
        Status.UNSUBSCRIBED,
        created=now - 100 * day,
        confirmed=now - 99 * day,
        **started(now - 99 * day),
    )
    add(admin_app, "eve@example.com", Status.BOUNCED, created=now)
    deliver(
        admin_app, a, "month-1", DeliveryStatus.SENT, due=now - 10 * day, sent_at=now - 10 * day
    )
    deliver(
        admin_app, u, "month-1", DeliveryStatus.SENT, due=now - 69 * day, sent_at=now - 69 * day
    )
    deliver(admin_app, u, "month-3", DeliveryStatus.SENT, due=now - 9 * day, sent_at=now - 9 * day)
    deliver(admin_app, a, "month-3", DeliveryStatus.SCHEDULED, due=now + 3 * day)
    deliver(admin_app, b, "month-1", DeliveryStatus.SCHEDULED, due=now + 28 * day)
    deliver(
        admin_app,
        b,
        "worksheet",
        DeliveryStatus.FAILED,
        due=now - day,
        attempts=1,
        last_error="550 5.1.1 <bob@example.com>: Recipient address rejected",
    )

    html = operator.get("/admin/").get_data(as_text=True)
    for status, count in {"pending": 1, "active": 2, "unsubscribed": 1, "bounced": 1}.items():
        assert f'data-status="{status}">{count}</span>' in html
    funnel_table = re.search(r'<table class="funnel">.*?</table>', html, re.S).group(0)
    funnel = dict(
        re.findall(
            r'<tr><th scope="row">([^<]+)</th>\s*<td class="num">([\d,]+)</td>', funnel_table
        )
    )
    assert funnel == {
        "Signed up": "5",
        "Confirmed": "3",
        "Gave a start date": "2",
        "Sent: A month in: who helped you get here?": "2",
        "Sent: Give before you need": "1",
        "Sent: Six months in: tell them how it&#39;s going": "0",
        "Unsubscribed": "1",
    }
    said = {"started": 2, "looking": 1, "not_changing": 1, "unknown": 1}
    for answer, count in said.items():
        assert f'data-answer="{answer}">{count}</span>' in html
    # Sentence case, as the operator reads them: written so, not made so by the style sheet.
    labels = re.findall(r'<span class="label">([^<]+)</span>', html)
    assert labels == ["Pending", "Active", "Unsubscribed", "Bounced"] + [
        "Gave a start date",
        "Still looking",
        "Not changing jobs",
        "Haven&#39;t said",
    ]
    css = operator.get("/static/admin/admin.css").get_data(as_text=True)
    assert "text-transform" not in css
    assert "<svg" in html and html.count('class="bar"><title>') == 90
    due_day = (now + 3 * day).strftime("%a %b %-d")
    due_table = re.search(r'<table class="due">.*?</table>', html, re.S).group(0)
    assert re.findall(r'<th scope="col" class="num">([\w-]+)</th>', due_table) == ["month-3", "All"]
    assert f'<th scope="row">{due_day}</th><td class="num">1</td>' in due_table
    assert "month-1" not in due_table  # Bob's month-1 is 28 days away
    assert "550 5.1.1 &lt;bob@example.com&gt;: Recipient address rejected" in html
    snippet = '<div data-tend-signup><a href="https://tend.example/signup">Get the worksheet</a></div><script src="https://tend.example/embed.js" async></script>'
    assert snippet.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;") in html
    assert 'src="https://tend.example/signup"'.replace('"', "&#34;") in html
    assert "http://" not in re.sub(r'xmlns="http://www.w3.org/2000/svg"', "", html)  # no CDN


def _embed_hint(html: str) -> str:
    hint = re.search(r'<p class="muted" id="embed-origins">(.*?)</p>', html, re.S).group(1)
    return re.sub(r"<[^>]+>", "", hint)


def test_the_embed_hint_names_the_allowed_origins_or_says_none_is_listed(make_app):
    lonely = admin_client(make_app(ADMIN_PASSWORD=ADMIN_PASSWORD))
    login(lonely)
    hint = _embed_hint(lonely.get("/admin/").get_data(as_text=True))
    assert hint.startswith("No other origin may embed the form yet: list your blog's origin")
    assert "EMBED_ALLOWED_ORIGINS" in hint

    origins = "https://blog.example, https://notes.example"
    shared = admin_client(make_app(ADMIN_PASSWORD=ADMIN_PASSWORD, EMBED_ALLOWED_ORIGINS=origins))
    login(shared)
    hint = _embed_hint(shared.get("/admin/").get_data(as_text=True))
    assert hint.startswith(
        "Pages on https://blog.example, https://notes.example may embed the form "
        "(EMBED_ALLOWED_ORIGINS)."
    )
    assert "No other origin" not in hint and "must be listed" not in hint


def test_embed_codes_use_the_public_base_url():
    codes = embed_codes("https://blog.example/tend")
    assert codes["script"] == (
        '<div data-tend-signup><a href="https://blog.example/tend/signup">Get the worksheet</a></div>'
        '<script src="https://blog.example/tend/embed.js" async></script>'
    )
    assert '<iframe src="https://blog.example/tend/signup"' in codes["iframe"]


def test_signups_per_day_counts_utc_days_with_gaps(admin_app):
    now = datetime(2026, 3, 10, 12, 0, tzinfo=utcnow().tzinfo)
    add(admin_app, "a@example.com", Status.ACTIVE, created=now - timedelta(hours=1))
    add(admin_app, "b@example.com", Status.ACTIVE, created=now - timedelta(hours=11, minutes=59))
    add(admin_app, "c@example.com", Status.ACTIVE, created=now - timedelta(hours=12, minutes=1))
    add(admin_app, "d@example.com", Status.ACTIVE, created=now - timedelta(days=90))
    with admin_app.app_context():
        per_day = stats.signups_per_day(now=now)
    assert len(per_day) == 90 and min(per_day) == date(2025, 12, 11)
    assert per_day[date(2026, 3, 10)] == 2 and per_day[date(2026, 3, 9)] == 1
    assert sum(per_day.values()) == 3  # the one 90 days back is outside the window


def test_chart_is_plain_svg_with_a_bar_per_day():
    counts = {date(2026, 1, 1) + timedelta(days=i): i % 7 for i in range(90)}
    svg = str(charts.signups_svg(counts, title="Signups <90 days>"))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<rect") == 90 and "<script" not in svg
    assert "Signups &lt;90 days&gt;" in svg and "2026-01-02: 1" in svg
    assert ">6</text>" in svg and ">3</text>" in svg  # axis: 0, half and the busiest day
    empty = str(charts.signups_svg({date(2026, 1, 1): 0}))
    assert 'height="0.0"' in empty


def test_sent_tally_matches_a_full_count_and_forgets_deleted_subscribers(admin_app, operator):
    from campaigns import tallies

    now = utcnow()
    ids = [
        add(admin_app, f"s{i}@example.com", Status.ACTIVE, created=now - timedelta(days=60))
        for i in range(3)
    ]
    for i, sid in enumerate(ids):
        deliver(
            admin_app,
            sid,
            "month-1",
            DeliveryStatus.SENT,
            due=now,
            sent_at=now - timedelta(days=30 - i),
        )
    recent = add(admin_app, "new@example.com", Status.ACTIVE, created=now)
    deliver(
        admin_app,
        recent,
        "month-1",
        DeliveryStatus.SENT,
        due=now,
        sent_at=now - timedelta(minutes=5),
    )
    with admin_app.app_context():
        assert tallies.outcomes(now)[("month-1", "sent")] == 4
        # Stored: the three sent more than an hour ago; the recent one is counted live.
        state = json.loads(db.session.get(tallies.Setting, tallies.KEY).value)
        assert state["counts"] == {"month-1\tsent": 3}
        later = now + timedelta(days=2)
        assert tallies.outcomes(later)[("month-1", "sent")] == 4
    page = operator.get(f"/admin/subscribers/{public_id(admin_app, 's0@example.com')}").get_data(
        as_text=True
    )
    assert "<dt>Signed up</dt>" in page and "<dt>Start of the new job</dt>" in page
    operator.post(
        f"/admin/subscribers/{public_id(admin_app, 's0@example.com')}/delete",
        data={"csrf_token": csrf_from(page)},
    )
    with admin_app.app_context():
        assert tallies.outcomes(now + timedelta(days=2))[("month-1", "sent")] == 3


# ---- previews and test sends ------------------------------------------------------------


def test_every_email_of_the_sequence_has_a_preview(operator):
    listing = operator.get("/admin/emails").get_data(as_text=True)
    keys = re.findall(r'href="/admin/emails/([\w-]+)"', listing)
    assert keys == [
        "confirm",
        "worksheet",
        "month-1",
        "month-3",
        "month-6",
        "checkin-1",
        "checkin-2",
        "checkin-3",
    ]
    subjects = {
        "confirm": "Please confirm your email to get the worksheet",
        "month-1": "A month in: who helped you get here?",
        "month-3": "Give before you need",
        "month-6": "Six months in: tell them how it&#39;s going",
        "checkin-1": "Have you started somewhere new?",
        "checkin-2": "A network is a garden: water it now",
        "checkin-3": "Six months on: how are you doing?",
    }
    for key in keys:
        page = operator.get(f"/admin/emails/{key}")
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert "Hi Sam," in html  # the text version, for the sample subscriber
        if key in subjects:
            assert f'<dd class="subject">{subjects[key]}</dd>' in html
        body = operator.get(f"/admin/emails/{key}/body.html")
        assert body.status_code == 200 and body.mimetype == "text/html"
        assert "frame-ancestors 'self'" in body.headers["Content-Security-Policy"]
        assert 'style="' in body.get_data(as_text=True)  # inlined, as sent
    confirm = operator.get("/admin/emails/confirm").get_data(as_text=True)
    direct = operator.get("/admin/emails/worksheet").get_data(as_text=True)
    assert "https://tend.example/confirm/" in confirm and "/confirm/" not in direct
    assert "https://tend.example/worksheet/" in direct
    assert "Unsubscribe: https://tend.example/unsubscribe/" in operator.get(
        "/admin/emails/month-1"
    ).get_data(as_text=True)
    assert operator.get("/admin/emails/nope").status_code == 404


def text_of(operator, path: str) -> str:
    html = operator.get(path).get_data(as_text=True)
    return re.search(r'<pre class="email-text">(.*?)</pre>', html, re.S).group(1)


def test_previews_show_each_email_in_every_state_of_a_reader_it_can_reach(operator):
    listing = operator.get("/admin/emails").get_data(as_text=True)
    offered = {}
    for key, state in re.findall(r'href="/admin/emails/([\w-]+)\?reader=(\w+)"', listing):
        offered.setdefault(key, []).append(state)
    assert offered == {
        "confirm": ["pending"],
        "worksheet": ["unknown", "looking", "not_changing", "started"],
        "month-1": ["started"],
        "month-3": ["started"],
        "month-6": ["started"],
        "checkin-1": ["unknown", "looking"],
        "checkin-2": ["unknown", "looking"],
        "checkin-3": ["unknown", "looking"],
    }
    # Each state's footer: a start date to give, the one given to change, or (a request to
    # confirm) neither.
    asks = "Started somewhere new? Tell me when"
    for key, readers in offered.items():
        for reader in readers:
            text = text_of(operator, f"/admin/emails/{key}?reader={reader}")
            assert (asks in text) == (reader in ("unknown", "looking")), (key, reader)
            assert ("Wrong start date? Change it" in text) == (reader == "started"), (key, reader)
            changing = "Changing jobs after all?" in text
            assert changing == (reader == "not_changing"), (key, reader)
            body = operator.get(f"/admin/emails/{key}/body.html?reader={reader}")
            assert body.status_code == 200
    checkin = text_of(operator, "/admin/emails/checkin-1")
    for answer in ("started", "looking", "not_changing"):
        assert re.search(rf"https://tend\.example/started/[\w.\-]+\?answer={answer}", checkin)
    # A state an email can never reach has no preview: it would show words nobody gets.
    assert operator.get("/admin/emails/month-1?reader=looking").status_code == 404
    assert operator.get("/admin/emails/checkin-1?reader=started").status_code == 404
    assert operator.get("/admin/emails/month-1/body.html?reader=unknown").status_code == 404


def test_preview_is_what_a_subscriber_receives(make_app, smtp):
    from support import work

    app = make_app(ADMIN_PASSWORD=ADMIN_PASSWORD)
    app.test_client().post(
        "/api/subscribe", json={"name": "Sam Rivera", "email": "sam.rivera@example.com"}
    )
    work(app)
    received = smtp.received[0].message.get_body(("plain",)).get_content()
    client = admin_client(app)
    login(client)
    html = client.get("/admin/emails/confirm").get_data(as_text=True)
    preview = re.search(r'<pre class="email-text">(.*?)</pre>', html, re.S).group(1)

    def normalize(text: str) -> str:
        text = text.replace("&#39;", "'").replace("\r\n", "\n")
        return re.sub(r"https://tend\.example/\w+/[\w.\-]+", "LINK", text).strip()

    assert normalize(preview) == normalize(received)


def test_send_a_test_goes_through_the_transport_marked_test(operator, smtp):
    page = operator.get("/admin/emails/month-3").get_data(as_text=True)
    response = operator.post(
        "/admin/emails/month-3", data={"csrf_token": csrf_from(page), "email": "me@blog.example"}
    )
    assert response.status_code == 303
    (received,) = smtp.received
    assert received.rcpt_tos == ["me@blog.example"]
    assert received.message["Subject"] == "[Test] Give before you need"
    assert received.message["List-Unsubscribe"]  # a drip email, headers and all
    assert "Test sent to me@blog.example." in operator.get("/admin/emails/month-3").get_data(
        as_text=True
    )


def test_send_a_test_reports_a_refusal_and_a_bad_address(operator, smtp):
    smtp.reject["nobody@blog.example"] = "550 5.1.1 no such user"
    page = operator.get("/admin/emails/worksheet").get_data(as_text=True)
    operator.post(
        "/admin/emails/worksheet",
        data={"csrf_token": csrf_from(page), "email": "nobody@blog.example"},
    )
    assert "The test was not sent: 550 5.1.1 no such user" in operator.get(
        "/admin/emails/worksheet"
    ).get_data(as_text=True)
    bad = operator.post(
        "/admin/emails/worksheet",
        data={"csrf_token": csrf_from(page), "email": "not an address"},
    )
    assert bad.status_code == 400 and "Please enter a valid email address." in bad.get_data(
        as_text=True
    )
    forged = operator.post("/admin/emails/worksheet", data={"email": "me@blog.example"})
    assert forged.status_code == 400
    assert smtp.received == []


# ---- subscriber care --------------------------------------------------------------------


def public_id(app, email: str) -> str:
    with app.app_context():
        return db.session.scalar(select(Subscriber.public_id).where(Subscriber.email_key == email))


def test_find_a_subscriber_download_their_data_and_delete_them(admin_app, operator):
    now = utcnow()
    sid = add(admin_app, "ann@example.com", Status.ACTIVE, created=now, confirmed=now)
    deliver(admin_app, sid, "month-1", DeliveryStatus.SCHEDULED, due=now + timedelta(days=30))
    found = operator.get("/admin/subscribers?email=ANN@example.com")
    assert found.status_code == 302
    page = operator.get(found.headers["Location"]).get_data(as_text=True)
    assert "ann@example.com" in page and "192.0.2.1" in page and "month-1" in page
    data = operator.get(found.headers["Location"] + "/data.json").get_json()
    assert data["profile"]["email"] == "ann@example.com" and len(data["deliveries"]) == 1
    missing = operator.get("/admin/subscribers?email=nobody@example.com").get_data(as_text=True)
    assert "No subscriber with the address nobody@example.com" in missing
    assert f'href="{found.headers["Location"]}">ann@example.com</a>' in missing  # newest list

    # No CSRF token: nothing happens.
    operator.post(found.headers["Location"] + "/delete")
    assert public_id(admin_app, "ann@example.com")
    operator.post(found.headers["Location"] + "/delete", data={"csrf_token": csrf_from(page)})
    with admin_app.app_context():
        assert db.session.scalar(select(Subscriber)) is None
        assert db.session.scalar(select(Delivery)) is None
        suppression = db.session.scalar(select(Suppression))
        assert suppression.email_hash == suppression_hash("ann@example.com")
        assert suppression.reason == "operator"


# ---- which posts convert ---------------------------------------------------------------


def _pages_table(html: str) -> list[tuple[str, str, str, str]]:
    table = re.search(r'<table class="pages">.*?</table>', html, re.S).group(0)
    rows = re.findall(
        r'<th scope="row" class="page">(.*?)</th>\s*<td class="num">([\d,]+)</td>'
        r'<td class="num">([\d,]+)</td><td class="num">(\d+%)</td>',
        table,
    )
    return [(re.sub(r"<[^>]+>", "", page), n, c, rate) for page, n, c, rate in rows]


def test_the_dashboard_shows_signups_and_confirmations_by_the_page_they_came_from(make_app):
    # The embed on the blog posts with the blog's Origin: a page there is believed.
    admin_app = make_app(
        ADMIN_PASSWORD=ADMIN_PASSWORD, EMBED_ALLOWED_ORIGINS="https://blog.example"
    )
    operator = admin_client(admin_app)
    assert login(operator).status_code == 303
    network = "https://blog.example/why-you-should-network"
    interview = "https://blog.example/questions-to-ask"
    client = admin_app.test_client()
    signups = [
        ("ann@example.com", f"{network}?utm_source=newsletter"),
        ("bob@example.com", f"{network}#comments"),
        ("cat@example.com", network),
        ("dan@example.com", interview),
        ("eve@example.com", None),  # a server calling the API: no page
    ]
    for email, page in signups:
        body = {"name": "Reader", "email": email} | ({"page": page} if page else {})
        blog = {"Origin": "https://blog.example"} if page else {}
        assert client.post("/api/subscribe", json=body, headers=blog).status_code == 202
    with admin_app.test_request_context():
        for email in ("ann@example.com", "cat@example.com", "dan@example.com"):
            sub = db.session.scalar(select(Subscriber).where(Subscriber.email_key == email))
            service.confirm(sub, now=utcnow(), ip="192.0.2.7")
        # The consent keeps the page exactly as the browser gave it.
        kept = db.session.scalars(select(Consent.page_url).order_by(Consent.id)).all()
        assert kept == [page for _, page in signups]

    html = operator.get("/admin/").get_data(as_text=True)
    assert _pages_table(html) == [
        (network, "3", "2", "67%"),
        (interview, "1", "1", "100%"),
        ("No page recorded (the API, an import, or added by hand)", "1", "0", "0%"),
    ]
    assert f'<a href="{network}" rel="noreferrer noopener" target="_blank">' in html


def test_pages_are_ranked_by_signups_and_a_link_is_only_ever_http(admin_app):
    now = utcnow()
    with admin_app.app_context():
        for i, page in enumerate(["https://a.example/p"] * 3 + ["javascript:alert(1)"] * 4):
            sub = Subscriber(email=f"r{i}@example.com", email_key=f"r{i}@example.com", name="R")
            sub.consents.append(
                Consent(created_at=now, form_version="t", source="import", page=page)
            )
            db.session.add(sub)
        db.session.commit()
        assert [(p.page, p.signups) for p in stats.by_page()] == [
            ("javascript:alert(1)", 4),
            ("https://a.example/p", 3),
        ]
        assert [p.page for p in stats.by_page(limit=1)] == ["javascript:alert(1)"]
    client = admin_client(admin_app)
    login(client)
    html = client.get("/admin/").get_data(as_text=True)
    assert 'href="javascript:' not in html and "javascript:alert(1)" in html


@pytest.mark.parametrize(
    ("page_url", "page"),
    [
        ("https://blog.example/post?utm_source=x&fbclid=1#top", "https://blog.example/post"),
        ("https://blog.example/post#c", "https://blog.example/post"),
        ("https://blog.example/café/", "https://blog.example/café/"),
        ("https://blog.example/" + "p" * 600, ("https://blog.example/" + "p" * 600)[:512]),
        (None, None),
    ],
)
def test_the_page_is_the_url_without_its_query_or_fragment(page_url, page):
    assert rows.page_of(page_url) == page
    assert (
        rows.consent_row(
            now=utcnow(),
            ip=None,
            user_agent=None,
            page_url=page_url,
            form_version="t",
            source="form",
        )["page"]
        == page
    )


BACKFILLED = [
    "https://blog.example/post?utm_source=x&fbclid=1#top",
    "https://blog.example/post#c?x",
    "https://blog.example/café/?q=é",
    "https://blog.example/" + "p" * 700,
    "?only-a-query",
    "",
    None,
]


@pytest.fixture
def fresh_database(tmp_path):
    """An empty database of the suite's kind, for a migration to run on."""
    if BACKEND != "postgresql":
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
        return
    name = f"tend_migrate_{os.getpid()}"
    server = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield f"{PG_SERVER}/{name}"
    with server.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.dispose()


def test_migration_0007_fills_the_page_of_existing_consents(fresh_database, redis_url):
    app = create_app(env_for(fresh_database, redis_url))
    migrations = str(ROOT / "migrations")
    with app.app_context():
        upgrade(directory=migrations, revision="0003")
        now = utcnow().replace(tzinfo=None)
        db.session.execute(
            sa.text(
                "INSERT INTO subscribers (public_id, email, email_key, name, status, timezone, "
                "soft_bounces, created_at, updated_at) VALUES ('p1', 'a@example.com', "
                "'a@example.com', 'A', 'active', 'UTC', 0, :now, :now)"
            ),
            {"now": now},
        )
        for url in BACKFILLED:
            db.session.execute(
                sa.text(
                    "INSERT INTO consents (subscriber_id, created_at, page_url, form_version, "
                    "source) VALUES (1, :now, :url, 't', 'form')"
                ),
                {"now": now, "url": url},
            )
        db.session.commit()
        upgrade(directory=migrations)
        pages = db.session.execute(sa.text("SELECT page FROM consents ORDER BY id")).scalars()
        assert list(pages) == [rows.page_of(url) for url in BACKFILLED]
        assert rows.page_of("?only-a-query") is None
        db.session.remove()  # its read would hold the table against the downgrade
        downgrade(directory=migrations, revision="0003")
        columns = {c["name"] for c in sa.inspect(db.engine).get_columns("consents")}
        assert "page" not in columns and "page_url" in columns
        db.session.remove()
        db.engine.dispose()


def test_a_subscribers_page_shows_their_start_date_and_the_day_each_email_is_planned(
    admin_app, operator
):
    from datetime import UTC

    from support import answer, signup, work

    signup(admin_app.test_client(), timezone="America/Chicago")
    work(admin_app)
    confirmed = datetime(2027, 2, 10, 16, 0, tzinfo=UTC)
    with admin_app.test_request_context():
        from signup import service
        from subscribers.lifecycle import find_by_address

        service.confirm(find_by_address("ann@example.com"), now=confirmed, ip=None)
        db.session.remove()
    answer(admin_app, "ann@example.com", "started", now=confirmed, started_on=date(2027, 3, 3))
    page = operator.get(f"/admin/subscribers/{public_id(admin_app, 'ann@example.com')}")
    html = page.get_data(as_text=True)
    assert "Started the new job on 3 Mar 2027" in html and "America/Chicago" in html
    planned = dict(
        re.findall(r'data-key="(month-\d)">.*?<td class="planned"><time[^>]*>([^<]+)</', html)
    )
    # Planned as of now, in the reader's zone: a Saturday's note on the Monday after.
    assert planned == {
        "month-1": "Mon 5 Apr 2027, 09:00 CDT",
        "month-3": "Thu 3 Jun 2027, 09:00 CDT",
        "month-6": "Fri 3 Sep 2027, 09:00 CDT",
    }
    cancelled = re.findall(
        r'data-key="(checkin-\d)">[^<]*</td><td>Check-in</td><td>(\w+)</td>', html
    )
    assert cancelled == [(f"checkin-{i}", "cancelled") for i in (1, 2, 3)]
