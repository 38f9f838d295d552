"""Logs a person can read: durations in words, no token of a path in any line, and RQ's
per-job chatter kept to DEBUG while the send job writes one line per batch."""

from __future__ import annotations

import json
import logging

import pytest

import logs
from campaigns.links import make_token
from workers.cli import _Chatter


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "0.0 s"),
        (0.42, "0.4 s"),
        (12.7, "12 s"),
        (200, "3 min 20 s"),
        (5 * 3600 + 600, "5 h 10 min"),
        (86400, "1 day 0 h"),
        (469088.3, "5 days 10 h"),  # the backdated start date that read "lag 469088.3s"
    ],
)
def test_a_duration_reads_as_people_say_it(seconds, words):
    assert logs.duration(seconds) == words


def test_a_token_in_a_path_is_masked_and_nothing_else_is(app):
    with app.app_context():
        token = make_token(app.config["SECRET_KEY"], "confirm", "x" * 16)
    line = f"POST /confirm/{token} HTTP/1.1"
    assert logs.mask_tokens(line) == "POST /confirm/<token> HTTP/1.1"
    assert logs.mask_tokens(f"/privacy/{token}/data.json") == "/privacy/<token>/data.json"
    for plain in ("/signup", "/static/signup/altcha-solver.js", "/api/subscribe", "/healthz"):
        assert logs.mask_tokens(f"GET {plain} HTTP/1.1") == f"GET {plain} HTTP/1.1"


def test_the_access_log_filter_masks_gunicorns_atoms():
    token = "ImFiY2RlZmdoaWprbG1ub3AiLCJjb25maXJtIl0.ZzYxNw.cRXeHd3yF0JtE9kXbYUq0k3Wq8Q"
    record = logging.makeLogRecord(
        {"msg": "%(r)s %(s)s", "args": ({"r": f"GET /started/{token} HTTP/1.1", "s": "200"},)}
    )
    record.args = record.args[0] if isinstance(record.args, tuple) else record.args
    assert logs.TokenMask().filter(record)
    assert record.getMessage() == "GET /started/<token> HTTP/1.1 200"


def test_an_exception_names_the_route_pattern_not_the_token(app, caplog):
    secret = "ImFiY2RlZmdoaWprbG1ub3AiLCJjb25maXJtIl0.ZzYxNw.cRXeHd3yF0JtE9kXbYUq0k3Wq8Q"

    def boom(token):
        raise RuntimeError("a fault behind a tokened link")

    app.add_url_rule("/faulty/<token>", "faulty", boom, methods=["POST"])
    app.config["TESTING"] = False  # as in production: the error handler answers, and logs
    app.config["PROPAGATE_EXCEPTIONS"] = False
    with caplog.at_level(logging.ERROR):
        answer = app.test_client().post(f"/faulty/{secret}")
    assert answer.status_code == 500
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Exception on /faulty/<token> [POST]" in text
    assert secret not in text


def test_rq_job_chatter_is_debug_and_the_workers_own_lines_stay(caplog):
    rq = logging.getLogger("rq.worker")
    chatter = _Chatter()
    rq.addFilter(chatter)
    was_disabled, rq.disabled = rq.disabled, False  # a migration's fileConfig may disable it
    try:
        with caplog.at_level(logging.INFO), caplog.at_level(logging.INFO, logger="rq.worker"):
            rq.info("Worker rq:worker:abc started with PID 1, version 2.12.0")
            rq.info("default: send 3 deliveries (3f1c9a2e)")
            rq.info("default: Job OK (3f1c9a2e)")
            rq.info("Result is kept for 600 seconds")
            rq.warning("Cleaning registries took long")
        assert [r.getMessage() for r in caplog.records] == [
            "Worker rq:worker:abc started with PID 1, version 2.12.0",
            "Cleaning registries took long",
        ]
    finally:
        rq.removeFilter(chatter)
        rq.disabled = was_disabled


def test_every_line_stays_one_json_object():
    record = logging.makeLogRecord({"name": "tend.clock", "levelno": 20, "levelname": "INFO"})
    record.msg = "tick: lag %s"
    record.args = (logs.duration(469088.3),)
    entry = json.loads(logs.JSONFormatter().format(record))
    assert entry["message"] == "tick: lag 5 days 10 h"
    assert {"ts", "level", "logger", "message"} <= set(entry)
