"""Generated bad input against the form, the API, the token URLs and the webhooks.

Whatever arrives: never a 5xx, never a traceback, never an invalid row, never a broken header.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from email import message_from_string, policy

import idna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from support import (
    SNS_CERT_URL,
    SNS_TOPIC,
    WebhookKeys,
    basic,
    csrf_from,
    sign_mailgun,
    sign_sendgrid,
    sign_sns,
)
from werkzeug.urls import iri_to_uri

from admin import login_link
from campaigns.links import make_token
from models import Subscriber, Suppression, db, utcnow
from studio import previews
from subscribers.fields import _zones, clean_email, clean_name

pytestmark = pytest.mark.slow

FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Lone surrogates cannot travel as text over HTTP; invalid UTF-8 is covered by the bytes test.
nasty_text = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=("Cs",))),
    st.text(
        alphabet=st.sampled_from(
            ["\x00", "\r", "\n", "\u202e", "\u200f", "\u0301", "😀", "<", '"', "@", " ", "a"]
        )
    ),
    st.sampled_from(
        ["", " ", "a@b.co", "Ann\r\nBcc: x@y.z", "ann@exämple.com", "x" * 100_000, "\x00" * 50]
    ),
)
# Digits `str.isdigit` takes and `int` may not: circled, superscript, Arabic-Indic, bold.
odd_digits = st.text(alphabet="①²³١٢٣۴𝟗０9", min_size=1, max_size=12)
# Unicode format characters (category Cf) among what a name or a link could hold.
format_text = st.lists(
    st.sampled_from(
        ["\u00ad", "\u200b", "\u200c", "\u200d", "\u202e", "\u2066", "\ufeff", "a", ".", "com", " "]
    ),
    max_size=12,
).map("".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | nasty_text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


def assert_sane(response) -> None:
    assert response.status_code < 500, response.status_code
    assert b"Traceback" not in response.data


def as_unicode(address: str) -> str:
    """The address with an IDNA domain written back in Unicode."""
    local, _, domain = address.rpartition("@")
    return f"{local}@{idna.decode(domain)}" if "xn--" in domain else address


def assert_rows_valid(app) -> None:
    """Every stored subscriber is one the form would accept, and mails without broken headers."""
    with app.app_context():
        month_1 = previews.find(app.extensions["tend.sequence"], "month-1")
        for sub in db.session.scalars(select(Subscriber)):
            assert clean_name(sub.name) == sub.name
            assert clean_email(sub.email) == sub.email
            assert sub.timezone in _zones()
            # The message the send job itself would build for them.
            out = previews.compose(
                month_1,
                name=sub.name,
                address=sub.email,
                public_id=sub.public_id,
                now=datetime.now(UTC),
            )
            head = out.data.split(b"\r\n\r\n", 1)[0]
            names = [
                line.split(b":", 1)[0]
                for line in head.split(b"\r\n")
                if line and line[:1] not in b" \t"
            ]
            assert len(names) == len(set(names)), names  # no header was injected or doubled
            parsed = message_from_string(out.data.decode("utf-8"), policy=policy.default)
            # The reader's own address; an IDN domain may travel as IDNA (xn--).
            assert [as_unicode(a.addr_spec) for a in parsed["To"].addresses] == [sub.email]
        db.session.remove()


@FUZZ
@given(
    name=nasty_text,
    email=nasty_text,
    timezone=nasty_text,
    page=nasty_text,
    website=st.sampled_from(["", "x"]),
)
def test_hosted_form_survives_anything(app, name, email, timezone, page, website):
    client = app.test_client()
    html = client.get("/signup").get_data(as_text=True)
    token = csrf_from(html)
    data = {
        "csrf_token": token,
        "name": name,
        "email": email,
        "timezone": timezone,
        "page": page,
        "website": website,
    }
    assert_sane(client.post("/signup", data=data))
    assert_rows_valid(app)


@FUZZ
@given(body=json_values)
def test_api_survives_any_json(app, body):
    client = app.test_client()
    assert_sane(
        client.post("/api/subscribe", data=json.dumps(body), content_type="application/json")
    )
    if isinstance(body, dict):
        assert_sane(client.post("/api/subscribe", data={k: str(v) for k, v in body.items()}))
    assert_rows_valid(app)


@FUZZ
@given(
    raw=st.binary(max_size=2000),
    ctype=st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "text/plain",
            "application/xml",
            "",
            "multipart/form-data; boundary=x",
            "application/json; charset=latin-1",
        ]
    ),
)
def test_api_survives_any_bytes_and_content_type(app, raw, ctype):
    client = app.test_client()
    assert_sane(client.post("/api/subscribe", data=raw, content_type=ctype))
    assert_rows_valid(app)


def test_repeated_keys_take_one_value(app):
    client = app.test_client()
    response = client.post(
        "/api/subscribe",
        data='{"name":"Ann","name":"","email":"a@example.com"}',
        content_type="application/json",
    )
    assert response.status_code == 400  # JSON keeps the last: an empty name
    response = client.post(
        "/api/subscribe",
        data="name=Ann&name=&email=a%40example.com",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 202  # a form keeps the first
    assert_rows_valid(app)


@FUZZ
@given(
    token=nasty_text,
    door=st.sampled_from(["confirm", "unsubscribe", "worksheet", "started", "privacy"]),
    method=st.sampled_from(["GET", "POST"]),
)
def test_token_urls_survive_anything(app, token, door, method):
    client = app.test_client()
    response = client.open(f"/{door}/{token}", method=method, data={"started_on": token})
    assert_sane(response)
    assert response.status_code in (400, 404, 405, 308)


payload_parts = st.fixed_dictionaries(
    {},
    optional={
        "algorithm": st.sampled_from(["SHA-256", "SHA-1", "", None]) | nasty_text,
        "challenge": st.text(alphabet="0123456789abcdef", min_size=60, max_size=66) | json_values,
        "number": st.integers(min_value=-(2**70), max_value=2**70) | json_values,
        "salt": st.sampled_from(["abc?expires=99999999999&", "abc?expires=x&", "?", ""])
        | st.builds(lambda d: f"x?expires={d}", odd_digits)
        | nasty_text,
        "signature": st.text(alphabet="0123456789abcdef", min_size=64, max_size=64) | json_values,
    },
)
altcha_values = st.one_of(
    nasty_text,
    json_values,
    payload_parts.map(lambda d: base64.b64encode(json.dumps(d).encode()).decode()),
    json_values.map(lambda v: base64.b64encode(json.dumps(v).encode()).decode()),
)


@FUZZ
@given(altcha=altcha_values, email_checked=st.none() | nasty_text)
def test_api_survives_any_challenge_payload(make_app, altcha, email_checked):
    app = make_app(SIGNUP_CHALLENGE="pow")
    client = app.test_client()
    body = {"name": "Ann", "email": "ann@example.com", "altcha": altcha}
    if email_checked is not None:
        body["email_checked"] = email_checked
    response = client.post("/api/subscribe", json=body)
    assert_sane(response)
    assert response.status_code in (200, 400, 413)  # nothing forged gets through
    with app.app_context():
        assert db.session.scalars(select(Subscriber)).all() == []


@FUZZ
@given(
    token=nasty_text,
    altcha=nasty_text,
    suggestion=nasty_text,
    checked=nasty_text,
    origin=st.sampled_from([None, "null", "https://evil.example", "http://localhost"]),
    fetch_site=st.sampled_from([None, "cross-site", "same-origin", "none", "bogus"]),
)
def test_hosted_form_survives_any_token_and_door_header(
    make_app, token, altcha, suggestion, checked, origin, fetch_site
):
    app = make_app(SIGNUP_CHALLENGE="pow")
    client = app.test_client()
    headers = {k: v for k, v in {"Origin": origin, "Sec-Fetch-Site": fetch_site}.items() if v}
    response = client.post(
        "/signup",
        data={
            "name": "Ann",
            "email": "ann@example.com",
            "csrf_token": token,
            "altcha": altcha,
            "email_suggestion": suggestion,
            "email_checked": checked,
        },
        headers=headers,
    )
    assert_sane(response)
    assert_rows_valid(app)
    with app.app_context():
        assert db.session.scalars(select(Subscriber)).all() == []  # no genuine token, no row


def test_challenge_route_answers_every_method_sanely(make_app):
    client = make_app(SIGNUP_CHALLENGE="pow").test_client()
    for method in ("GET", "HEAD", "OPTIONS", "POST", "PUT"):
        assert_sane(client.open("/api/challenge", method=method))


# ---- webhooks ------------------------------------------------------------------------------

PROVIDERS = st.sampled_from(["ses", "postmark", "mailgun", "sendgrid"])
body_types = st.sampled_from(
    ["application/json", "text/plain; charset=UTF-8", "", "application/x-www-form-urlencoded"]
)


@pytest.fixture(scope="module")
def webhook_keys():
    return WebhookKeys.make()


@pytest.fixture
def hooked(make_app, webhook_keys):
    app = make_app(**webhook_keys.settings())
    webhook_keys.serve_certificate(app)
    return app


def suppressed(app) -> int:
    with app.app_context():
        try:
            return db.session.scalar(select(func.count()).select_from(Suppression))
        finally:
            db.session.remove()


def now_text(shift_seconds: int = 0) -> str:
    return (utcnow() + timedelta(seconds=shift_seconds)).isoformat().replace("+00:00", "Z")


# Special values a field of a signed block might be swapped for.
field_values = st.one_of(
    nasty_text,
    json_values,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(
        [
            "é",
            "é" * 64,
            "\ud800",
            "1e9",
            "+12",
            " 12",
            "١٢",
            "9" * 400,
            "1",
            "2",
            "2016-01-27T14:59:38.277Z",
            "9999-12-31T23:59:59+14:00",
            "2016-01-27T14:59:38.277+25:00",
            SNS_CERT_URL,
            "https://sns.us-west-2.amazonaws.com:99999/x.pem",
            "https://[sns.us-west-2.amazonaws.com/x.pem",
            "https://sns.s3.amazonaws.com/x.pem",
            "http://sns.us-west-2.amazonaws.com/x.pem",
            SNS_TOPIC,
        ]
    ),
)
MAILGUN_FIELDS = ["timestamp", "token", "signature"]
SNS_FIELDS = [
    "Type",
    "TopicArn",
    "Timestamp",
    "SignatureVersion",
    "SigningCertURL",
    "Signature",
    "MessageId",
    "Message",
    "Subject",
]


def swapped(fields: list[str]):
    """A few of these fields given other values (or dropped, as None may be)."""
    return st.dictionaries(st.sampled_from(fields), field_values, min_size=1, max_size=3)


@FUZZ
@given(provider=PROVIDERS, raw=st.binary(max_size=2000), ctype=body_types)
def test_webhooks_survive_any_bytes(hooked, webhook_keys, provider, raw, ctype):
    """Unsigned bytes, and bytes signed or authenticated as the provider would: never a 5xx,
    and nothing unsigned is recorded."""
    client = hooked.test_client()
    response = client.post(f"/webhooks/{provider}", data=raw, content_type=ctype)
    assert_sane(response)
    assert response.status_code in (400, 401, 403, 413)
    assert suppressed(hooked) == 0
    authenticated = {
        "postmark": basic(),
        "sendgrid": sign_sendgrid(raw, webhook_keys.sendgrid_key),
    }.get(provider)
    if authenticated:
        response = client.post(
            f"/webhooks/{provider}", data=raw, content_type=ctype, headers=authenticated
        )
        assert_sane(response)


@FUZZ
@given(body=json_values, block=swapped(MAILGUN_FIELDS), fields=swapped(SNS_FIELDS))
def test_webhooks_survive_any_json_and_any_forged_field(hooked, webhook_keys, body, block, fields):
    """Any JSON at every provider, and genuine Mailgun and SNS calls with a few fields
    swapped for values of any type: never a 5xx, nothing recorded."""
    client = hooked.test_client()
    mailgun = sign_mailgun({"signature": {"token": uuid.uuid4().hex}, "event-data": body})
    mailgun["signature"] |= block
    good_sns = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": SNS_TOPIC,
        "Message": json.dumps(body),
    }
    sns = sign_sns(good_sns, webhook_keys.sns_key) | fields
    for provider in ("ses", "postmark", "mailgun", "sendgrid"):
        for payload in (body, mailgun, sns):
            response = client.post(f"/webhooks/{provider}", data=json.dumps(payload))
            assert_sane(response)
    assert suppressed(hooked) == 0


@FUZZ
@given(provider=PROVIDERS, body=json_values, version=st.sampled_from(["1", "2"]))
def test_webhooks_survive_any_signed_json(hooked, webhook_keys, provider, body, version):
    """Whatever a genuine signature covers, the call is read without a 5xx."""
    client = hooked.test_client()
    raw = json.dumps(body).encode()
    if provider == "mailgun":
        signed = sign_mailgun({"signature": {"token": uuid.uuid4().hex}, "event-data": body})
        response = client.post("/webhooks/mailgun", json=signed)
    elif provider == "postmark":
        response = client.post("/webhooks/postmark", data=raw, headers=basic())
    elif provider == "sendgrid":
        headers = sign_sendgrid(raw, webhook_keys.sendgrid_key)
        response = client.post("/webhooks/sendgrid", data=raw, headers=headers)
    else:
        message = {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": SNS_TOPIC,
            "Message": raw.decode(),
        }
        signed = sign_sns(message, webhook_keys.sns_key, version)
        response = client.post("/webhooks/ses", data=json.dumps(signed))
    assert_sane(response)
    assert response.status_code in (200, 400, 409)


@pytest.fixture
def admin_app(make_app):
    return make_app(
        ADMIN_PASSWORD="a long operator password",
        ADMIN_LOGIN_RATE_LIMIT="100000/minute",
        ADMIN_LOGIN_GLOBAL_RATE_LIMIT="100000/minute",
    )


@FUZZ
@given(
    target=st.one_of(
        nasty_text,
        st.builds(lambda tail: "/admin" + tail, nasty_text),
        st.sampled_from(["/admin\r\nX:1", "//evil.example", "/\\evil", "/admin\\x", "/admin/"]),
    )
)
def test_login_survives_any_next_and_only_ever_lands_on_the_dashboard(admin_app, target):
    client = admin_app.test_client()
    page = client.get("/admin/login", query_string={"next": target})
    assert_sane(page)
    response = client.post(
        "/admin/login",
        query_string={"next": target},
        data={
            "csrf_token": csrf_from(page.get_data(as_text=True)),
            "password": "a long operator password",
        },
    )
    assert_sane(response)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location in ("/admin/", iri_to_uri(target))  # the one asked for, as URL-quoted
    assert location.startswith("/admin") and not location.startswith("//")
    assert all("!" <= c <= "~" and c != "\\" for c in location)


header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
urlish = st.one_of(
    nasty_text,
    header_text,
    st.sampled_from(
        ["https://blog.example/", "https://blog.example/post?a=1#b", "http://[::1", "javascript:x"]
    ),
)


@FUZZ
@given(page=urlish, referer=st.none() | header_text | st.just("https://blog.example/"))
def test_the_page_a_signup_names_survives_anything(app, page, referer):
    client = app.test_client()
    headers = {"Referer": referer} if referer is not None else {}
    shown = client.get("/signup", query_string={"page": page}, headers=headers)
    assert_sane(shown)
    assert shown.status_code == 200
    body = {"name": "Ann", "email": "ann@example.com", "page": page}
    assert_sane(client.post("/api/subscribe", json=body, headers=headers))
    assert_rows_valid(app)


@pytest.fixture
def admin_fuzz(make_app, tmp_path):
    """One logged-in operator for every example (logins are rate-limited per address)."""
    from support import ADMIN_PASSWORD, admin_client, login

    app = make_app(ADMIN_PASSWORD=ADMIN_PASSWORD, TRANSFER_DIR=tmp_path / "transfers")
    client = admin_client(app)
    login(client)
    return app, client


HEADERS = [
    "Email Address,First Name,Last Name,CONFIRM_TIME,OPTIN_TIME,TIMEZONE,NOTES",
    "email,name,attributes,status,subscription_status,created_at",
    "email,name,status,timezone,signed_up_at,confirmed_at,started_job_on,job_status",
    "mail,who",
    "",
]


def _csv_line(cells: list[str]) -> str:
    return ",".join('"' + c.replace('"', '""') + '"' if i % 2 else c for i, c in enumerate(cells))


csv_uploads = st.one_of(
    st.binary(max_size=2000),
    st.tuples(
        st.sampled_from(HEADERS),
        st.lists(st.lists(nasty_text | st.sampled_from(["x" * 140_000]), max_size=8), max_size=6),
    ).map(lambda t: ("\r\n".join([t[0], *(_csv_line(r) for r in t[1])])).encode("utf-8")),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=csv_uploads, skip_invalid=st.booleans())
def test_import_upload_survives_any_file(admin_fuzz, body, skip_invalid):
    import io

    from support import work

    app, client = admin_fuzz
    page = client.get("/admin/import").get_data(as_text=True)
    data = {"csrf_token": csrf_from(page), "file": (io.BytesIO(body), "list.csv")}
    if skip_invalid:
        data["skip_invalid"] = "y"
    response = client.post("/admin/import", data=data, content_type="multipart/form-data")
    assert_sane(response)
    assert response.status_code in (303, 400), response.status_code
    if response.status_code == 303:
        work(app)
        status = client.get(response.headers["Location"])
        assert_sane(status)
        assert status.status_code == 200
        with app.app_context():
            from models import Transfer

            transfer_id = response.headers["Location"].rsplit("/", 1)[1]
            # Imported or refused with a reason: never a job that broke on the file.
            assert db.session.get(Transfer, transfer_id).state in ("done", "refused")
            db.session.remove()
    assert_rows_valid(app)


@FUZZ
@given(transfer_id=nasty_text, tail=st.sampled_from(["", "/download"]))
def test_transfer_pages_survive_any_id(admin_fuzz, transfer_id, tail):
    from urllib.parse import quote

    _app, client = admin_fuzz
    response = client.get(f"/admin/transfers/{quote(transfer_id, safe='')}{tail}")
    assert_sane(response)
    assert response.status_code in (404, 308), response.status_code


# ---- every route: bodies no form sends, odd digits, format characters --------------------

NOT_OBJECTS = [b"1e999999", b'"x"', b"[" * 5000, b'"\\ud800"', b"null", b"[]", b'{"a": {"b": 1}}']
FIELDS = ["name", "email", "password", "csrf_token", "altcha", "email_checked", "answer", "page"]
field_values = st.one_of(
    format_text, odd_digits, nasty_text, st.builds(lambda d: f"x?expires={d}", odd_digits)
)
bodies = st.one_of(
    st.sampled_from(NOT_OBJECTS).map(lambda raw: ("json", raw)),
    json_values.filter(lambda v: not isinstance(v, dict)).map(
        lambda v: ("json", json.dumps(v).encode())
    ),
    st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=5).map(
        lambda d: ("json", json.dumps(d).encode())
    ),
    st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=5).map(lambda d: ("form", d)),
)


@pytest.fixture
def every_route(make_app):
    """A logged-in operator, a subscriber to name in token URLs, and every route."""
    from support import ADMIN_PASSWORD, admin_client, login

    app = make_app(
        ADMIN_PASSWORD=ADMIN_PASSWORD,
        SIGNUP_CHALLENGE="pow",
        ADMIN_LOGIN_RATE_LIMIT="100000/minute",
        ADMIN_LOGIN_GLOBAL_RATE_LIMIT="100000/minute",
        METRICS_TOKEN="fuzz-metrics-token-0123456789ab",
    )
    client = admin_client(app)
    login(client)
    from support import solution_from

    body = {"name": "Ann", "email": "ann@example.com", "altcha": solution_from(client)}
    assert client.post("/api/subscribe", json=body).status_code == 202
    with app.app_context():
        public_id = db.session.scalar(select(Subscriber.public_id))
        db.session.remove()
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
    return app, client, public_id, rules


def _path(app, rule, public_id: str, junk: str) -> str:
    values = {}
    for argument in rule.arguments:
        if argument == "token" and rule.endpoint == "admin.login_by_link":
            with app.app_context():
                values[argument] = login_link.make(app.config, utcnow())
        elif argument == "token":
            purpose = rule.rule.strip("/").split("/")[0]
            values[argument] = make_token(app.config["SECRET_KEY"], purpose, public_id)
        elif argument == "public_id":
            values[argument] = public_id
        elif argument == "provider":
            values[argument] = "mailgun"
        elif argument == "key":
            values[argument] = "month-1"
        else:
            values[argument] = junk or "x"
    path = rule.rule
    for argument, value in values.items():
        path = path.replace(f"<{argument}>", value)
    return path


@FUZZ
@given(choice=st.integers(min_value=0), body=bodies, junk=format_text)
def test_every_route_survives_any_body_odd_digits_and_format_characters(
    every_route, choice, body, junk
):
    """A POST route gets the body; a GET route gets the fields as its query string."""
    app, client, public_id, rules = every_route
    rule = rules[choice % len(rules)]
    path = _path(app, rule, public_id, junk)
    kind, payload = body
    if "POST" not in rule.methods:
        query = payload if kind == "form" else {"q": payload.decode("utf-8", "replace")}
        response = client.get(path, query_string=query)
    elif kind == "json":
        response = client.post(path, data=payload, content_type="application/json")
    else:
        response = client.post(path, data=payload)
    assert_sane(response)
    assert_rows_valid(app)


JUNK_PER_ROUTE = 150


def _junk_bodies(rng: random.Random) -> tuple[str, bytes]:
    """One junk body: raw bytes, JSON that is no object, deep nesting, format characters,
    odd digits, or a form of junk fields."""
    pick = rng.randrange(7)
    if pick == 0:
        return "bytes", rng.randbytes(rng.randrange(1, 300))
    if pick == 1:
        return "json", rng.choice([b"1e999999", b'"x"', b"[" * 5000, b'"\\ud800"', b"null"])
    if pick == 2:
        return "json", b'{"name": "' + "①²\u00ad\u202e".encode() + b'", "email": [1, {"a": 2}]}'
    if pick == 3:
        return "json", b'{"altcha": "x?expires=\xe2\x91\xa0", "name": "Ann"}'
    if pick == 4:
        text = "".join(rng.choice("a①٣\u200b\u00ad\u202e<>'\"&%\x00 ") for _ in range(40))
        return "form", f"name={text}&email={text}@x&answer={text}&started_on={text}".encode()
    if pick == 5:
        return "json", b'{"name": "Ann", "email": "ann@example.com", "page": "javascript:x"}'
    return "form", b"csrf_token=" + rng.randbytes(20).hex().encode() + b"&x=%ff%fe"


def test_every_route_takes_150_junk_requests_without_a_5xx(every_route):
    """The probe's bar, counted: 150 junk requests on every route, in the method each route
    takes and in the safe ones, with a fixed seed (so a failure can be replayed)."""
    app, client, public_id, rules = every_route
    rng = random.Random(20261207)
    answered: dict[str, int] = {}
    for rule in rules:
        for n in range(JUNK_PER_ROUTE):
            junk = "".join(rng.choice("x①²\u00ad\u200b") for _ in range(rng.randrange(1, 8)))
            path = _path(app, rule, public_id, junk)
            kind, payload = _junk_bodies(rng)
            method = rng.choice(sorted(rule.methods))
            if method in ("GET", "HEAD", "OPTIONS"):
                query = {"q": payload.decode("utf-8", "replace"), "answer": junk}
                response = client.open(path, method=method, query_string=query)
            elif kind == "json":
                response = client.open(
                    path, method=method, data=payload, content_type="application/json"
                )
            else:
                response = client.open(
                    path,
                    method=method,
                    data=payload,
                    content_type="application/x-www-form-urlencoded",
                )
            assert response.status_code < 500, (rule.rule, method, kind, payload[:80], n)
            answered[rule.rule] = answered.get(rule.rule, 0) + 1
    assert len(answered) == len({r.rule for r in rules})
    assert min(answered.values()) >= JUNK_PER_ROUTE
    assert_rows_valid(app)
