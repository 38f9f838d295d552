"""Each request under an id (`X-Request-ID`, kept or made), and one log line when it ends.

The id goes on `g.request_id`, where the JSON log formatter (`logs`) finds it for every
line logged while the request is served.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

HEADER = "X-Request-ID"
# An id from a proxy is kept only if it is short and plain: it goes into every log line.
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

log = logging.getLogger("tend.request")


def request_id_from(header: str | None) -> str:
    """The caller's id when it is usable, otherwise a fresh one."""
    if header and _VALID_ID.match(header):
        return header
    return uuid.uuid4().hex


def _start() -> None:
    g.request_id = request_id_from(request.headers.get(HEADER))
    g.request_started = time.perf_counter()


def _finish(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id:
        response.headers[HEADER] = request_id
    started = g.get("request_started")
    # The route's pattern, not the path: paths carry tokens that must not reach logs.
    route = request.url_rule.rule if request.url_rule else "<unmatched>"
    log.info(
        "%s %s %s",
        request.method,
        route,
        response.status_code,
        extra={
            "method": request.method,
            "route": route,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
        },
    )
    return response


def init_app(app: Flask) -> None:
    """A request id on every request and response of `app`, and a log line for each."""
    app.before_request(_start)
    app.after_request(_finish)
