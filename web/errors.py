"""The generic error pages: our own 404, 405, 413 and 500, never Werkzeug's or a traceback.

A feature that answers its own errors differently (signup's banner) registers handlers on
its blueprint; Flask asks those first for the blueprint's endpoints.
"""

from __future__ import annotations

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException

from models import db

PAGES = {
    404: ("Page not found", "This link is not valid or has expired."),
    405: ("Not allowed", "That page can't be used that way."),
    413: ("Too large", "That request was too large."),
    500: ("Something went wrong", "Please try again in a moment."),
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


def init_app(app: Flask) -> None:
    """Answer 404, 405, 413 and 500 anywhere in `app` with the generic page."""
    for status in PAGES:
        app.register_error_handler(status, _answer)
