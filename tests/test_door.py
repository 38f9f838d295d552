"""The door: the bot challenge, API keys, where a form post comes from, single use, and a
body no signup route may choke on. Each refusal is a 4xx with the banner and stores nothing.
"""

from __future__ import annotations

import base64
import json
import re
import socket
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from support import BANNER, RedisServer, free_port, hosted_fields, solution_from, solve, wait_for

from models import SpentToken, Subscriber, db, utcnow
from signup import challenge
from signup.door import post_from_allowed_page
from signup.traps import form_token
from web import redis_edge

AGAIN = "Almost there: please press the button once more."
KEY = "server-key-0123456789abcdef"
BLOG = "https://blog.example"


def count(app, model=Subscriber) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def pow_app(make_app):
    """Tend as shipped: the challenge on, a key for a server, a blog allowed to embed."""
    return make_app(SIGNUP_CHALLENGE="pow", SIGNUP_API_KEYS=KEY, EMBED_ALLOWED_ORIGINS=BLOG)


def _payload(data) -> str:
    return base64.b64encode(json.dumps(data).encode()).decode()


# ---- the challenge ---------------------------------------------------------------------


def test_the_challenge_is_altcha_and_one_solution_signs_up_once(pow_app):
    client = pow_app.test_client()
    issued = client.get("/api/challenge", headers={"Origin": BLOG})
    assert issued.status_code == 200 and issued.headers["Cache-Control"] == "no-store"
    assert issued.headers["Access-Control-Allow-Origin"] == BLOG
    body = issued.get_json()
    assert set(body) >= {"algorithm", "challenge", "maxnumber", "salt", "signature"}
    assert body["algorithm"] == "SHA-256" and body["maxnumber"] == challenge.MAX_NUMBER
    solution = solve(body)  # the altcha package's own solver
    signup = {"name": "Ann", "email": "ann@example.com", "altcha": solution}
    first = client.post("/api/subscribe", json=signup, headers={"Origin": BLOG})
    assert first.status_code == 202 and first.get_json() == {"status": "ok"}
    replay = client.post(
        "/api/subscribe", json=signup | {"email": "bob@example.com"}, headers={"Origin": BLOG}
    )
    assert replay.status_code == 400 and replay.get_json() == {"errors": {}, "message": BANNER}
    assert count(pow_app) == 1


def test_the_api_without_origin_or_key_no_longer_takes_any_bots_json(pow_app):
    client = pow_app.test_client()
    bare = client.post("/api/subscribe", json={"name": "Bot", "email": "bot@example.com"})
    assert bare.status_code == 400 and bare.get_json()["message"] == BANNER
    form = client.post("/api/subscribe", data={"name": "Bot", "email": "bot@example.com"})
    assert form.status_code == 400
    assert count(pow_app) == 0


def forged_solutions(app) -> dict[str, str]:
    secret = app.config["SECRET_KEY"]
    now = utcnow()
    good = json.loads(base64.b64decode(solve(challenge.issue(secret, now))))
    other_key = json.loads(base64.b64decode(solve(challenge.issue("another-secret" * 3, now))))
    expired = solve(challenge.issue(secret, now - timedelta(hours=2, seconds=5)))
    salt, _, _ = good["salt"].partition("?")
    return {
        "signed with another key": _payload(other_key),
        "expired": expired,
        "wrong number": _payload(good | {"number": (good["number"] + 1) % challenge.MAX_NUMBER}),
        "number as text": _payload(good | {"number": str(good["number"])}),
        "number true": _payload(good | {"number": True}),
        "expiry moved": _payload(good | {"salt": f"{salt}?expires=99999999999&"}),
        "two expiries": _payload(good | {"salt": good["salt"] + "expires=99999999999&"}),
        "another algorithm": _payload(good | {"algorithm": "SHA-1"}),
        "no signature": _payload({k: v for k, v in good.items() if k != "signature"}),
        "a list": _payload([good]),
        "deeply nested": _payload(json.loads("[" * 300 + "]" * 300)),
        "not base64": "%%%not base64%%%",
        "not JSON": base64.b64encode(b"\xff\xfe{").decode(),
        "huge": "A" * 5000,
        "empty": "",
    }


