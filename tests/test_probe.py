"""What the third hostile probe found (issue 23), each as the user or the prober would see it:
no 500 from any body, no membership oracle, a login strangers can't lock, logout that
ends the session, and the caps they got around."""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from datetime import timedelta
from html import unescape

import pytest
import sqlalchemy as sa
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy.engine import make_url
from support import BACKEND, BANNER, NAME_MSG, PG_SERVER, hosted_fields, solution_from, work

from admin import login_link
from campaigns.links import make_token
from models import Subscriber, db, utcnow

ADMIN_PASSWORD = "correct horse battery staple"


def count(app, model=Subscriber) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def errors_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


# ---- 1: no 500 from any body -------------------------------------------------------------


def _with_salt(payload: str, salt: str) -> str:
    data = json.loads(base64.b64decode(payload))
    data["salt"] = salt
    return base64.b64encode(json.dumps(data).encode()).decode()


@pytest.mark.parametrize("digits", ["①", "²", "١٢٣", "𝟗"])
def test_a_challenge_salt_with_digits_int_cannot_read_is_refused_not_a_500(make_app, digits):
    app = make_app(SIGNUP_CHALLENGE="pow")
    client = app.test_client()
    forged = _with_salt(solution_from(client), f"x?expires={digits}")
    api = client.post(
        "/api/subscribe",
        json={"name": "Ann", "email": "ann@example.com", "altcha": forged},
        headers={"Origin": "https://tend.example"},
    )
    assert api.status_code == 400 and api.get_json()["message"] == BANNER
    fields = hosted_fields(client.get("/signup").get_data(as_text=True))
    page = client.post(
        "/signup", data={**fields, "name": "Ann", "email": "ann@example.com", "altcha": forged}
    )
    assert page.status_code == 400 and BANNER in page.get_data(as_text=True)
    assert count(app) == 0


NOT_OBJECTS = [b"1e999999", b'"x"', b"[" * 5000, b'"\\ud800"', b'{"name": "\\ud800"}', b"null"]


@pytest.fixture
def admin_app(make_app):
    return make_app(ADMIN_PASSWORD=ADMIN_PASSWORD)


def _logged_in(app):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "192.0.2.10"
    page = client.get("/admin/login").get_data(as_text=True)
    token = hosted_fields(page)["csrf_token"]
    response = client.post("/admin/login", data={"csrf_token": token, "password": ADMIN_PASSWORD})
    assert response.status_code == 303
    return client


@pytest.mark.parametrize("body", NOT_OBJECTS)
def test_a_json_body_no_form_sends_is_a_400_with_the_banner(admin_app, body, caplog):
    anonymous = admin_app.test_client()
    owner = _logged_in(admin_app)
    targets = [
        (anonymous, "/signup"),
        (anonymous, "/admin/login"),
        (owner, "/admin/logout"),
        (owner, "/admin/import"),
        (owner, "/admin/export"),
        (owner, "/admin/sending/resume"),
        (owner, "/admin/emails/month-1"),
    ]
    for client, path in targets:
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            response = client.post(path, data=body, content_type="application/json")
        html = response.get_data(as_text=True)
        assert response.status_code == 400, (path, response.status_code)
        assert BANNER in html and "Werkzeug" not in html and "Bad Request" not in html
        refused = [m for m in warnings_of(caplog) if "JSON body" in m]
        assert len(refused) == 1 and not errors_of(caplog), (path, caplog.records)
    assert owner.get("/admin/").status_code == 200  # the session still stands
    assert count(admin_app) == 0


def test_a_form_shaped_json_body_is_still_read_as_the_form(admin_app):
    client = admin_app.test_client()
    token = hosted_fields(client.get("/admin/login").get_data(as_text=True))["csrf_token"]
    response = client.post("/admin/login", json={"csrf_token": token, "password": ADMIN_PASSWORD})
    assert response.status_code == 303 and client.get("/admin/").status_code == 200


# ---- 9: a read-only database -----------------------------------------------------------------


@pytest.fixture
def read_only(make_app, database_url):
    """Turns the test database read-only and gives an app on it (put back afterwards)."""
    server = None
    name = make_url(database_url).database

    def turn():
        nonlocal server
        if BACKEND != "postgresql":
            return make_app(DATABASE_URL=f"sqlite:///file:{name}?mode=ro&uri=true")
        server = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
        with server.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        return make_app()

    yield turn
    if server is not None:
        with server.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'))
        server.dispose()


def test_confirming_on_a_read_only_database_is_a_503(app, client, read_only, caplog):
    client.post("/api/subscribe", json={"name": "Ann", "email": "ann@example.com"})
    with app.app_context():
        public_id = db.session.scalar(sa.select(Subscriber.public_id))
        db.session.remove()
        db.engine.dispose()
    token = make_token(app.config["SECRET_KEY"], "confirm", public_id)
    frozen = read_only()
    with caplog.at_level(logging.WARNING):
        response = frozen.test_client().post(f"/confirm/{token}")
    assert response.status_code == 503
    assert "Please try again in a moment." in response.get_data(as_text=True)
    assert not errors_of(caplog) and not any(token in m for m in warnings_of(caplog))


