"""What every page shares: our own error pages, the framing rule, a request id on each answer."""

from __future__ import annotations

import re

import pytest
from support import BANNER


@pytest.mark.parametrize("path", ["/nope", "/signup/nope", "/api/nope", "/index.html"])
def test_unknown_paths_get_our_404_page(client, path):
    response = client.get(path)
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "Page not found" in html and "This link is not valid or has expired." in html
    assert BANNER not in html
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_the_bare_site_opens_the_signup_form(client):
    for method in (client.get, client.head):
        response = method("/")
        assert response.status_code == 302 and response.headers["Location"] == "/signup"
    form = client.get("/", follow_redirects=True)
    assert form.status_code == 200 and "Send me the worksheet" in form.get_data(as_text=True)
    # A campaign's query string survives the hop.
    tagged = client.get("/?utm_source=card")
    assert tagged.headers["Location"] == "/signup?utm_source=card"
    assert client.post("/").status_code == 405


def test_a_link_with_a_bad_token_gets_the_404_page(client):
    response = client.get("/confirm/not-a-token")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


def test_a_wrong_method_gets_our_405_page(client):
    response = client.delete("/signup")
    assert response.status_code == 405
    assert "Not allowed" in response.get_data(as_text=True)
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_a_body_too_large_outside_signup_gets_the_plain_413_page(make_app):
    client = make_app(
        POSTMARK_WEBHOOK_USERNAME="postmark", POSTMARK_WEBHOOK_PASSWORD="s3cret-hook-for-tests"
    ).test_client()
    response = client.post(
        "/webhooks/postmark", data=b"x" * (5 * 1024 * 1024 + 1), content_type="application/json"
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "Too large" in html and BANNER not in html


def test_an_unexpected_error_gets_our_500_page(make_app):
    app = make_app()
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as in production, not re-raise

    @app.get("/fails")
    def fails():
        raise RuntimeError("a fault in a view")

    response = app.test_client().get("/fails")
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in html and "Please try again in a moment." in html
    assert "Traceback" not in html and "a fault in a view" not in html
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_only_the_signup_pages_may_be_framed(make_app):
    allowed = "https://blog.example"
    client = make_app(EMBED_ALLOWED_ORIGINS=allowed).test_client()
    for path in ["/signup", "/signup/thanks"]:
        csp = client.get(path).headers["Content-Security-Policy"]
        assert f"frame-ancestors 'self' {allowed}" in csp, path
    refused = client.post("/signup", data={"name": "", "email": ""})  # the form again, framed
    assert refused.status_code == 400
    assert f"frame-ancestors 'self' {allowed}" in refused.headers["Content-Security-Policy"]
    for path in ["/embed.js", "/healthz", "/unsubscribe/bad", "/confirm/bad", "/admin/login"]:
        csp = client.get(path).headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp, path
