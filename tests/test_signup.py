"""Signup capture through the hosted form and the JSON API, as a reader would use them."""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import func, select
from support import BANNER, EMAIL_MSG, NAME_MSG, csrf_from

from models import Consent, Delivery, Status, Subscriber, db
from signup import messages


def post_form(client, **fields):
    page = client.get("/signup").get_data(as_text=True)
    data = {"csrf_token": csrf_from(page), "name": "", "email": ""} | fields
    return client.post("/signup", data=data)


def subscribers(app):
    with app.app_context():
        return db.session.scalars(select(Subscriber).order_by(Subscriber.id)).all()


def test_messages_are_the_contract():
    assert (messages.NAME, messages.EMAIL, messages.BANNER) == (NAME_MSG, EMAIL_MSG, BANNER)


def test_hosted_form_renders_labelled_fields(client):
    page = client.get("/signup")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<label for="name">' in html and '<label for="email">' in html
    assert 'name="website"' in html and 'name="csrf_token"' in html
    assert BANNER not in html


BAD_NAMES = [
    "",
    "   ",
    "x" * 101,
    "Ann\x00",
    "Ann\r\nBcc: x@y.z",
    "\u200f\u200e",
    "see http://spam.example",
]
BAD_EMAILS = [
    "",
    "   ",
    "not-an-email",
    "a@b",
    "ann@@example.com",
    "a" * 250 + "@example.com",
    "ann@exa mple.com",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_form_rejects_bad_name_with_message_under_field(app, client, name):
    response = post_form(client, name=name, email="ann@example.com")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert BANNER in html
    assert f'<p class="error" id="name-error">{NAME_MSG}</p>' in html
    assert re.search(r'id="name"[^>]*aria-invalid="true" aria-describedby="name-error"', html)
    assert EMAIL_MSG not in html
    assert 'value="ann@example.com"' in html  # what the reader typed is kept
    assert subscribers(app) == []


@pytest.mark.parametrize("email", BAD_EMAILS)
def test_form_rejects_bad_email(app, client, email):
    response = post_form(client, name="Ann", email=email)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert BANNER in html and f'<p class="error" id="email-error">{EMAIL_MSG}</p>' in html
    assert NAME_MSG not in html
    assert subscribers(app) == []


def test_form_success_stores_normalized_and_redirects(app, client):
    response = post_form(
        client,
        name="  Ann Lee  ",
        email="  Ann.Lee@EXAMPLE.com ",
        timezone="Asia/Tokyo",
        page="https://blog.example/post",
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/signup/thanks")
    thanks = client.get("/signup/thanks").get_data(as_text=True)
    assert "Check your inbox for the worksheet" in thanks
    (sub,) = subscribers(app)
    assert (sub.name, sub.email, sub.email_key, sub.status, sub.timezone) == (
        "Ann Lee",
        "Ann.Lee@example.com",
        "ann.lee@example.com",
        Status.PENDING,
        "Asia/Tokyo",
    )
    assert not sub.public_id.isdigit() and len(sub.public_id) >= 16
    with app.app_context():
        consent = db.session.scalars(select(Consent)).one()
        assert consent.page_url == "https://blog.example/post"
        assert consent.ip == "127.0.0.1"
        assert consent.form_version == messages.FORM_VERSION
        assert consent.user_agent
        worksheet = db.session.scalars(select(Delivery)).one()
        assert (worksheet.step, worksheet.subscriber_id) == ("worksheet", sub.id)


def test_a_long_user_agent_is_kept_to_the_consent_columns_size(app, client):
    agent = "Mozilla/5.0 " + "x" * 2000
    response = client.post(
        "/api/subscribe",
        json={"name": "Ann", "email": "ann@example.com"},
        headers={"User-Agent": agent},
    )
    assert response.status_code == 202
    with app.app_context():
        assert db.session.scalars(select(Consent.user_agent)).one() == agent[:512]


def test_unknown_timezone_falls_back_to_default(make_app):
    app = make_app(DEFAULT_TIMEZONE="Europe/Paris")
    response = app.test_client().post(
        "/api/subscribe",
        json={"name": "Ann", "email": "ann@example.com", "timezone": "Mars/Olympus"},
    )
    assert response.status_code == 202
    assert subscribers(app)[0].timezone == "Europe/Paris"


def test_post_without_csrf_is_refused_with_banner(app, client):
    response = client.post("/signup", data={"name": "Ann", "email": "ann@example.com"})
    assert response.status_code == 400
    assert BANNER in response.get_data(as_text=True)
    assert subscribers(app) == []


def test_same_address_any_case_or_spaces_is_one_subscriber(app, client):
    for email in ["ann@example.com", " ANN@Example.COM ", "Ann@example.com"]:
        assert (
            client.post("/api/subscribe", json={"name": "Ann", "email": email}).status_code == 202
        )
    assert len(subscribers(app)) == 1


def test_new_and_existing_address_get_the_same_answer(client):
    first = client.post("/api/subscribe", json={"name": "Ann", "email": "ann@example.com"})
    again = client.post("/api/subscribe", json={"name": "Ann", "email": "ann@example.com"})
    other = client.post("/api/subscribe", json={"name": "Bo", "email": "bo@example.com"})
    assert first.status_code == again.status_code == other.status_code == 202
    assert first.get_json() == again.get_json() == other.get_json() == {"status": "ok"}


def test_api_rejections_have_the_contract_shape(app, client):
    response = client.post("/api/subscribe", json={"name": " ", "email": "nope"})
    assert response.status_code == 400
    assert response.get_json() == {
        "errors": {"name": [NAME_MSG], "email": [EMAIL_MSG]},
        "message": BANNER,
    }
    response = client.post("/api/subscribe", data={"name": "Ann", "email": "bad@"})
    assert response.get_json() == {"errors": {"email": [EMAIL_MSG]}, "message": BANNER}
    for body, ctype in [
        ("[1,2]", "application/json"),
        ("{bad json", "application/json"),
        ("hi", "text/plain"),
    ]:
        response = client.post("/api/subscribe", data=body, content_type=ctype)
        assert response.status_code == 400 and response.get_json()["message"] == BANNER
    assert subscribers(app) == []


def test_honeypot_answers_success_and_stores_nothing(app, client):
    api = client.post(
        "/api/subscribe", json={"name": "Bot", "email": "bot@example.com", "website": "http://x"}
    )
    form = post_form(client, name="Bot", email="bot2@example.com", website="spam")
    assert api.status_code == 202 and form.status_code == 303
    assert subscribers(app) == []


def test_parallel_signups_of_one_address_leave_one_subscriber(app):
    results = []

    def sign():
        with app.test_client() as c:
            results.append(
                c.post(
                    "/api/subscribe", json={"name": "Ann", "email": "race@example.com"}
                ).status_code
            )

    threads = [threading.Thread(target=sign) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [202] * 20
    assert len(subscribers(app)) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Delivery)) == 1


ALLOWED = "https://blog.example"


def test_cors_preflight_from_allowed_and_refused_origin(make_app):
    client = make_app(EMBED_ALLOWED_ORIGINS=f"{ALLOWED}, https://other.example").test_client()
    ok = client.options(
        "/api/subscribe",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "content-type" in ok.headers["Access-Control-Allow-Headers"].lower()
    refused = client.options(
        "/api/subscribe",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_post_from_foreign_origin_is_refused_and_stores_nothing(make_app):
    app = make_app(EMBED_ALLOWED_ORIGINS=ALLOWED)
    client = app.test_client()
    refused = client.post(
        "/api/subscribe",
        json={"name": "Ann", "email": "ann@example.com"},
        headers={"Origin": "https://evil.example"},
    )
    assert refused.status_code == 403 and refused.get_json()["message"] == BANNER
    assert subscribers(app) == []
    allowed = client.post(
        "/api/subscribe",
        json={"name": "Ann", "email": "ann@example.com"},
        headers={"Origin": ALLOWED},
    )
    assert allowed.status_code == 202 and allowed.headers["Access-Control-Allow-Origin"] == ALLOWED
    no_origin = client.post("/api/subscribe", json={"name": "Bo", "email": "bo@example.com"})
    assert no_origin.status_code == 202
    assert len(subscribers(app)) == 2


def test_frame_ancestors_only_for_allowed_origins(make_app):
    client = make_app(EMBED_ALLOWED_ORIGINS=ALLOWED).test_client()
    csp = client.get("/signup").headers["Content-Security-Policy"]
    assert f"frame-ancestors 'self' {ALLOWED}" in csp
    assert "frame-ancestors 'none'" in client.get("/healthz").headers["Content-Security-Policy"]


def test_database_down_gives_banner_and_503(make_app):
    app = make_app(DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=1")
    client = app.test_client()
    api = client.post("/api/subscribe", json={"name": "Ann", "email": "ann@example.com"})
    assert api.status_code == 503 and api.get_json()["message"] == BANNER
    form = post_form(client, name="Ann", email="ann@example.com")
    html = form.get_data(as_text=True)
    assert form.status_code == 503 and BANNER in html and "Traceback" not in html
    assert 'value="ann@example.com"' in html


def test_embed_script_is_served_with_messages(client):
    response = client.get("/embed.js")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert NAME_MSG in body and EMAIL_MSG in body and BANNER in body
    assert "attachShadow" in body and "/api/subscribe" in body
    assert len(response.data) < 16_000  # the form, the proof-of-work solver and the iframe mode


def test_unknown_page_is_our_own_404(client):
    response = client.get("/nope")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


def hidden_page(html: str) -> str:
    return re.search(r'name="page" value="([^"]*)"', html).group(1)


def test_a_framed_form_takes_the_page_the_snippet_names_only_on_the_framing_origin(client):
    post = "https://blog.example/why-network?utm_source=x"
    framed = client.get(
        "/signup", query_string={"page": post}, headers={"Referer": "https://blog.example/"}
    )
    assert hidden_page(framed.get_data(as_text=True)) == post.replace("&", "&amp;")
    for referer in ("https://other.example/", None):
        headers = {"Referer": referer} if referer else {}
        elsewhere = client.get("/signup", query_string={"page": post}, headers=headers)
        assert hidden_page(elsewhere.get_data(as_text=True)) == ""
    odd = client.get(
        "/signup",
        query_string={"page": "javascript:alert(1)"},
        headers={"Referer": "https://blog.example/"},
    )
    assert hidden_page(odd.get_data(as_text=True)) == ""


def test_the_api_takes_a_browsers_page_only_on_the_origin_it_posts_from(make_app):
    app = make_app(EMBED_ALLOWED_ORIGINS="https://blog.example")
    client = app.test_client()
    blog = {"Origin": "https://blog.example", "Referer": "https://blog.example/"}
    for email, page in (
        ("a@example.com", "https://blog.example/post"),
        ("b@example.com", "https://evil.example/post"),
    ):
        body = {"name": "Ann", "email": email, "page": page}
        assert client.post("/api/subscribe", json=body, headers=blog).status_code == 202
    with app.app_context():
        kept = db.session.scalars(select(Consent.page_url).order_by(Consent.id)).all()
    assert kept == ["https://blog.example/post", "https://blog.example/"]