# ---- 11: format characters in a name --------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["evil\u00ad.com claim your prize", "x\u200b.co/claim", "\u200b", "\u202e\u200d\u00ad"],
)
def test_a_name_unusable_without_its_format_characters_asks_for_a_name(app, client, name):
    api = client.post("/api/subscribe", json={"name": name, "email": "ann@example.com"})
    assert api.status_code == 400 and api.get_json()["errors"]["name"] == [NAME_MSG]
    fields = hosted_fields(client.get("/signup").get_data(as_text=True))
    page = client.post("/signup", data={**fields, "name": name, "email": "ann@example.com"})
    assert page.status_code == 400 and NAME_MSG in page.get_data(as_text=True)
    assert count(app) == 0


def test_format_characters_are_taken_out_of_a_name_that_stays_usable(app, client):
    response = client.post(
        "/api/subscribe", json={"name": "Bob\u202eevil", "email": "b@example.com"}
    )
    assert response.status_code == 202
    with app.app_context():
        assert db.session.scalar(sa.select(Subscriber.name)) == "Bobevil"


# ---- 7: logging out with an old form ----------------------------------------------------------


class _SixHoursAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 6 * 3600 - 60


def test_logout_from_a_page_open_too_long_says_the_session_still_stands(admin_app):
    client = _logged_in(admin_app)
    client.get("/admin/")
    with client.session_transaction() as cookie:
        raw = cookie["csrf_token"]
    old = URLSafeTimedSerializer(
        admin_app.config["SECRET_KEY"], salt="wtf-csrf-token", signer=_SixHoursAgo
    ).dumps(raw)
    refused = client.post("/admin/logout", data={"csrf_token": old})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "You are still logged in" in html
    assert client.get("/admin/").status_code == 200  # what it said is true
    fresh = hosted_fields(html)["csrf_token"]
    assert client.post("/admin/logout", data={"csrf_token": fresh}).status_code == 303
    assert client.get("/admin/").status_code == 302  # the session is over


# ---- 3: /metrics is not a membership oracle ---------------------------------------------------

TOKEN = "scrape-token-of-the-probe-7d1e0a"


def test_metrics_need_a_token_outside_debug_and_are_gone_without_one(make_app):
    assert make_app().test_client().get("/metrics").status_code == 404
    client = make_app(METRICS_TOKEN=TOKEN).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def _signups_total(client) -> float:
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(
        as_text=True
    )
    return sum(
        float(v) for v in re.findall(r'^tend_signups_total\{source="api"\} (\S+)$', text, re.M)
    )


def test_signups_total_moves_alike_for_a_known_address_and_a_new_one(make_app):
    client = make_app(METRICS_TOKEN=TOKEN).test_client()
    moves = []
    for email in ["ann@example.com", "ann@example.com", "bob@example.com", "ann@example.com"]:
        before = _signups_total(client)
        response = client.post("/api/subscribe", json={"name": "Ann", "email": email})
        assert response.status_code == 202
        moves.append(_signups_total(client) - before)
    assert moves == [1, 1, 1, 1]


# ---- 5: strangers can't lock the owner out -----------------------------------------------------


