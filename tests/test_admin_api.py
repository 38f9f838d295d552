"""The admin API's door and its description: the Bearer token (unset: nothing is there), the
errors shape, no cookie, no CORS, no cache, and an `openapi.json` that is true.

Every answer here goes through `ApiClient`, which checks it against the app's own
`openapi.json`; the routes' own behaviour is in test_admin_api_routes.py, the fuzzing in
test_admin_api_fuzz.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from support import ADMIN_PASSWORD, admin_client, env_for, login
from support.admin_api import API_TOKEN, ApiClient

import settings
from admin.api import check, framework
from admin.api.schemas import SCHEMAS
from models import Consent, Subscriber, db
from studio import audit

ROUTES = [(op.method, op.rule) for op in framework.OPERATIONS]


def concrete(rule: str) -> str:
    return rule.replace("<key>", "month-1").replace("<public_id>", "abcdefgh12345678")


@pytest.fixture
def api_app(make_app):
    # These tests send many wrong tokens from one client on purpose: room for all of them.
    return make_app(
        ADMIN_API_TOKEN=API_TOKEN,
        ADMIN_PASSWORD=ADMIN_PASSWORD,
        ADMIN_LOGIN_RATE_LIMIT="1000/minute",
    )


@pytest.fixture
def api(api_app):
    return ApiClient(api_app)


def test_without_a_token_set_every_route_is_the_plain_404_page(make_app):
    app = make_app(ADMIN_PASSWORD=ADMIN_PASSWORD)
    client = app.test_client()
    for method, rule in [*ROUTES, ("GET", "/nothing-here"), ("DELETE", "/openapi.json")]:
        for headers in ({}, {"Authorization": f"Bearer {API_TOKEN}"}, {"Authorization": "Bearer "}):
            response = client.open("/api/admin" + concrete(rule), method=method, headers=headers)
            assert response.status_code == 404, (method, rule)
            assert response.mimetype == "text/html"  # the page any unknown URL gets
            assert "This link is not valid or has expired." in response.text
            assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer wrong-token-of-a-good-length-0123456789",
        f"Bearer {API_TOKEN}x",
        f"Bearer {API_TOKEN[:-1]}",
        f"Basic {API_TOKEN}",
        API_TOKEN,
        f"Bearer {API_TOKEN.upper()}",
    ],
)
def test_a_wrong_or_missing_token_is_401_on_every_route(api, authorization):
    for method, rule in [*ROUTES, ("GET", "/nothing-here")]:
        headers = {} if authorization is None else {"Authorization": authorization}
        response = api.open(method, concrete(rule), token=None, headers=headers)
        assert response.status_code == 401, (method, rule)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.get_json() == {
            "errors": {"authorization": ["Send Authorization: Bearer <ADMIN_API_TOKEN>."]}
        }


def test_a_client_that_keeps_guessing_is_shut_out_for_the_window_and_others_are_not(make_app):
    api = ApiClient(make_app(ADMIN_API_TOKEN=API_TOKEN))
    guesser = {"REMOTE_ADDR": "203.0.113.9"}
    wrong = {"Authorization": "Bearer wrong-token-of-a-good-length-0123456789"}
    for _ in range(5):  # ADMIN_LOGIN_RATE_LIMIT: 5/minute
        response = api.get("/activity", token=None, headers=wrong, environ_base=guesser)
        assert response.status_code == 401
    for token in (None, API_TOKEN):  # even the right token, until the minute passes
        response = api.get(
            "/activity", token=token, headers=wrong if token is None else {}, environ_base=guesser
        )
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "60"
        assert response.get_json() == {
            "errors": {
                "authorization": [
                    "Too many wrong tokens from your address. Wait a minute and try again."
                ]
            }
        }
    other = api.get("/activity", environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert other.status_code == 200


def test_the_token_is_taken_with_any_case_of_bearer_and_outer_spaces(api):
    for given in (f"bearer {API_TOKEN}", f"BEARER  {API_TOKEN} ", f"Bearer {API_TOKEN}"):
        assert api.get("/activity", token=None, headers={"Authorization": given}).status_code == 200


def test_the_dashboards_session_cookie_alone_does_not_open_the_api(api_app):
    browser = admin_client(api_app)
    assert login(browser).status_code == 303
    assert browser.get("/admin/").status_code == 200  # the cookie does open the dashboard
    for method, rule in ROUTES:
        response = browser.open("/api/admin" + concrete(rule), method=method, json={})
        assert response.status_code == 401, (method, rule)


def test_no_cors_no_cache_and_no_preflight(api):
    origin = {"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"}
    response = api.get("/activity", headers=origin)
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = api.open("OPTIONS", "/activity", headers=origin)
    assert preflight.status_code == 405
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert preflight.get_json()["errors"]["request"]


def test_a_path_or_method_the_api_has_not_answers_in_the_errors_shape(api):
    missing = api.get("/nothing-here")
    assert missing.status_code == 404
    assert list(missing.get_json()["errors"]) == ["request"]
    wrong = api.open("DELETE", "/activity")
    assert wrong.status_code == 405
    assert set(wrong.headers["Allow"].split(", ")) == {"GET", "HEAD"}


def test_the_token_must_be_32_characters_outside_debug(database_url, redis_url):
    env = env_for(database_url, redis_url, ADMIN_API_TOKEN="short-but-varied-0123456789")
    problems = settings.examine(env)[1]
    assert [p.message for p in problems if p.name == "ADMIN_API_TOKEN"] == [
        "ADMIN_API_TOKEN is too short (27 characters): set ADMIN_API_TOKEN to at least 32 "
        "random characters, for example the output of "
        "python3 -c 'import secrets; print(secrets.token_hex(32))'"
    ]
    debug = settings.examine(env | {"FLASK_DEBUG": "1"})[1]
    assert not [p for p in debug if p.name == "ADMIN_API_TOKEN"]
    good = settings.examine(env | {"ADMIN_API_TOKEN": API_TOKEN})[1]
    assert not [p for p in good if p.name == "ADMIN_API_TOKEN"]


# ---- the description ------------------------------------------------------------------


def _objects(schema, where="") -> list[tuple[str, dict]]:
    """Every object schema inside `schema`, with where it is."""
    found = []
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            found.append((where, schema))
        for key, part in schema.items():
            if key == "properties":
                for name, sub in part.items():
                    found += _objects(sub, f"{where}.{name}")
            elif key in ("items", "additionalProperties"):
                found += _objects(part, f"{where}[]")
            elif key == "oneOf":
                for n, sub in enumerate(part):
                    found += _objects(sub, f"{where}|{n}")
    return found


# Maps by design: a field name to its messages, a page's texts by field name. Free: what an
# audit event recorded, and the worksheet's `build` sent back in a request (ignored).
OPEN_MAPS = {"Errors.errors", "Page.fields", "PagePublish.fields", "PagePublished.fields"}
FREE = {"Event.detail", "WorksheetEdit.build"}


def test_openapi_json_is_3_1_describes_every_route_and_closes_every_answer(api, api_app):
    document = api.described.document
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "ADMIN_API_TOKEN",
    }
    assert document["security"] == [{"bearer": []}]
    served = {
        (method, rule.rule)
        for rule in api_app.url_map.iter_rules()
        if rule.endpoint.startswith("admin_api.")
        for method in rule.methods - {"HEAD"}
    }
    described = {
        (method.upper(), path.replace("{", "<").replace("}", ">"))
        for path, methods in document["paths"].items()
        for method in methods
    }
    assert served == described
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            assert "401" in operation["responses"], (method, path)
            for status, answer in operation["responses"].items():
                assert "content" in answer or status == "204", (method, path, status)
    for name, schema in SCHEMAS.items():
        for where, shape in _objects(schema, name):
            if where in FREE:
                continue
            if where in OPEN_MAPS:
                assert shape["additionalProperties"]["type"] in ("string", "array"), where
                continue
            assert shape["additionalProperties"] is False, where
            assert set(shape["required"]) <= set(shape["properties"]), where
    for name in ("Email", "Reader", "Setting", "Event", "Version", "Preview", "Impact"):
        assert set(SCHEMAS[name]["required"]) == set(SCHEMAS[name]["properties"]), name


def _keywords(schema: dict, seen: set[str]) -> set[str]:
    """Every keyword a schema uses, through its parts and references."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return {"$ref"}
        seen.add(name)
        return {"$ref"} | _keywords(SCHEMAS[name], seen)
    used = set(schema)
    if "oneOf" in schema:
        assert "propertyName" in schema["discriminator"]  # the API reads oneOf by it
    parts = [*schema.get("properties", {}).values(), *schema.get("oneOf", [])]
    parts += [schema[k] for k in ("items", "additionalProperties") if isinstance(schema.get(k), dict)]  # fmt: skip
    for part in parts:
        used |= _keywords(part, seen)
    return used


