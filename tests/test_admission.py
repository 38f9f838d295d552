"""One admission for every signup: refused origins you can see, the page a signup names,
and the one Redis round trip (limit and single use) before the insert."""

from __future__ import annotations

import html
import logging
import re

import pytest
from sqlalchemy import select
from support import ADMIN_PASSWORD, admin_client, login, solution_from

from models import Consent, db
from signup.door import believed_page

BLOG = "https://blog.example"
STRANGER = "http://127.0.0.1:8077"
SERVER_KEY = "server-key-0123456789abcdef"
SIGNUP = {"name": "Ann", "email": "ann@example.com"}


def dashboard(app) -> str:
    client = admin_client(app)
    assert login(client).status_code == 303
    page = client.get("/admin/")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def refused_rows(page: str) -> list[tuple[str, str, str]]:
    """(origin, count, fix) of each row of the dashboard's refused origins, in order."""
    section = re.search(r'<table class="refused">(.*?)</table>', page, re.S)
    if section is None:
        return []
    rows = re.findall(
        r'<th scope="row" class="origin"><code>(.*?)</code></th><td class="num">(\d+)</td>'
        r'<td>.*?</td><td class="fix">(.*?)</td>',
        section.group(1),
    )
    return [(html.unescape(o), n, html.unescape(f)) for o, n, f in rows]


METRICS_TOKEN = "scrape-token-of-the-admission-tests"


def rejections(client) -> dict[str, float]:
    scrape = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    text = scrape.get_data(as_text=True)
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(r'^tend_signup_rejections_total\{reason="(\w+)"\} (\S+)$', text, re.M)
    }


def test_a_post_from_a_foreign_origin_is_logged_counted_and_on_the_dashboard(make_app, caplog):
    app = make_app(
        ADMIN_PASSWORD=ADMIN_PASSWORD, EMBED_ALLOWED_ORIGINS=BLOG, METRICS_TOKEN=METRICS_TOKEN
    )
    client = app.test_client()
    assert refused_rows(dashboard(app)) == []
    stranger = {"Origin": STRANGER}
    with caplog.at_level(logging.WARNING):
        preflight = client.options(
            "/api/subscribe", headers=stranger | {"Access-Control-Request-Method": "POST"}
        )
        post = client.post("/api/subscribe", json=SIGNUP, headers=stranger)
        form = client.post("/signup", data=SIGNUP, headers={"Origin": "https://www.blog.example"})
    assert (preflight.status_code, post.status_code, form.status_code) == (403, 403, 403)
    warnings = [r for r in caplog.records if hasattr(r, "origin")]
    assert [(r.levelname, r.origin, r.route) for r in warnings] == [
        ("WARNING", STRANGER, "/api/subscribe"),
        ("WARNING", STRANGER, "/api/subscribe"),
        ("WARNING", "https://www.blog.example", "/signup"),
    ]
    assert STRANGER in warnings[0].getMessage() and "/api/subscribe" in warnings[0].getMessage()
    assert rejections(client)["origin"] == 3
    # The next load of the overview names them, the latest first, each with its fix.
    assert refused_rows(dashboard(app)) == [
        (
            "https://www.blog.example",
            "1",
            "add `https://www.blog.example` to EMBED_ALLOWED_ORIGINS",
        ),
        (STRANGER, "2", f"add `{STRANGER}` to EMBED_ALLOWED_ORIGINS"),
    ]
    with app.app_context():
        assert db.session.scalars(select(Consent)).all() == []


def test_a_frame_on_a_page_that_may_not_frame_the_form_is_listed_too(make_app):
    app = make_app(ADMIN_PASSWORD=ADMIN_PASSWORD, EMBED_ALLOWED_ORIGINS=BLOG)
    client = app.test_client()
    frame = {"Sec-Fetch-Dest": "iframe"}
    assert client.get("/signup", headers=frame | {"Referer": f"{BLOG}/post"}).status_code == 200
    assert client.get("/signup", headers={"Referer": f"{STRANGER}/post"}).status_code == 200
    # The browser will not show this one (frame-ancestors): the operator learns why.
    framed = client.get("/signup", headers=frame | {"Referer": f"{STRANGER}/post"})
    assert STRANGER not in framed.headers["Content-Security-Policy"]
    assert refused_rows(dashboard(app)) == [
        (STRANGER, "1", f"add `{STRANGER}` to EMBED_ALLOWED_ORIGINS")
    ]
    assert "origin" not in rejections(client)  # a page shown is no signup refused


def test_every_web_worker_sees_the_same_refused_origins(make_app):
    first = make_app(ADMIN_PASSWORD=ADMIN_PASSWORD)
    # Another process of the same deployment: it shares only Redis with the first.
    second = make_app(ADMIN_PASSWORD=ADMIN_PASSWORD, RQ_QUEUE=first.config["RQ_QUEUE"])
    first.test_client().post("/api/subscribe", json=SIGNUP, headers={"Origin": STRANGER})
    assert [row[0] for row in refused_rows(dashboard(second))] == [STRANGER]


def test_the_dashboard_keeps_only_the_last_ten_refused_origins(make_app):
    app = make_app(ADMIN_PASSWORD=ADMIN_PASSWORD)
    client = app.test_client()
    for i in range(14):
        client.post("/api/subscribe", json=SIGNUP, headers={"Origin": f"https://s{i}.example"})
    client.post("/api/subscribe", json=SIGNUP, headers={"Origin": "https://s13.example"})
    rows = refused_rows(dashboard(app))
    assert [origin for origin, _, _ in rows] == [f"https://s{i}.example" for i in range(13, 3, -1)]
    assert rows[0][1] == "2" and rows[1][1] == "1"
    # What a browser never sends is not given a fix to apply, and no markup gets through.
    client.post("/api/subscribe", json=SIGNUP, headers={"Origin": "<b>x</b>"})
    page = dashboard(app)
    assert "<b>x</b>" not in page and refused_rows(page)[0] == (
        "<b>x</b>",
        "1",
        "not a web page's origin (a script, not a browser, sent it): nothing to do",
    )