def test_every_forged_or_stale_solution_is_refused_and_stores_nothing(pow_app):
    client = pow_app.test_client()
    for label, payload in forged_solutions(pow_app).items():
        response = client.post(
            "/api/subscribe", json={"name": "Ann", "email": "ann@example.com", "altcha": payload}
        )
        assert response.status_code == 400, label
        assert response.get_json() == {"errors": {}, "message": BANNER}, label
        assert challenge.check(pow_app.config["SECRET_KEY"], payload, utcnow()) is None, label
    for not_text in (None, 12, ["x"], {"a": 1}):
        assert challenge.check(pow_app.config["SECRET_KEY"], not_text, utcnow()) is None
    assert count(pow_app) == 0


def test_a_solution_is_fresh_for_two_hours(pow_app):
    secret = pow_app.config["SECRET_KEY"]
    now = utcnow()
    payload = solve(challenge.issue(secret, now))
    assert challenge.check(secret, payload, now + timedelta(hours=1, minutes=59)) is not None
    assert challenge.check(secret, payload, now + timedelta(hours=2, seconds=1)) is None


def test_with_the_challenge_off_there_is_no_challenge_to_fetch(make_app):
    client = make_app(SIGNUP_CHALLENGE="off").test_client()
    assert client.get("/api/challenge").status_code == 404


# ---- API keys ----------------------------------------------------------------------------


def test_a_server_with_a_key_needs_no_challenge_and_no_per_client_limit(make_app):
    app = make_app(
        SIGNUP_CHALLENGE="pow",
        SIGNUP_API_KEYS=f"other-key-0123456789,{KEY}",
        SIGNUP_RATE_LIMIT="1/minute",
    )
    client = app.test_client()
    auth = {"Authorization": f"Bearer {KEY}"}
    codes = [
        client.post(
            "/api/subscribe", json={"name": "Ann", "email": f"a{i}@example.com"}, headers=auth
        ).status_code
        for i in range(3)
    ]
    assert codes == [202, 202, 202]  # one server speaks for many readers
    assert count(app) == 3


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {KEY}x", "Bearer ", "Basic dXNlcjpwYXNz", f"Token {KEY}", f"Bearer {KEY[:-1]}"],
)
def test_a_wrong_key_is_refused_with_the_banner(pow_app, authorization):
    client = pow_app.test_client()
    response = client.post(
        "/api/subscribe",
        json={"name": "Ann", "email": "ann@example.com", "altcha": solution_from(client)},
        headers={"Authorization": authorization},
    )
    assert response.status_code == 401 and response.get_json()["message"] == BANNER
    assert count(pow_app) == 0


def test_a_short_api_key_is_refused_at_start(make_app):
    import settings

    with pytest.raises(settings.ConfigError, match="SIGNUP_API_KEYS"):
        settings.load({"SECRET_KEY": "k" * 40, "SIGNUP_API_KEYS": "short"})
    with pytest.raises(settings.ConfigError, match="SIGNUP_CHALLENGE"):
        settings.load({"SECRET_KEY": "k" * 40, "SIGNUP_CHALLENGE": "captcha"})
    assert settings.load({"SECRET_KEY": "k" * 40, "FLASK_DEBUG": "1"})["SIGNUP_CHALLENGE"] == "pow"


# ---- the hosted form ---------------------------------------------------------------------


def _hosted(client) -> tuple[dict, dict]:
    html = client.get("/signup").get_data(as_text=True)
    found = re.search(r"data-challenge='([^']*)'", html)
    return hosted_fields(html), json.loads(found.group(1)) if found else {}


def test_the_hosted_form_with_a_solution_needs_no_waiting(make_app):
    # The proof of work stands in for the time trap: autofill and a quick press are fine.
    app = make_app(SIGNUP_CHALLENGE="pow", SIGNUP_MIN_SECONDS="30")
    client = app.test_client()
    fields, issued = _hosted(client)
    assert issued["algorithm"] == "SHA-256" and fields["altcha"] == ""
    fields["altcha"] = solve(issued)
    response = client.post("/signup", data={"name": "Ann", "email": "ann@example.com", **fields})
    assert response.status_code == 303 and count(app) == 1