def test_request_schemas_use_only_the_keywords_the_api_enforces():
    taken = {op.body for op in framework.OPERATIONS if op.body} | {
        "EmailPublish", "NewCheckin", "PreviewRequest", "TestRequest", "ImpactRequest",
        "Revert", "PagePublish", "WorksheetEdit", "NewReader", "ReaderChange", "SettingsChange",
    }  # fmt: skip
    for name in taken:
        used = _keywords(SCHEMAS[name], set())
        assert used <= check.KEYWORDS | check.DESCRIBING, (name, used - check.KEYWORDS)
    assert check.keywords_of(SCHEMAS["WorksheetEdit"]) >= {"type", "properties"}


def test_request_checks_name_each_field_and_its_problem():
    def errors(name, value):
        return check.errors_of(SCHEMAS[name], value, SCHEMAS)

    assert errors("EmailPublish", {"subject": "Hi", "preheader": "", "body": "x"}) == {}
    assert errors("EmailPublish", {"subject": 5, "body": "x", "subjet": "Hi"}) == {
        "preheader": ["Required."],
        "subject": ["Must be a string."],
        "subjet": ["Unknown field."],
    }
    assert errors("Revert", {"version": True}) == {"version": ["Must be a whole number."]}
    assert errors("Revert", {"version": 1.0}) == {"version": ["Must be a whole number."]}
    assert errors("Revert", {"version": 2**40}) == {"version": [f"Must be at most {2**31 - 1}."]}
    assert errors("Revert", {"version": 0}) == {"version": ["Must be at least 1."]}
    assert errors("NewCheckin", {"kind": "step", "offset": "1 month", "subject": "a", "preheader": "b", "body": "c"}) == {"kind": ["Must be 'checkin'."]}  # fmt: skip
    assert errors("ReaderChange", {"started_on": "2026-02-30"}) == {
        "started_on": ["Must be a date, YYYY-MM-DD."]
    }
    assert errors("ReaderChange", {"started_on": None, "name": "A\x00n"}) == {
        "name": ["Must not contain a NUL character."]
    }
    assert errors("ReaderChange", {"email": "\ud800@example.com"}) == {
        "email": ["Must be valid Unicode text (no lone surrogate)."]
    }
    assert errors("PreviewRequest", {"state": "asleep"}) == {
        "state": ["Must be one of: pending, unknown, looking, not_changing, started."]
    }
    assert errors("PagePublish", {"fields": {"a": 1, "b\x00": "x", "c": "y"}}) == {
        "fields": ["A field name: Must not contain a NUL character."],
        "fields.a": ["Must be a string."],
    }
    assert errors("SettingsChange", {}) == {"request": ["Must not be empty."]}
    assert errors("SettingsChange", {"drip_days": ["Mon"]}) == {"drip_days": ["Must be a string."]}
    nested = {
        "title": "T",
        "version": 3,
        "sections": [{"heading": 3, "items": [{"kind": "question"}, {"kind": "poll"}, []]}],
    }
    assert errors("WorksheetEdit", nested) == {
        "sections.0.heading": ["Must be a string."],
        "sections.0.items.0.text": ["Required."],
        "sections.0.items.1.kind": ["Must be one of: question, checkboxes, blanks, network."],
        "sections.0.items.2.kind": ["Must be one of: question, checkboxes, blanks, network."],
    }
    boxes = {"title": "T", "sections": [{"heading": "H", "items": [{"kind": "checkboxes", "boxes": [{"key": "a"}], "text": "x"}]}]}  # fmt: skip
    assert errors("WorksheetEdit", boxes) == {
        "sections.0.items.0.boxes.0.label": ["Required."],
        "sections.0.items.0.text": ["Unknown field."],
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "The body is not valid JSON."),
        (b"[1, 2]", "The body must be a JSON object."),
        (b'"x"', "The body must be a JSON object."),
        (b"null", "The body must be a JSON object."),
        (b"1e999999", "The body is not valid JSON."),
        (b'{"a": NaN}', "The body is not valid JSON."),
        (b"[" * 5000, "The body is not valid JSON."),
        (b'{"version": ' + b"9" * 5000 + b"}", "The body is not valid JSON."),
        (b"\xff\xfe", "The body is not valid JSON."),
    ],
)
def test_a_body_that_is_no_json_object_is_refused(api_app, raw, message):
    put = api_app.test_request_context("/api/admin/x", method="PUT", data=raw)
    with put, pytest.raises(framework.Unreadable, match=message):
        framework.read_body(required=True)
    with api_app.test_request_context("/api/admin/x", method="POST", data=b" "):
        assert framework.read_body(required=False) == {}