def test_the_challenge_tells_a_refused_page_why_in_words_it_can_read(make_app):
    app = make_app(SIGNUP_CHALLENGE="pow", EMBED_ALLOWED_ORIGINS=BLOG)
    client = app.test_client()
    refused = client.get("/api/challenge", headers={"Origin": STRANGER})
    assert refused.status_code == 403
    assert refused.headers["Access-Control-Allow-Origin"] == STRANGER  # readable by the page
    assert refused.get_json()["reason"] == "origin"
    assert f"add `{STRANGER}` to EMBED_ALLOWED_ORIGINS" in refused.get_json()["detail"]
    assert "challenge" not in refused.get_json()
    allowed = client.get("/api/challenge", headers={"Origin": BLOG})
    assert allowed.status_code == 200 and "challenge" in allowed.get_json()
    # Off, the challenge URL is still where a refused page learns why.
    off = make_app(SIGNUP_CHALLENGE="off", EMBED_ALLOWED_ORIGINS=BLOG).test_client()
    assert off.get("/api/challenge", headers={"Origin": STRANGER}).status_code == 403
    assert off.get("/api/challenge", headers={"Origin": BLOG}).status_code == 404


@pytest.mark.parametrize(
    ("page", "keyed", "origin", "framed", "believed"),
    [
        ("https://evil.example/relogin", False, None, False, None),  # no key, no Origin
        ("https://evil.example/relogin", True, None, False, "https://evil.example/relogin"),
        ("https://blog.example/post", False, "https://blog.example", False, "page"),
        ("https://evil.example/post", False, "https://blog.example", False, None),
        ("https://blog.example/post", False, None, True, "page"),  # framed on an allowed origin
        ("https://evil.example/post", False, "https://tend.example", True, None),
        (None, True, None, False, None),
    ],
)
def test_believed_page_table(page, keyed, origin, framed, believed):
    allowed = {"https://blog.example", "https://tend.example"}
    expected = page if believed == "page" else believed
    assert (
        believed_page(page, keyed=keyed, origin=origin, framed=framed, allowed=allowed) == expected
    )


def stored_pages(app) -> list[str | None]:
    with app.app_context():
        return db.session.scalars(select(Consent.page_url).order_by(Consent.id)).all()


def test_a_page_is_believed_only_from_a_key_or_a_matching_origin(make_app):
    app = make_app(EMBED_ALLOWED_ORIGINS=BLOG, SIGNUP_API_KEYS=SERVER_KEY)
    client = app.test_client()
    evil = "https://evil.example/tend-admin-relogin"
    anonymous = client.post("/api/subscribe", json=SIGNUP | {"page": evil})
    keyed = client.post(
        "/api/subscribe",
        json={"name": "Bo", "email": "bo@example.com", "page": f"{BLOG}/from-my-server"},
        headers={"Authorization": f"Bearer {SERVER_KEY}"},
    )
    browser = client.post(
        "/api/subscribe",
        json={"name": "Cy", "email": "cy@example.com", "page": f"{BLOG}/post"},
        headers={"Origin": BLOG},
    )
    # The hosted form names the page its frame sits on: only on an origin that may frame it.
    form = client.get("/signup").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]*)"', form).group(1)
    framed = client.post(
        "/signup",
        data={"name": "Di", "email": "di@example.com", "csrf_token": token, "page": evil},
    )
    assert [r.status_code for r in (anonymous, keyed, browser, framed)] == [202, 202, 202, 303]
    assert stored_pages(app) == [None, f"{BLOG}/from-my-server", f"{BLOG}/post", None]


def test_the_dashboard_links_only_pages_on_allowed_origins(make_app):
    app = make_app(
        ADMIN_PASSWORD=ADMIN_PASSWORD, EMBED_ALLOWED_ORIGINS=BLOG, SIGNUP_API_KEYS=SERVER_KEY
    )
    client = app.test_client()
    key = {"Authorization": f"Bearer {SERVER_KEY}"}
    # A keyed call is believed, whatever it names; the dashboard still shows only the
    # coach's own pages as links.
    for email, page in (
        ("a@example.com", f"{BLOG}/post"),
        ("b@example.com", "https://evil.example/x"),
    ):
        body = {"name": "A", "email": email, "page": page}
        assert client.post("/api/subscribe", json=body, headers=key).status_code == 202
    page = dashboard(app)
    assert f'<a href="{BLOG}/post"' in page
    assert "https://evil.example/x" in page and 'href="https://evil.example/x"' not in page


def test_a_proof_is_spent_once_and_a_replay_still_counts(make_app):
    app = make_app(
        SIGNUP_CHALLENGE="pow", SIGNUP_RATE_LIMIT="3/minute", METRICS_TOKEN=METRICS_TOKEN
    )
    client = app.test_client()
    proof = solution_from(client)
    first = client.post("/api/subscribe", json=SIGNUP | {"altcha": proof})
    again = client.post("/api/subscribe", json=SIGNUP | {"altcha": proof})
    assert (first.status_code, again.status_code) == (202, 400)
    assert rejections(client)["replay"] == 1
    third = client.post("/api/subscribe", json=SIGNUP | {"altcha": solution_from(client)})
    limited = client.post("/api/subscribe", json=SIGNUP | {"altcha": solution_from(client)})
    assert (third.status_code, limited.status_code) == (202, 429)
    assert int(limited.headers["Retry-After"]) <= 60
