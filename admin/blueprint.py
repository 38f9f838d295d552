"""The dashboard's blueprint: every `/admin` URL is behind ADMIN_PASSWORD (unset: a 404) and
an open session, but the ways in (`admin.entry`), and none of its answers is cached."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, redirect, request, session, url_for
from markupsafe import Markup

import settings
from admin import sessions, times
from campaigns.timing import zone_or_default
from models import utcnow
from studio import activity

bp = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    static_folder="static",
    static_url_path="/static",
)

OPEN_ENDPOINTS = {"admin.login", "admin.login_by_link", "admin.static"}


@bp.before_request
def guard():
    if not current_app.config["ADMIN_PASSWORD"]:
        abort(404)
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if not sessions.is_open(session.get("admin"), current_app.config, utcnow()):
        session.pop("admin", None)
        return redirect(
            url_for("admin.login", next=_back_to() if request.method == "GET" else None)
        )
    return None


@bp.after_request
def private(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _back_to() -> str:
    """The page asked for, to come back to after the login: its path, with its query only
    when it has one (`full_path` ends in a bare "?" otherwise)."""
    return request.full_path.removesuffix("?")


@bp.app_template_filter("day")
def day(value: object) -> str:
    """A date, "16 Dec 2026"."""
    return times.day(value)


@bp.app_template_filter("time_in")
def time_in(value: object, zone) -> Markup:
    """A stored UTC time in another zone than the coach's (a reader's), to the minute,
    with the weekday (notes go out on the days DRIP_DAYS names)."""
    return times.coach_time(value, zone, weekday=True)


@bp.app_template_filter("coach_time")
def coach_time(value: object) -> Markup:
    """A stored UTC time as the dashboard shows it: in the coach's zone, to the minute."""
    return times.coach_time(value, zone_or_default(settings.coach().timezone, "UTC"))


@bp.app_template_filter("publisher")
def publisher(by: str | None) -> str:
    """Who published a version, in the Activity page's words ("Dashboard (session
    1a2b3c4d)", "Admin API", "Command line"); the shipped words as "Shipped with Tend"."""
    return "Shipped with Tend" if by in (None, "", "shipped") else activity.who(by)


@bp.app_template_global("asked")
def asked(verb: str, subject: str) -> str:
    """A confirmation's question about an email, `Publish “A month in”?`; a subject that
    ends its own sentence (?, !, …) ends the question too: `Publish “Started yet?”`."""
    subject = subject.strip()
    return f"{verb} “{subject}”" + ("" if subject.endswith(("?", "!", "…")) else "?")