def test_a_body_nested_as_deep_as_json_goes_is_refused_never_a_500(api):
    # Around the depth the parser stops at, the check (which nests deeper) must refuse too.
    for depth in range(700, 1000):
        body = '{"fields": {"a": ' + "[" * depth + "]" * depth + "}}"
        response = api.put("/pages/thanks", data=body, content_type="application/json")
        assert response.status_code in (400, 422), depth


def test_every_route_taking_a_body_refuses_one_that_is_no_object_or_too_large(api):
    taken = [op for op in framework.OPERATIONS if op.body]
    assert len(taken) == 11
    for op in taken:
        path = concrete(op.rule)
        for raw in (b"[]", b"{", b"null"):
            response = api.open(op.method, path, data=raw, content_type="application/json")
            assert response.status_code == 400, (op.rule, response.status_code)
            assert list(response.get_json()["errors"]) == ["request"]
        huge = b'{"subject": "' + b"x" * (framework.MAX_BODY + 10) + b'"}'
        response = api.open(op.method, path, data=huge, content_type="application/json")
        assert response.status_code == 413, op.rule


# ---- the activity -----------------------------------------------------------------------

T0 = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)


def _reader(app, email: str) -> tuple[int, str]:
    with app.app_context():
        sub = Subscriber(email=email, email_key=email, name="Ann Lee", status="active")
        sub.consents.append(Consent(created_at=T0, form_version="t", source="form", ip="192.0.2.1"))
        db.session.add(sub)
        db.session.commit()
        return sub.id, sub.public_id


