"""The generic error pages: our own 400, 404, 405, 413, 500 and 503, never Werkzeug's or a
traceback.

A database that refuses writes (read-only) answers 503 wherever a view meets it, with one
WARNING line; any other database error is left to the 500 handlers.

A feature that answers its own errors differently (signup's banner) registers handlers on
its blueprint; Flask asks those first for the blueprint's endpoints.
"""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from models import db
from web.health import read_only

log = logging.getLogger("tend.errors")

PAGES = {
    # The banner (signup's `messages.BANNER`), to the letter: a body no form sends.
    400: ("Something went wrong", "Something went wrong. Please check your entries and try again."),
    404: ("Page not found", "This link is not valid or has expired."),
    405: ("Not allowed", "That page can't be used that way."),
    413: ("Too large", "That request was too large."),
    500: ("Something went wrong", "Please try again in a moment."),
    503: ("Not available just now", "Please try again in a moment."),
}


def error_page(status: int) -> tuple[str, int]:
    """The error page for `status` (one of PAGES), as a view's return value."""
    title, message = PAGES[status]
    return render_template("error.html", title=title, message=message), status


def _answer(err: HTTPException) -> tuple[str, int]:
    if err.code == 500:
        # Whatever the failed view left half-done must not leak into this page's queries.
        db.session.rollback()
    return error_page(err.code)


def _database_refused(err: DBAPIError):
    """503 for a database that refuses writes; any other error goes on to the 500 handlers."""
    if not read_only(err):
        raise err
    db.session.rollback()
    rule = request.url_rule.rule if request.url_rule else "<unmatched>"
    log.warning("the database refuses writes (read-only): %s %s answered 503", request.method, rule)
    return error_page(503)


def init_app(app: Flask) -> None:
    """Answer 400, 404, 405, 413, 500 and 503 anywhere in `app` with the generic page."""
    for status in PAGES:
        app.register_error_handler(status, _answer)
    app.register_error_handler(DBAPIError, _database_refused)
