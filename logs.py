"""Logs as one JSON object per line, for every process: web, worker and clock.

`init_app(app)` installs the formatter on the root logger once per process (each of them
builds the app). A line logged while a request is served carries its id (`g.request_id`,
given by `web.request_log`).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import IO

from flask import Flask, g, has_request_context

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


# A path segment that is a token: a signed link's (confirm, unsubscribe, started, the
# worksheet, privacy), a one-time login link's, a transfer's id. Logged as `<token>`.
_TOKEN_SEGMENT = re.compile(r"(?<=/)[A-Za-z0-9_\-.=~]{20,}(?=[/?#\s]|$)")


def mask_tokens(text: str) -> str:
    """`text` (a path, a request line) with every token segment written `<token>`."""
    return _TOKEN_SEGMENT.sub("<token>", text)


class TokenMask(logging.Filter):
    """Keeps tokens in paths out of a log: gunicorn's access lines carry the request line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, dict):
            record.args = {
                key: mask_tokens(value) if isinstance(value, str) else value
                for key, value in record.args.items()
            }
        elif isinstance(record.args, tuple):
            record.args = tuple(mask_tokens(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = mask_tokens(record.msg)
        return True


def duration(seconds: float) -> str:
    """A duration as people read it: "0.4 s", "12 s", "3 min 20 s", "5 h 10 min",
    "5 days 10 h"."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


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
    """JSON logs for the process, `app.logger` included."""
    configure(app.config["LOG_LEVEL"], stream)
    # Flask's own handler would print a second, plain copy of app.logger records.
    app.logger.handlers.clear()
    app.logger.propagate = True
    # Alembic's fileConfig (db upgrade) disables loggers that existed before it ran.
    for name, logger in logging.root.manager.loggerDict.items():
        if isinstance(logger, logging.Logger) and (
            name == app.logger.name or name.startswith("tend")
        ):
            logger.disabled = False