def test_without_javascript_the_hosted_form_works_by_its_token_once(make_app):
    app = make_app(SIGNUP_CHALLENGE="pow", SIGNUP_MIN_SECONDS="2")
    client = app.test_client()
    token = form_token(app.config["SECRET_KEY"], utcnow() - timedelta(seconds=5))
    data = {"name": "Ann", "email": "ann@example.com", "csrf_token": token}
    assert client.post("/signup", data=data).status_code == 303
    # The same token again (the back button, or a bot replaying it): once more, fresh.
    again = client.post("/signup", data=data | {"email": "bob@example.com"})
    html = again.get_data(as_text=True)
    assert again.status_code == 400 and AGAIN in html and token not in html
    assert count(app) == 1


def test_a_used_solution_on_the_hosted_form_asks_for_one_more_press_with_a_new_one(make_app):
    app = make_app(SIGNUP_CHALLENGE="pow")
    client = app.test_client()
    fields, issued = _hosted(client)
    fields["altcha"] = solve(issued)
    data = {"name": "Ann", "email": "ann@example.com", **fields}
    assert client.post("/signup", data=data).status_code == 303
    again = client.post("/signup", data=data | {"email": "bob@example.com"})
    html = again.get_data(as_text=True)
    assert again.status_code == 400 and AGAIN in html
    assert hosted_fields(html)["altcha"] == "" and "data-challenge=" in html  # a new one
    assert count(app) == 1


def test_a_bad_solution_on_the_hosted_form_gets_the_banner(make_app):
    app = make_app(SIGNUP_CHALLENGE="pow")
    client = app.test_client()
    fields, _ = _hosted(client)
    fields["altcha"] = "bm90IGEgc29sdXRpb24="
    response = client.post("/signup", data={"name": "Ann", "email": "ann@example.com", **fields})
    assert response.status_code == 400 and BANNER in response.get_data(as_text=True)
    assert count(app) == 0


def test_a_field_error_keeps_a_good_solution_for_the_next_press(make_app):
    app = make_app(SIGNUP_CHALLENGE="pow")
    client = app.test_client()
    fields, issued = _hosted(client)
    fields["altcha"] = solve(issued)
    typo = client.post("/signup", data={"name": "", "email": "ann@example.com", **fields})
    kept = hosted_fields(typo.get_data(as_text=True))
    assert typo.status_code == 400 and kept["altcha"] == fields["altcha"]
    assert "data-challenge" not in typo.get_data(as_text=True)  # nothing left to solve
    fixed = client.post("/signup", data={"name": "Ann", "email": "ann@example.com", **kept})
    assert fixed.status_code == 303 and count(app) == 1


ORIGIN_CASES = [
    # (Origin, Sec-Fetch-Site, Referer) -> allowed?
    (("https://tend.example", None, None), True),
    ((BLOG, None, None), True),
    (("https://evil.example", None, None), False),
    (("null", None, None), False),
    (("https://evil.example", "same-origin", "https://tend.example/signup"), False),
    ((None, "same-origin", None), True),
    ((None, "none", None), True),
    ((None, "cross-site", None), False),
    ((None, "cross-site", f"{BLOG}/post"), True),
    ((None, "cross-site", "https://evil.example/post"), False),
    ((None, None, "https://evil.example/post"), False),
    ((None, None, "https://tend.example/signup"), True),
    ((None, None, None), True),  # no browser headers at all: the token decides
]


@pytest.mark.parametrize(("headers", "allowed"), ORIGIN_CASES)
def test_where_a_form_post_may_come_from(headers, allowed):
    origin, fetch_site, referer = headers
    verdict = post_from_allowed_page(
        origin=origin,
        fetch_site=fetch_site,
        referer=referer,
        allowed={"https://tend.example", BLOG},
    )
    assert verdict is allowed


def test_a_form_post_from_another_site_is_refused(make_app):
    app = make_app(EMBED_ALLOWED_ORIGINS=BLOG)
    client = app.test_client()
    for headers in (
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site", "Referer": "https://evil.example/x"},
    ):
        fields, _ = _hosted(client)
        response = client.post(
            "/signup", data={"name": "Ann", "email": "ann@example.com", **fields}, headers=headers
        )
        assert response.status_code == 403 and BANNER in response.get_data(as_text=True)
    assert count(app) == 0
    fields, _ = _hosted(client)
    ours = client.post(
        "/signup",
        data={"name": "Ann", "email": "ann@example.com", **fields},
        headers={"Origin": "https://tend.example", "Sec-Fetch-Site": "same-origin"},
    )
    assert ours.status_code == 303 and count(app) == 1


