"""Logs as one JSON object per line, each request under an id (`X-Request-ID`, kept or made).

`init_app(app)` installs the formatter on the root logger once per process (web, worker
and clock all build the app) and the request-id hooks on the app.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import IO

from flask import Flask, Response, g, has_request_context, request

HEADER = "X-Request-ID"
# An id from a proxy is kept only if it is short and plain: it goes into every log line.
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

log = logging.getLogger("tend.request")


def request_id_from(header: str | None) -> str:
    """The caller's id when it is usable, otherwise a fresh one."""
    if header and _VALID_ID.match(header):
        return header
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The id of the request being served, if any."""
    if has_request_context():
        return g.get("request_id")
    return None


class JSONFormatter(logging.Formatter):
    """One line of JSON per record: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class _JSONHandler(logging.StreamHandler):
    """The one handler this module owns (so building the app twice adds it once).

    Without a stream of its own it writes to whatever `sys.stderr` is at that moment.
    """

    def __init__(self, stream: IO[str] | None = None):
        super().__init__(stream)
        self._follow_stderr = stream is None

    def emit(self, record: logging.LogRecord) -> None:
        if self._follow_stderr:
            self.stream = sys.stderr
        super().emit(record)


def configure(level: str = "INFO", stream: IO[str] | None = None) -> logging.Handler:
    """Route every logger through one JSON handler on the root logger."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _JSONHandler):
            root.removeHandler(handler)
    handler = _JSONHandler(stream)
    handler.setFormatter(JSONFormatter())
    root.addHandler(handler)
    number = logging.getLevelName(level.upper())
    root.setLevel(number if isinstance(number, int) else logging.INFO)
    return handler


def init_app(app: Flask, stream: IO[str] | None = None) -> None:
    """JSON logs for the process and a request id on every request and response."""
    configure(app.config.get("LOG_LEVEL", "INFO"), stream)
    # Flask's own handler would print a second, plain copy of app.logger records.
    app.logger.handlers.clear()
    app.logger.propagate = True
    # Alembic's fileConfig (db upgrade) disables loggers that existed before it ran.
    for name, logger in logging.root.manager.loggerDict.items():
        if isinstance(logger, logging.Logger) and (
            name == app.logger.name or name.startswith("tend")
        ):
            logger.disabled = False

    @app.before_request
    def _start() -> None:
        g.request_id = request_id_from(request.headers.get(HEADER))
        g.request_started = time.perf_counter()

    @app.after_request
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
                "duration_ms": round((time.perf_counter() - started) * 1000, 1)
                if started
                else None,
            },
        )
        return response