def _from(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _login_token(client) -> str:
    return hosted_fields(client.get("/admin/login").get_data(as_text=True))["csrf_token"]


def _guess(client, password: str = "guess", *, token: bool = True) -> int:
    data = {"password": password}
    if token:
        data["csrf_token"] = _login_token(client)
    return client.post("/admin/login", data=data).status_code


@pytest.fixture
def guarded(make_app):
    return make_app(
        ADMIN_PASSWORD=ADMIN_PASSWORD,
        ADMIN_LOGIN_RATE_LIMIT="5/minute",
        ADMIN_LOGIN_GLOBAL_RATE_LIMIT="3/minute",
    )


def test_guesses_from_many_addresses_never_turn_the_owner_away(guarded):
    codes = [_guess(_from(guarded, f"198.51.100.{i}")) for i in range(1, 5) for _ in range(5)]
    assert codes.count(401) == 3 and codes.count(429) == 17  # the guessers are held
    owner = _from(guarded, "203.0.113.77")
    assert _guess(owner, ADMIN_PASSWORD) == 303
    assert owner.get("/admin/").status_code == 200


def test_posts_without_a_form_token_count_toward_no_global_limit(guarded):
    for i in range(1, 11):
        assert _guess(_from(guarded, f"198.51.100.{i}"), token=False) == 401
    assert _guess(_from(guarded, "192.0.2.200")) == 401  # not 429: the junk counted nowhere


def test_an_address_that_failed_itself_waits_while_all_addresses_are_over(guarded):
    for i in range(1, 4):
        assert _guess(_from(guarded, f"198.51.100.{i}")) == 401
    typo = _from(guarded, "198.51.100.1")
    assert _guess(typo, ADMIN_PASSWORD) == 429  # it guessed wrong itself a moment ago
    assert _guess(_from(guarded, "198.51.100.9"), ADMIN_PASSWORD) == 303


def _link(app) -> str:
    result = app.test_cli_runner().invoke(args=["admin", "login-link"])
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert url.startswith("https://tend.example/admin/login/")
    return url.removeprefix("https://tend.example")


def test_a_login_link_opens_one_session_once_and_only_by_post(guarded):
    path = _link(guarded)
    browser = _from(guarded, "203.0.113.5")
    page = browser.get(path)  # a mail scanner's GET changes nothing...
    assert page.status_code == 200 and browser.get(path).status_code == 200
    assert browser.get("/admin/").status_code == 302
    assert browser.post(path).status_code == 200  # ...nor does a post without the page's token
    assert browser.get("/admin/").status_code == 302
    token = hosted_fields(page.get_data(as_text=True))["csrf_token"]
    assert browser.post(path, data={"csrf_token": token}).status_code == 303
    assert browser.get("/admin/").status_code == 200
    again = _from(guarded, "203.0.113.6")
    assert again.post(path, data={"csrf_token": _login_token(again)}).status_code == 404  # used
    assert again.get("/admin/").status_code == 302


def test_a_login_link_lasts_ten_minutes_and_one_password(guarded, make_app):
    with guarded.app_context():
        stale = login_link.make(guarded.config, utcnow() - timedelta(minutes=10, seconds=1))
        fresh = login_link.make(guarded.config, utcnow() - timedelta(minutes=9))
    client = _from(guarded, "203.0.113.8")
    assert client.get(f"/admin/login/{stale}").status_code == 404
    assert client.get(f"/admin/login/{fresh}").status_code == 200
    changed = make_app(ADMIN_PASSWORD="a new password for the dashboard")
    assert changed.test_client().get(f"/admin/login/{fresh}").status_code == 404


def test_no_login_link_without_a_dashboard(app):
    result = app.test_cli_runner().invoke(args=["admin", "login-link"])
    assert result.exit_code != 0 and "ADMIN_PASSWORD" in result.stderr


# ---- 10: sub-addresses share one mailbox's cap -------------------------------------------------


def test_sub_addresses_of_one_mailbox_share_its_three_requests_to_confirm(app, client, smtp):
    addresses = [f"bomb-target+{i}@example.org" for i in range(5)] + ["Bomb-Target@example.org"]
    for email in addresses:
        response = client.post("/api/subscribe", json={"name": "Ann", "email": email})
        assert response.status_code == 202  # the same answer for each
    other = client.post("/api/subscribe", json={"name": "Bo", "email": "bomb-target2@example.org"})
    assert other.status_code == 202
    work(app)
    to = [r.rcpt_tos[0].lower() for r in smtp.received]
    assert (
        sum(1 for a in to if a.startswith(("bomb-target+", "bomb-target@"))) == 3
    )  # not 6: one mailbox, one share
    assert len(smtp.received) == 4  # another mailbox has its own
    assert count(app) == 4  # the refused ones are not stored either


def test_a_confirmed_reader_still_gets_the_worksheet_again_after_the_mailbox_share(make_app, smtp):
    app = make_app(DOUBLE_OPT_IN="0", RESEND_MINUTES="0")
    client = app.test_client()
    for _ in range(5):
        client.post("/api/subscribe", json={"name": "Ann", "email": "ann+news@example.org"})
    work(app)
    assert len(smtp.received) == 5  # the worksheet asks nobody to confirm: not capped


# ---- 12: challenges are limited, and dearer for a busy client ---------------------------------

BLOG = "https://blog.example"


def test_challenges_are_limited_per_client(make_app):
    app = make_app(SIGNUP_CHALLENGE="pow")
    greedy, other = _from(app, "198.51.100.20"), _from(app, "198.51.100.21")
    codes = [greedy.get("/api/challenge").status_code for _ in range(21)]
    assert codes == [200] * 20 + [429]
    assert other.get("/api/challenge").status_code == 200


def test_a_client_that_signed_up_lately_gets_harder_challenges(make_app):
    app = make_app(SIGNUP_CHALLENGE="pow", EMBED_ALLOWED_ORIGINS=BLOG)
    busy, quiet = _from(app, "198.51.100.30"), _from(app, "198.51.100.31")
    sizes = []
    for i in range(3):
        sizes.append(busy.get("/api/challenge").get_json()["maxnumber"])
        response = busy.post(
            "/api/subscribe",
            json={"name": "Ann", "email": f"ann{i}@example.com", "altcha": solution_from(busy)},
            headers={"Origin": BLOG},
        )
        assert response.status_code == 202  # a solution above the base difficulty is taken
    assert sizes == [50_000, 100_000, 200_000]
    assert quiet.get("/api/challenge").get_json()["maxnumber"] == 50_000
    hosted = busy.get("/signup").get_data(as_text=True)  # the hosted form's script, too
    assert '"maxnumber": 400000' in unescape(hosted)