# ---- single use while Redis is down --------------------------------------------------------


class _Clock:
    """A monotonic clock the test moves on, instead of sleeping through a retry delay."""

    seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


def test_single_use_holds_while_redis_is_down_and_after_it_returns(make_app):
    redis = RedisServer(free_port())
    redis.start()
    try:
        app = make_app(SIGNUP_CHALLENGE="pow", REDIS_URL=redis.url, EMBED_ALLOWED_ORIGINS=BLOG)
        clock = app.extensions["tend.monotonic"] = _Clock()
        client = app.test_client()

        def post(email, payload):
            return client.post(
                "/api/subscribe",
                json={"name": "Ann", "email": email, "altcha": payload},
                headers={"Origin": BLOG},
            )

        before = solution_from(client)
        assert post("a@example.com", before).status_code == 202
        redis.stop()
        during = solution_from(client)  # issuing needs no Redis
        assert post("b@example.com", during).status_code == 202  # kept in the database
        assert post("c@example.com", during).status_code == 400
        assert count(app, SpentToken) == 1
        redis.start()
        # The database is asked while Redis cools down, then Redis again.
        clock.seconds += redis_edge.COOL_DOWN_SECONDS + 0.1
        assert post("d@example.com", during).status_code == 400  # copied into Redis
        assert post("e@example.com", solution_from(client)).status_code == 202
        assert count(app, SpentToken) == 1  # the new one went to Redis
        assert count(app) == 3
    finally:
        redis.stop()


# ---- bodies no signup route may choke on ---------------------------------------------------


def _chunked(port: int, path: str, body: bytes, ctype: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        ).encode()
        chunks = b"".join(
            f"{len(body[i : i + 1000]):x}\r\n".encode() + body[i : i + 1000] + b"\r\n"
            for i in range(0, len(body), 1000)
        )
        conn.sendall(head + chunks + b"0\r\n\r\n")
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_a_chunked_body_over_the_limit_is_413_not_cut(make_app):
    import threading

    from werkzeug.serving import make_server

    app = make_app()
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        pad = "x" * 20_000
        form = _chunked(
            server.server_port,
            "/api/subscribe",
            f"name=Ann&email=ann%40example.com&pad={pad}".encode(),
            "application/x-www-form-urlencoded",
        )
        assert form.startswith(b"HTTP/1.1 413") and BANNER.encode() in form
        as_json = _chunked(
            server.server_port,
            "/api/subscribe",
            json.dumps({"name": "Ann", "email": "ann@example.com", "pad": pad}).encode(),
            "application/json",
        )
        assert as_json.startswith(b"HTTP/1.1 413")
        page = _chunked(
            server.server_port,
            "/signup",
            f"name=Ann&email=ann%40example.com&pad={pad}".encode(),
            "application/x-www-form-urlencoded",
        )
        assert page.startswith(b"HTTP/1.1 413") and BANNER.encode() in page
        small = _chunked(
            server.server_port,
            "/api/subscribe",
            b"name=Ann&email=ann%40example.com",
            "application/x-www-form-urlencoded",
        )
        assert small.startswith(b"HTTP/1.1 202")  # a chunked body within the limit is fine
    finally:
        server.shutdown()
        server.server_close()
    assert wait_for(lambda: count(app) == 1, timeout=5)


@pytest.mark.parametrize(
    "body",
    [
        "[" * 5000 + "]" * 5000,
        '{"name":' + "[" * 5000 + "]" * 5000 + ', "email": "a@example.com"}',
        '{"name": "Ann", "email": "a@example.com", "x": ' + '{"a":' * 2000 + "1" + "}" * 2000 + "}",
        '{"name": {"first": {"a": {"b": {"c": "Ann"}}}}, "email": "a@example.com"}',
    ],
)
def test_deeply_nested_json_is_a_400_never_a_500(app, client, body):
    response = client.post("/api/subscribe", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json() == {"errors": {}, "message": BANNER}
    assert count(app) == 0
