"""Abuse controls and doors: rate limits, bot traps, headers, body caps, no enumeration."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select
from support import BANNER

from models import Consent, Delivery, Subscriber, db, utcnow
from signup.traps import form_token

AGAIN = "Almost there: please press the button once more."
RATE_LIMITED = "Too many tries from your network. Please wait a minute and try again."


def count(app, model=Subscriber):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def form_fields(client):
    html = client.get("/signup").get_data(as_text=True)
    return dict(re.findall(r'name="(csrf_token)" type="hidden" value="([^"]*)"', html))


def test_rate_limit_answers_429_with_the_banner(make_app):
    app = make_app(SIGNUP_RATE_LIMIT="3/minute")
    client = app.test_client()
    codes = [
        client.post("/api/subscribe", json={"name": "A", "email": f"a{i}@example.com"}).status_code
        for i in range(4)
    ]
    assert codes == [202, 202, 202, 429]
    limited = client.post("/api/subscribe", json={"name": "A", "email": "z@example.com"})
    # Its own sentence: nothing the reader typed is wrong, so it does not ask them to check.
    assert limited.status_code == 429 and limited.get_json() == {
        "errors": {},
        "message": RATE_LIMITED,
    }
    assert 0 < int(limited.headers["Retry-After"]) <= 61  # the rest of the minute, rounded up
    page = client.post(
        "/signup", data={"name": "A", "email": "y@example.com", **form_fields(client)}
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 429 and RATE_LIMITED in html and BANNER not in html
    assert 0 < int(page.headers["Retry-After"]) <= 61
    assert 'value="y@example.com"' in html
    assert count(app) == 3


def test_rate_limit_holds_in_memory_when_redis_is_down(make_app):
    app = make_app(SIGNUP_RATE_LIMIT="3/minute", REDIS_URL="redis://127.0.0.1:1/0")
    client = app.test_client()
    codes = [
        client.post("/api/subscribe", json={"name": "A", "email": f"a{i}@example.com"}).status_code
        for i in range(5)
    ]
    assert codes == [202, 202, 202, 429, 429]  # never a 500, never unlimited
    assert count(app) == 3


def test_proxy_fix_trusts_forwarded_for_only_when_configured(make_app):
    behind = make_app(PROXY_FIX_HOPS="1", SIGNUP_RATE_LIMIT="2/minute").test_client()
    for ip in ("203.0.113.9", "198.51.100.7"):
        for i in range(2):
            response = behind.post(
                "/api/subscribe",
                json={"name": "A", "email": f"{ip}.{i}@example.com"},
                headers={"X-Forwarded-For": ip},
            )
            assert response.status_code == 202  # each client has its own bucket
    app = behind.application
    with app.app_context():
        assert {c.ip for c in db.session.scalars(select(Consent))} == {
            "203.0.113.9",
            "198.51.100.7",
        }
    direct = make_app(SIGNUP_RATE_LIMIT="2/minute").test_client()
    codes = [
        direct.post(
            "/api/subscribe",
            json={"name": "A", "email": f"d{i}@example.com"},
            headers={"X-Forwarded-For": f"10.0.0.{i}"},
        ).status_code
        for i in range(3)
    ]
    assert codes == [202, 202, 429]  # a spoofed header buys nothing without a proxy


def test_many_signups_of_one_address_send_one_confirmation(app, client, smtp):
    from support import work

    for _ in range(6):
        assert (
            client.post(
                "/api/subscribe", json={"name": "Ann", "email": "ann@example.com"}
            ).status_code
            == 202
        )
    work(app)
    assert len(smtp.received) == 1


def test_time_trap_on_the_hosted_form(make_app):
    # The token's time is whole seconds, so "2" left a slow machine as little as 1 s to post.
    app = make_app(SIGNUP_MIN_SECONDS="30")
    client = app.test_client()
    fields = form_fields(client)
    fast = client.post("/signup", data={"name": "Ann", "email": "ann@example.com", **fields})
    # Answered honestly: the form again, asking for one more press, and nothing stored.
    html = fast.get_data(as_text=True)
    assert fast.status_code == 400 and AGAIN in html and "Check your inbox" not in html
    assert 'value="ann@example.com"' in html
    assert count(app) == 0
    fields["csrf_token"] = form_token(app.config["SECRET_KEY"], utcnow() - timedelta(seconds=60))
    human = client.post("/signup", data={"name": "Ann", "email": "ann@example.com", **fields})
    assert human.status_code == 303 and count(app) == 1
    forged = client.post(
        "/signup",
        data={"name": "Eve", "email": "eve@example.com", "csrf_token": "1234.forged"},
    )
    assert forged.status_code == 400 and BANNER in forged.get_data(as_text=True)
    assert count(app) == 1


def test_a_hosted_post_without_a_token_is_refused_not_untimed(make_app):
    app = make_app(SIGNUP_MIN_SECONDS="30")
    client = app.test_client()
    bare = client.post("/signup", data={"name": "Bot", "email": "bot@example.com"})
    assert bare.status_code == 400 and BANNER in bare.get_data(as_text=True)
    assert count(app) == 0


def test_form_tokens_expire(make_app):
    app = make_app()
    client = app.test_client()
    stale = form_token(app.config["SECRET_KEY"], utcnow() - timedelta(hours=3))
    response = client.post(
        "/signup", data={"name": "Ann", "email": "ann@example.com", "csrf_token": stale}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and AGAIN in html
    assert stale not in html  # a fresh token, so one more press goes through
    assert count(app) == 0
    again = client.post(
        "/signup", data={"name": "Ann", "email": "ann@example.com", **_fields_of(html)}
    )
    assert again.status_code == 303 and count(app) == 1


def _fields_of(html: str) -> dict:
    return dict(re.findall(r'name="(csrf_token)" type="hidden" value="([^"]*)"', html))


def test_with_the_challenge_off_the_api_takes_a_server_call_untimed(make_app):
    # SIGNUP_CHALLENGE=off is the operator's choice to guard the API some other way.
    app = make_app(SIGNUP_CHALLENGE="off", SIGNUP_MIN_SECONDS="30")
    client = app.test_client()
    untimed = client.post("/api/subscribe", json={"name": "Ann", "email": "ann@example.com"})
    assert untimed.status_code == 202 and count(app) == 1


def test_security_headers_on_every_page(client):
    for path in ["/signup", "/signup/thanks", "/embed.js", "/healthz", "/nope", "/unsubscribe/bad"]:
        headers = client.get(path).headers
        assert "default-src 'self'" in headers["Content-Security-Policy"], path
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_session_cookie_is_secure_over_https(make_app):
    # Only the dashboard has a session now; it is never framed, so Lax on both schemes.
    password = "correct horse battery staple"
    https = make_app(PUBLIC_BASE_URL="https://tend.example", ADMIN_PASSWORD=password)
    cookie = https.test_client().get("/admin/login").headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    plain = make_app(PUBLIC_BASE_URL="http://localhost:5000", ADMIN_PASSWORD=password)
    cookie = plain.test_client().get("/admin/login").headers["Set-Cookie"]
    assert "Secure" not in cookie and "SameSite=Lax" in cookie


def test_the_signup_form_sets_no_cookie(app, client):
    page = client.get("/signup")
    assert "Set-Cookie" not in page.headers
    posted = client.post(
        "/signup", data={"name": "Ann", "email": "ann@example.com", **form_fields(client)}
    )
    assert posted.status_code == 303 and "Set-Cookie" not in posted.headers
    assert count(app) == 1


def test_large_bodies_are_refused_with_413_and_the_banner(app, client):
    huge = "x" * (20 * 1024)
    api = client.post("/api/subscribe", json={"name": huge, "email": "ann@example.com"})
    assert api.status_code == 413 and api.get_json()["message"] == BANNER
    form = client.post(
        "/signup", data={"name": huge, "email": "ann@example.com", **form_fields(client)}
    )
    assert form.status_code == 413 and BANNER in form.get_data(as_text=True)
    assert count(app) == 0


def test_responses_never_tell_whether_an_address_is_listed(app, client):
    from support import work

    client.post("/api/subscribe", json={"name": "Ann", "email": "ann@example.com"})
    work(app)
    known = client.post("/api/subscribe", json={"name": "Ann", "email": "ann@example.com"})
    unknown = client.post("/api/subscribe", json={"name": "Ann", "email": "new@example.com"})
    assert (known.status_code, known.data) == (unknown.status_code, unknown.data)
    fields = form_fields(client)
    a = client.post("/signup", data={"name": "Ann", "email": "ann@example.com", **fields})
    b = client.post(
        "/signup", data={"name": "Ann", "email": "other@example.com", **form_fields(client)}
    )
    assert (a.status_code, a.headers["Location"]) == (b.status_code, b.headers["Location"])
    assert count(app, Delivery) == 3  # ann once (not again within 10 minutes), new, other


def test_a_filled_honeypot_is_a_success_even_with_bad_fields(app, client):
    api = client.post("/api/subscribe", json={"name": "", "email": "nope", "website": "x"})
    assert api.status_code == 202 and api.get_json() == {"status": "ok"}
    form = client.post(
        "/signup", data={"name": "", "email": "nope", "website": "x", **form_fields(client)}
    )
    assert form.status_code == 303
    assert count(app) == 0


def test_a_quick_correction_after_an_error_is_not_a_bot(make_app):
    app = make_app(SIGNUP_MIN_SECONDS="2")
    client = app.test_client()
    fields = {"csrf_token": form_token(app.config["SECRET_KEY"], utcnow() - timedelta(seconds=5))}
    typo = client.post("/signup", data={"name": "Ann", "email": "ann@example", **fields})
    assert typo.status_code == 400
    again = _fields_of(typo.get_data(as_text=True))
    assert again["csrf_token"] == fields["csrf_token"]  # the first showing still counts
    fixed = client.post("/signup", data={"name": "Ann", "email": "ann@example.com", **again})
    assert fixed.status_code == 303 and count(app) == 1


def test_a_suppressed_address_must_confirm_even_with_single_opt_in(make_app, smtp):
    from support import work

    from models import Status, Suppression
    from subscribers.suppression import suppression_hash

    app = make_app(DOUBLE_OPT_IN="0", RESEND_MINUTES="0")
    client = app.test_client()
    client.post("/api/subscribe", json={"name": "Ann", "email": "ann@example.com"})
    with app.app_context():
        sub = db.session.scalar(select(Subscriber))
        # Unsubscribed in the list she was imported from.
        sub.status, sub.unsubscribed_at = Status.UNSUBSCRIBED, utcnow()
        db.session.add(
            Suppression(
                email_hash=suppression_hash("ann@example.com"), reason="import-unsubscribed"
            )
        )
        db.session.commit()
    client.post("/api/subscribe", json={"name": "Ann", "email": "ann@example.com"})
    work(app)
    with app.app_context():  # still off the list until her own click
        assert db.session.scalar(select(Subscriber.status)) == Status.UNSUBSCRIBED
    assert "/confirm/" in smtp.received[-1].message.get_body(("plain",)).get_content()


def test_ipv6_clients_are_counted_by_their_64(make_app):
    app = make_app(SIGNUP_RATE_LIMIT="2/minute")
    client = app.test_client()

    def post(address: str, i: int) -> int:
        return client.post(
            "/api/subscribe",
            json={"name": "A", "email": f"v6.{i}@example.com"},
            environ_base={"REMOTE_ADDR": address},
        ).status_code

    # Three addresses of one /64: one client, whatever the last 64 bits say.
    same = ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:2:abcd:1234:5678:9abc"]
    assert [post(a, i) for i, a in enumerate(same)] == [202, 202, 429]
    assert post("2001:db8:1:3::1", 10) == 202  # the next /64 is another client
    # An IPv4 address written as IPv6 counts as the IPv4 address.
    assert [post(a, 20 + i) for i, a in enumerate(["192.0.2.7", "::ffff:192.0.2.7"])] == [202, 202]
    assert post("192.0.2.7", 30) == 429


def test_network_of_table():
    from web.limits import network_of

    assert network_of("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert network_of("2001:DB8:1:2::") == "2001:db8:1:2::/64"
    assert network_of("fe80::1%eth0") == "fe80::/64"
    assert network_of("::ffff:203.0.113.9") == "203.0.113.9"
    assert network_of("203.0.113.9") == "203.0.113.9"
    assert network_of("") == "unknown" and network_of(None) == "unknown"


def test_admin_logins_are_limited_across_all_addresses(make_app):
    from support import csrf_from

    app = make_app(
        ADMIN_PASSWORD="correct horse battery staple",
        ADMIN_LOGIN_RATE_LIMIT="100/minute",
        ADMIN_LOGIN_GLOBAL_RATE_LIMIT="3/minute",
    )
    codes = []
    for i in range(4):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{i + 1}"  # each guess from elsewhere
        page = client.get("/admin/login").get_data(as_text=True)
        codes.append(
            client.post(
                "/admin/login", data={"csrf_token": csrf_from(page), "password": "guess"}
            ).status_code
        )
    assert codes == [401, 401, 401, 429]


def test_admin_logins_from_one_ipv6_64_share_a_limit(make_app):
    from support import csrf_from

    app = make_app(ADMIN_PASSWORD="correct horse battery staple", ADMIN_LOGIN_RATE_LIMIT="2/minute")
    codes = []
    for i in range(3):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"2001:db8:77:1::{i + 1:x}"
        page = client.get("/admin/login").get_data(as_text=True)
        codes.append(
            client.post(
                "/admin/login", data={"csrf_token": csrf_from(page), "password": "guess"}
            ).status_code
        )
    assert codes == [401, 401, 429]


def test_a_post_refused_for_its_fields_or_held_for_did_you_mean_is_not_counted(make_app):
    app = make_app(SIGNUP_RATE_LIMIT="5/minute")
    client = app.test_client()
    mistakes = [
        {"name": "", "email": "ann@example.com"},
        {"name": "Ann", "email": "ann@"},
        {"name": "", "email": ""},
        {"name": "Ann", "email": "ann.example.com"},
    ]
    for body in mistakes:
        assert client.post("/api/subscribe", json=body).status_code == 400
    # The hosted form's field error and its "Did you mean" round count no more than the API's.
    page = client.post(
        "/signup", data={"name": "", "email": "ann@example.com", **form_fields(client)}
    )
    assert page.status_code == 400 and "Please enter your name." in page.get_data(as_text=True)
    check = client.post(
        "/api/subscribe", json={"name": "Ann", "email": "ann@gmial.con", "email_checked": ""}
    )
    assert check.get_json() == {"status": "check", "suggestion": "ann@gmail.com"}
    codes = [
        client.post("/api/subscribe", json={"name": "A", "email": f"a{i}@example.com"}).status_code
        for i in range(6)
    ]
    assert codes == [202, 202, 202, 202, 202, 429]  # five signups a minute, as configured
    assert count(app) == 5


def test_a_refused_bot_still_counts(make_app):
    app = make_app(SIGNUP_RATE_LIMIT="3/minute", SIGNUP_CHALLENGE="pow")
    client = app.test_client()
    honeypot = {"name": "A", "email": "bot@example.com", "website": "http://spam.example"}
    assert client.post("/api/subscribe", json=honeypot).status_code == 202  # told nothing
    no_proof = {"name": "A", "email": "bot@example.com"}
    assert client.post("/api/subscribe", json=no_proof).status_code == 400
    elsewhere = client.post(
        "/api/subscribe", json=no_proof, headers={"Origin": "https://x.example"}
    )
    assert elsewhere.status_code == 403
    limited = client.post("/api/subscribe", json=no_proof)
    assert limited.status_code == 429
    assert count(app) == 0
