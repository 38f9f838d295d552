"""/metrics (read from the database and Redis at scrape time), /healthz, and JSON logs."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta

import pytest
from conftest import csrf_from, free_port, work
from prometheus_client.parser import text_string_to_metric_families

import logs
from models import Delivery, DeliveryStatus, Status, Subscriber, db, utcnow


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
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
    work(app)
    m = scrape(client)
    assert m[("tend_emails_failed_total", (("step", "worksheet"),))] == 1
    assert ("tend_emails_sent_total", (("step", "worksheet"),)) not in m


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


def test_metrics_token_when_set(make_app):
    client = make_app(METRICS_TOKEN="scrape-me-please").test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert scrape(client, Authorization="Bearer scrape-me-please")[("tend_database_up", ())] == 1


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