def test_activity_is_the_audit_log_newest_first(api, api_app):
    reader_id, public_id = _reader(api_app, "ann@example.com")
    with api_app.app_context():
        ann = db.session.get(Subscriber, reader_id)
        audit.record(audit.API, "reader.name", "Renamed Ann", subscriber=ann, detail={"from": "A"}, now=T0)  # fmt: skip
        audit.record(audit.Actor("dashboard", "1a2b3c4d"), "email.publish", "Published month-1", now=T0 + timedelta(minutes=5))  # fmt: skip
        audit.record(audit.CLI, "content.import", "Imported", now=T0 - timedelta(days=1))
        db.session.commit()
    events = api.get("/activity").get_json()
    assert [e["summary"] for e in events] == ["Published month-1", "Renamed Ann", "Imported"]
    assert events[1] == {
        "at": "2026-03-02T10:30:00+00:00",
        "actor": "api",
        "action": "reader.name",
        "summary": "Renamed Ann",
        "subscriber": public_id,
        "detail": {"from": "A"},
    }
    assert events[0]["actor"] == "dashboard:1a2b3c4d"
    assert events[0]["subscriber"] is None
    assert [e["summary"] for e in api.get("/activity?limit=2").get_json()] == [
        "Published month-1",
        "Renamed Ann",
    ]
    only = api.get(f"/activity?subscriber={public_id}").get_json()
    assert [e["summary"] for e in only] == ["Renamed Ann"]


def test_activity_refuses_a_bad_query_naming_it(api):
    assert api.get("/activity?limit=0").get_json() == {"errors": {"limit": ["Must be at least 1."]}}
    assert api.get("/activity?limit=lots").get_json() == {
        "errors": {"limit": ["Must be a whole number."]}
    }
    assert api.get("/activity?limit=99999999999999").status_code == 422
    assert api.get("/activity?since=yesterday").get_json() == {
        "errors": {"since": ["Unknown field."]}
    }
    assert api.get("/activity?subscriber=nobody").status_code == 404
    assert api.get("/activity?subscriber=%00").status_code == 422
