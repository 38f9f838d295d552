"""The ways into the dashboard: the password form, the one-time link, and logging out.

Every login post counts against its own address (ADMIN_LOGIN_RATE_LIMIT). Only a wrong
password with a valid form token counts against all addresses together
(ADMIN_LOGIN_GLOBAL_RATE_LIMIT), and that limit never keeps out a right password from an
address that has not failed itself: strangers can't lock the owner out. When all else
fails, `flask --app app admin login-link` prints a one-time link (`admin.login_link`).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping

from flask import abort, current_app, redirect, render_template, request, session, url_for

from admin import login_link, sessions
from admin.blueprint import bp
from admin.forms import EXPIRED, ActionForm, LoginForm
from models import utcnow
from web import limits
from web.limits import limiter


def password_matches(given: str, cfg: Mapping) -> bool:
    """Constant-time comparison with ADMIN_PASSWORD."""
    return hmac.compare_digest(given.encode("utf-8"), cfg["ADMIN_PASSWORD"].encode("utf-8"))


def login_limit() -> str:
    return current_app.config["ADMIN_LOGIN_RATE_LIMIT"]


def login_limit_all() -> str:
    return current_app.config["ADMIN_LOGIN_GLOBAL_RATE_LIMIT"]


# What the login counts besides the per-address limit on every post: the wrong passwords
# each address gave, and the wrong passwords all addresses gave together.
FAILED_HERE = "admin-login-failed"
FAILED_ANYWHERE = "admin-login-failed-anywhere"


def _wrong_password() -> None:
    """Count a wrong password (with a valid form token) here and for all; 429 when all
    addresses together have already used up ADMIN_LOGIN_GLOBAL_RATE_LIMIT."""
    limits.spend(login_limit(), FAILED_HERE, limits.client_network())
    if not limits.spend(login_limit_all(), FAILED_ANYWHERE):
        abort(429)


def _may_enter() -> bool:
    """A right password: always, from an address that has not itself failed lately;
    otherwise only while the failures of all addresses together leave room."""
    if not limits.counted_any(login_limit(), FAILED_HERE, limits.client_network()):
        return True
    return limits.room(login_limit_all(), FAILED_ANYWHERE)


@bp.errorhandler(429)
def too_many_logins(_err):
    return render_template(
        "admin/login.html",
        form=LoginForm(formdata=None),
        error="Too many attempts. Wait a minute and try again.",
    ), 429


# A path inside the dashboard, in printable ASCII: no CR/LF (a header), no tab or space
# (browsers drop them: "/\t/evil" is "//evil"), no scheme, no "//" and no backslash.
_LOCAL_ADMIN_PATH = re.compile(r"/admin(?:[/?#][!-\[\]-~]*)?")


def _safe_next(target: str | None) -> str:
    """`next` when it is a local dashboard path, else the dashboard: never an open redirect."""
    if target and _LOCAL_ADMIN_PATH.fullmatch(target):
        return target
    return url_for("admin.dashboard")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
def login():
    """Every post counts against its own address (ADMIN_LOGIN_RATE_LIMIT). Only a wrong
    password with a valid form token counts against all addresses together
    (ADMIN_LOGIN_GLOBAL_RATE_LIMIT), and that limit never keeps out a right password from
    an address that has not failed itself: strangers can't lock the owner out."""
    form = LoginForm()
    error = None
    if request.method == "POST":
        valid = form.validate_on_submit()
        right = valid and password_matches(form.password.data, current_app.config)
        if right and not _may_enter():
            abort(429)
        if right:
            _open_session()
            return redirect(_safe_next(request.args.get("next")), code=303)
        current_app.logger.warning("admin login refused", extra={"ip": request.remote_addr})
        if valid:
            _wrong_password()
        error = EXPIRED if "csrf_token" in form.errors else "That password is not right."
    status = 401 if error else 200
    return render_template("admin/login.html", form=form, error=error), status


def _open_session() -> None:
    session.clear()
    session["admin"] = sessions.start(current_app.config, utcnow())
    current_app.logger.info("admin login", extra={"ip": request.remote_addr})


@bp.post("/logout")
def logout():
    """End the session; or, when the form's token is too old (or missing), say it did not,
    with a fresh button: never a login page in front of a session that still works."""
    if not ActionForm().validate_on_submit():
        return render_template("admin/logout.html", action=ActionForm()), 400
    sessions.end(session.get("admin"), current_app.config, utcnow())
    session.clear()
    current_app.logger.info("admin logout", extra={"ip": request.remote_addr})
    return redirect(url_for("admin.login"), code=303)


@bp.route("/login/<token>", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
def login_by_link(token: str):
    """A one-time link: GET shows a button, the POST of that button opens the session."""
    cfg, now = current_app.config, utcnow()
    if login_link.read(cfg, token, now) is None:
        abort(404)
    form = ActionForm()
    if request.method == "POST" and form.validate_on_submit():
        if not login_link.use(cfg, token, now):
            abort(404)  # used a moment ago
        _open_session()
        return redirect(url_for("admin.dashboard"), code=303)
    return render_template("admin/login_link.html", form=form)
