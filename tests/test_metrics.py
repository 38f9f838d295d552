"""/metrics (read from the database and Redis at scrape time), /healthz, and JSON logs."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url
from support import BACKEND, PG_SERVER, csrf_from, free_port, tick, work

import logs
from models import Delivery, DeliveryStatus, Status, Subscriber, db, utcnow

METRICS_TOKEN = "scrape-token-of-the-tests-2f9c41"


@pytest.fixture
def make_app(make_app):
    """Every app here has a metrics token: outside debug, /metrics is a 404 without one."""
    return lambda **env: make_app(**({"METRICS_TOKEN": METRICS_TOKEN} | env))


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"} | headers
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def overdue(app, minutes: int) -> None:
    with app.app_context():
        sub = Subscriber(
            email="late@example.com",
            email_key="late@example.com",
            name="Late",
            status=Status.ACTIVE,
        )
        sub.deliveries.append(
            Delivery(
                step="month-1",
                kind="drip",
                status=DeliveryStatus.SCHEDULED,
                due_at=utcnow() - timedelta(minutes=minutes),
                message_id="<late@tend.example>",
            )
        )
        db.session.add(sub)
        db.session.commit()


def test_metrics_report_signups_rejections_sends_queue_and_lag(app, client, smtp):
    assert (
        client.post("/api/subscribe", json={"name": "Ann", "email": "ann@example.com"}).status_code
        == 202
    )
    assert client.post("/api/subscribe", json={"name": "", "email": "nope"}).status_code == 400
    assert client.post("/api/subscribe", json={"name": "Bob", "email": "nope"}).status_code == 400
    page = client.get("/signup").get_data(as_text=True)
    token = csrf_from(page)
    form = client.post(
        "/signup", data={"csrf_token": token, "name": "", "email": "cat@example.com"}
    )
    assert form.status_code == 400
    assert (
        client.post("/signup", data={"name": "Dan", "email": "dan@example.com"}).status_code == 400
    )

    before = scrape(client)
    assert before[("tend_queue_depth", ())] == 1  # Ann's worksheet waits for a worker
    work(app)
    overdue(app, minutes=90)
    m = scrape(client)
    assert m[("tend_subscribers", (("status", "pending"),))] == 1
    assert m[("tend_subscribers", (("status", "active"),))] == 1
    assert m[("tend_signups_total", (("source", "api"),))] == 1
    assert m[("tend_signup_rejections_total", (("reason", "email"),))] == 2
    assert m[("tend_signup_rejections_total", (("reason", "name"),))] == 2
    assert m[("tend_signup_rejections_total", (("reason", "csrf"),))] == 1
    assert m[("tend_emails_sent_total", (("step", "worksheet"),))] == 1
    assert m[("tend_queue_depth", ())] == 0
    assert 90 * 60 <= m[("tend_dispatcher_lag_seconds", ())] < 95 * 60
    assert m[("tend_database_up", ())] == 1 and m[("tend_redis_up", ())] == 1


def test_failed_emails_are_counted_by_step(app, client, smtp):
    smtp.reject["ann@example.com"] = "550 5.1.1 no such user"
    client.post("/api/subscribe", json={"name": "Ann", "email": "ann@example.com"})
    work(app)  # held until the relay takes someone else's email
    client.post("/api/subscribe", json={"name": "Bob", "email": "bob@example.com"})
    work(app)
    tick(app, utcnow() + timedelta(minutes=16))
    work(app)  # refused again after Bob's went through: failed for good
    m = scrape(client)
    assert m[("tend_emails_failed_total", (("step", "worksheet"),))] == 1
    assert m[("tend_emails_sent_total", (("step", "worksheet"),))] == 1


def test_metrics_from_another_process_view(make_app, client, smtp):
    """Web processes share nothing in memory: a second app sees the same figures."""
    first = make_app()
    second = make_app(RQ_QUEUE=first.config["RQ_QUEUE"])  # same deployment, another process
    first.test_client().post("/api/subscribe", json={"name": "", "email": "x"})
    m = scrape(second.test_client())
    assert m[("tend_signup_rejections_total", (("reason", "email"),))] >= 1


def test_rate_limited_signups_count_as_rejections(make_app):
    app = make_app(SIGNUP_RATE_LIMIT="1/minute")
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.9.8.7"
    client.post("/api/subscribe", json={"name": "Ann", "email": "ann@example.com"})
    assert (
        client.post("/api/subscribe", json={"name": "Ann", "email": "ann@example.com"}).status_code
        == 429
    )
    assert scrape(client)[("tend_signup_rejections_total", (("reason", "rate_limited"),))] >= 1


def rejections(client) -> dict[str, float]:
    return {
        labels[0][1]: value
        for (name, labels), value in scrape(client).items()
        if name == "tend_signup_rejections_total"
    }


def test_hosted_form_refusal_is_counted_by_field(app, client):
    page = client.get("/signup").get_data(as_text=True)
    refused = client.post(
        "/signup", data={"csrf_token": csrf_from(page), "name": " ", "email": "not an address"}
    )
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "Something went wrong. Please check your entries and try again." in html
    assert "Please enter your name." in html and "Please enter a valid email address." in html
    assert 'value="not an address"' in html  # what the reader typed stays
    assert rejections(client) == {"name": 1, "email": 1}
    expired = client.post(
        "/signup", data={"csrf_token": "forged", "name": "Ann", "email": "ann@example.com"}
    )
    assert expired.status_code == 400
    assert rejections(client) == {"name": 1, "email": 1, "csrf": 1}


def test_each_kind_of_refusal_is_counted_under_its_reason(app, client):
    stranger = {"Origin": "https://elsewhere.example"}
    assert client.post("/api/subscribe", json={"name": "A"}, headers=stranger).status_code == 403
    # A refused preflight is a signup refused too: the browser never sends the post after it.
    assert client.options("/api/subscribe", headers=stranger).status_code == 403
    body = client.post("/api/subscribe", data="name=Ann", content_type="text/plain")
    assert body.status_code == 400 and body.get_json()["errors"] == {}
    huge = client.post("/api/subscribe", json={"name": "x" * 20_000, "email": "ann@example.com"})
    assert huge.status_code == 413
    assert rejections(client) == {"origin": 2, "malformed": 1, "too_large": 1}


def test_signups_refused_while_the_database_is_down_are_counted(make_app):
    down = make_app(DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=1")
    client = down.test_client()
    response = client.post("/api/subscribe", json={"name": "Ann", "email": "ann@example.com"})
    assert response.status_code == 503
    m = scrape(client)
    assert m[("tend_database_up", ())] == 0
    assert m[("tend_signup_rejections_total", (("reason", "unavailable"),))] == 1


def test_metrics_token_when_set(make_app):
    client = make_app(METRICS_TOKEN="scrape-7f3kq-token").test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert scrape(client, Authorization="Bearer scrape-7f3kq-token")[("tend_database_up", ())] == 1


def test_metrics_say_when_redis_is_down(make_app):
    client = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0").test_client()
    m = scrape(client)
    assert m[("tend_redis_up", ())] == 0 and m[("tend_database_up", ())] == 1
    assert ("tend_queue_depth", ()) not in m


# ---- /healthz -----------------------------------------------------------------------------


def test_healthz_reports_queue_depth_and_oldest_overdue(app, client):
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok"
    assert body["checks"]["queue_depth"] == 0 and body["checks"]["oldest_overdue_seconds"] == 0
    overdue(app, minutes=30)
    response = client.get("/healthz")
    assert response.status_code == 200  # lateness is reported, not a failure
    assert 30 * 60 <= response.get_json()["checks"]["oldest_overdue_seconds"] < 35 * 60


def test_healthz_503_when_redis_is_down(make_app):
    response = (
        make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0").test_client().get("/healthz")
    )
    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"].startswith("down")
    assert response.get_json()["checks"]["database"] == "ok"


@pytest.fixture
def read_only_app(make_app, database_url):
    """An app whose database answers reads and refuses every write, as a replica or a
    database made read-only by its operator does: a read-only SQLite file, or PostgreSQL
    with `default_transaction_read_only` on for the database (put back afterwards)."""
    if BACKEND != "postgresql":
        path = make_url(database_url).database
        yield make_app(DATABASE_URL=f"sqlite:///file:{path}?mode=ro&uri=true")
        return
    name = make_url(database_url).database
    server = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(sa.text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
    try:
        yield make_app()
    finally:
        with server.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'))
        server.dispose()


def test_healthz_503_naming_a_read_only_database(read_only_app):
    client = read_only_app.test_client()
    refused = client.post("/api/subscribe", json={"name": "Ann", "email": "ann@example.com"})
    assert refused.status_code == 503  # what made the finding: signups fail...
    response = client.get("/healthz")
    assert response.status_code == 503  # ...and the health check says so
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"  # it still answers reads
    assert body["checks"]["database_writes"] == "read-only"
    assert body["checks"]["redis"] == "ok" and "queue_depth" in body["checks"]
    assert "oldest_overdue_seconds" in body["checks"] and body["sending"] == "ok"


def test_healthz_says_writes_are_ok_and_leaves_nothing_behind(app, client):
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["checks"]["database_writes"] == "ok"
    with app.app_context():
        rows = db.session.execute(sa.text("SELECT key, value FROM settings")).all()
        db.session.remove()
    assert rows == []  # the probe wrote nothing that stays
    signup_ok = client.post("/api/subscribe", json={"name": "Ann", "email": "ann@example.com"})
    assert signup_ok.status_code == 202  # and held no lock a signup waits for


def test_healthz_reports_a_database_that_is_down(make_app):
    client = make_app(DATABASE_URL=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x")
    body = client.test_client().get("/healthz")
    assert body.status_code == 503
    checks = body.get_json()["checks"]
    assert checks["database"].startswith("down") and checks["database_writes"].startswith("down")


# ---- logs -----------------------------------------------------------------------------------


@pytest.fixture
def log_lines(app):
    buffer = io.StringIO()
    logs.configure("INFO", buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    logs.configure("INFO")


def test_each_log_line_is_json_with_the_request_id(app, client, log_lines):
    response = client.get("/healthz", headers={"X-Request-ID": "edge-1234.abc"})
    assert response.headers["X-Request-ID"] == "edge-1234.abc"
    fresh = client.get("/signup")
    generated = fresh.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    hostile = client.get("/healthz", headers={"X-Request-ID": 'x" {"level":"fake"}'})
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["X-Request-ID"])

    lines = log_lines()
    requests = [line for line in lines if line["logger"] == "tend.request"]
    assert [r["request_id"] for r in requests] == [
        "edge-1234.abc",
        generated,
        hostile.headers["X-Request-ID"],
    ]
    assert requests[0]["route"] == "/healthz" and requests[0]["status"] == 200
    assert all({"ts", "level", "message"} <= set(line) for line in lines)


def test_logs_name_the_route_never_the_token(app, client, log_lines):
    client.get("/unsubscribe/some-secret-token-value")
    text = json.dumps(log_lines())
    assert "/unsubscribe/<token>" in text and "some-secret-token-value" not in text
