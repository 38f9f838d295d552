"""Public pages and the API: hosted form, embed script, JSON signup, confirm, unsubscribe."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import MultiDict

from campaigns.links import read_token
from campaigns.worksheet import build as worksheet_build
from models import Subscriber, db, utcnow
from signup import messages, service
from signup.forms import SignupForm
from signup.limits import limiter, retry_after, signup_limit
from signup.traps import is_bot, render_stamp, shown_at
from signup.validation import clean_email, clean_name, clean_page_url, clean_timezone
from subscribers.fields import EMAIL_MAX, IP_MAX, NAME_MAX
from subscribers.lifecycle import email_key, find_by_public_id
from web.errors import error_page
from web.metrics import count_rejection
from web.security import frameable

bp = Blueprint("signup", __name__, static_folder="static", static_url_path="/static/signup")

SIGNUP_ENDPOINTS = ("signup.form", "signup.api_subscribe")  # where a signup is posted


class Unavailable(Exception):
    """The database did not answer; the reader sees the banner and a 503."""


# ---- doors: body caps, refusals, this blueprint's own error answers ------------------


def allowed_origins() -> set[str]:
    """Origins that may embed the form and post to the API: the configured ones and our own."""
    own = {request.host_url.rstrip("/"), _origin(current_app.config["PUBLIC_BASE_URL"])}
    return own | set(current_app.config["EMBED_ALLOWED_ORIGINS"])


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@bp.before_request
def cap_body() -> None:
    if request.endpoint in SIGNUP_ENDPOINTS:
        request.max_content_length = current_app.config["MAX_FORM_BYTES"]


def _wants_json() -> bool:
    return request.path.startswith("/api/")


# Metric labels of the fields a reader can get wrong; a bad CSRF token counts as "csrf".
_FIELD_REASONS = {"name": "name", "email": "email", "csrf_token": "csrf"}


def _field_reasons(fields) -> list[str]:
    """Why a submission's fields were refused, as metric labels: one per field at fault."""
    return [_FIELD_REASONS[f] for f in fields if f in _FIELD_REASONS] or ["malformed"]


def _rejected(status: int, reasons: list[str], errors: dict | None = None, form=None):
    """The one shape of a refusal: counted by reason, then the banner on the page or in JSON."""
    # A refused preflight is not a signup refused: the browser never sent one.
    if request.method != "OPTIONS":
        count_rejection(*reasons)
    if _wants_json():
        body = jsonify(errors=errors or {}, message=messages.BANNER)
        return _cors(make_response(body, status))
    if form is None:
        # Keep what the reader typed, unless the body itself was the problem.
        form = SignupForm(formdata=None) if status == 413 else SignupForm()
    extras = _form_extras(keep_stamp=status != 413)
    return render_template("signup.html", form=form, banner=True, **extras), status


@bp.errorhandler(413)
def too_large(_err):
    if request.endpoint in SIGNUP_ENDPOINTS:
        return _rejected(413, ["too_large"])
    return error_page(413)


@bp.errorhandler(429)
def too_many(_err):
    response = make_response(_rejected(429, ["rate_limited"]))
    wait = retry_after(time.time())
    if wait is not None:
        response.headers["Retry-After"] = str(wait)
    return response


@bp.errorhandler(Unavailable)
def unavailable(_err):
    db.session.rollback()
    return _rejected(503, ["unavailable"])


@bp.errorhandler(500)
def server_error(_err):
    db.session.rollback()
    if request.endpoint in SIGNUP_ENDPOINTS:
        return _rejected(500, ["error"])
    return error_page(500)


# ---- the hosted form -------------------------------------------------------------------

# The maxlength of each field, in the hosted form and the embed: what the checks accept.
FIELD_MAX = {"name": NAME_MAX, "email": EMAIL_MAX}


def _form_extras(*, keep_stamp: bool = False) -> dict:
    secret = current_app.config["SECRET_KEY"]
    # A form shown again after an error keeps the time it was first shown: a quick
    # correction is not a bot.
    kept = request.form.get("rendered") if keep_stamp else None
    return {
        "consent_text": messages.CONSENT_TEXT,
        "banner_text": messages.BANNER,
        "field_max": FIELD_MAX,
        "stamp": kept if shown_at(secret, kept) is not None else render_stamp(secret, utcnow()),
    }


def _client_ip() -> str | None:
    return (request.remote_addr or "")[:IP_MAX] or None


def _store(name: str, email: str, timezone: object, page: object, source: str) -> None:
    entry = service.Entry(
        name=name,
        email=email,
        email_key=email_key(email),
        timezone=clean_timezone(timezone, current_app.config["DEFAULT_TIMEZONE"]),
    )
    context = service.Context(
        ip=_client_ip(),
        user_agent=request.user_agent.string,
        page_url=clean_page_url(page) or clean_page_url(request.referrer),
        form_version=messages.FORM_VERSION,
        source=source,
    )
    try:
        service.subscribe(entry, context, now=utcnow())
    except SQLAlchemyError as err:
        current_app.logger.exception("signup not stored: database unavailable")
        raise Unavailable() from err


def _trapped(values) -> bool:
    return is_bot(
        honeypot=values.get("website"),
        stamp=values.get("rendered"),
        now=utcnow(),
        min_seconds=current_app.config["SIGNUP_MIN_SECONDS"],
        secret_key=current_app.config["SECRET_KEY"],
    )


@bp.route("/signup", methods=["GET", "POST"], endpoint="form")
@frameable
@limiter.shared_limit(signup_limit, scope="signup", methods=["POST"])
def signup_form():
    form = SignupForm()
    if request.method != "POST":  # GET and HEAD only show the form
        return render_template("signup.html", form=form, banner=False, **_form_extras())
    # A bot is answered as a success before anything else, so it learns nothing.
    if _trapped(request.form):
        return redirect(url_for("signup.thanks"), code=303)
    if not form.validate_on_submit():
        return _rejected(400, _field_reasons(form.errors), form=form)
    _store(
        clean_name(form.name.data),
        clean_email(form.email.data),
        form.timezone.data,
        form.page.data,
        "form",
    )
    return redirect(url_for("signup.thanks"), code=303)


@bp.get("/", endpoint="home")
def home():
    """The bare site opens the form. A 302, not a 301: browsers keep a 301 forever, and the
    operator may put a page of their own at / later."""
    query = request.query_string.decode("latin-1")
    return redirect(url_for("signup.form") + (f"?{query}" if query else ""), code=302)


@bp.get("/signup/thanks", endpoint="thanks")
@frameable
def thanks():
    return render_template("thanks.html")


# ---- the API and the embed -------------------------------------------------------------


def _cors(response: Response) -> Response:
    origin = request.headers.get("Origin")
    if origin and origin in allowed_origins():
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
    response.headers.add("Vary", "Origin")
    return response


def _api_values() -> MultiDict | dict | None:
    """The submitted fields as one mapping of strings; None for a body we cannot read."""
    if request.is_json:
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else None
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return request.form
    return None


@bp.route("/api/subscribe", methods=["POST", "OPTIONS"], endpoint="api_subscribe")
@limiter.shared_limit(signup_limit, scope="signup", methods=["POST"])
def api_subscribe():
    origin = request.headers.get("Origin")
    if origin is not None and origin not in allowed_origins():
        return _rejected(403, ["origin"])
    if request.method == "OPTIONS":
        return _cors(make_response("", 204))
    values = _api_values()
    if values is None:
        return _rejected(400, ["malformed"])
    if _trapped(values):
        # A bot is answered as a success before anything else, so it learns nothing.
        return _cors(make_response(jsonify(status="ok"), 202))
    name, email = clean_name(values.get("name")), clean_email(values.get("email"))
    errors = {}
    if name is None:
        errors["name"] = [messages.NAME]
    if email is None:
        errors["email"] = [messages.EMAIL]
    if errors:
        return _rejected(400, _field_reasons(errors), errors)
    _store(name, email, values.get("timezone"), values.get("page"), "embed" if origin else "api")
    return _cors(make_response(jsonify(status="ok"), 202))


@bp.get("/api/form-stamp")
def form_stamp():
    """A fresh signed render time for the embed (it renders the form in the reader's page)."""
    response = make_response(
        jsonify(rendered=render_stamp(current_app.config["SECRET_KEY"], utcnow()))
    )
    response.headers["Cache-Control"] = "no-store"
    return _cors(response)


@bp.get("/embed.js")
def embed_js():
    body = render_template(
        "embed.js",
        messages={"name": messages.NAME, "email": messages.EMAIL, "banner": messages.BANNER},
        consent_text=messages.CONSENT_TEXT,
        field_max=FIELD_MAX,
    )
    response = make_response(body)
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


# ---- links in emails -------------------------------------------------------------------


def subscriber_for(purpose: str, token: str) -> Subscriber:
    """The subscriber a link's token names, or a 404 page for a tampered or stale one."""
    public_id = read_token(current_app.config["SECRET_KEY"], purpose, token)
    subscriber = find_by_public_id(public_id)
    if subscriber is None:
        abort(404)
    return subscriber


def worksheet_file() -> Response:
    path = worksheet_build.served(current_app.config, current_app.instance_path)
    response = send_file(path, mimetype="application/pdf", download_name="worksheet.pdf", max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


# Each link in an email has a GET view that only shows a page and a POST view that acts:
# Flask answers HEAD (link scanners, previewers) with the GET view, so HEAD never acts.
@bp.get("/confirm/<token>")
def confirm_page(token: str):
    subscriber_for("confirm", token)
    return render_template("confirm.html", token=token)


@bp.post("/confirm/<token>")
def confirm(token: str):
    subscriber = subscriber_for("confirm", token)
    service.confirm(subscriber, now=utcnow(), ip=_client_ip())
    return worksheet_file()


@bp.get("/worksheet/<token>")
def worksheet(token: str):
    subscriber_for("worksheet", token)
    return worksheet_file()


@bp.get("/unsubscribe/<token>")
def unsubscribe_page(token: str):
    subscriber_for("unsubscribe", token)
    return render_template("unsubscribe.html", token=token, done=False)


@bp.post("/unsubscribe/<token>")
def unsubscribe(token: str):
    subscriber = subscriber_for("unsubscribe", token)
    service.unsubscribe(subscriber, now=utcnow())
    return render_template("unsubscribe.html", token=token, done=True)


@bp.get("/started/<token>")
def started_page(token: str):
    subscriber = subscriber_for("started", token)
    return render_template(
        "started.html",
        token=token,
        subscriber=subscriber,
        error=None,
        done=False,
        today=utcnow().date(),
    )


@bp.post("/started/<token>")
def started(token: str):
    subscriber = subscriber_for("started", token)
    today = utcnow().date()
    started_on = service.parse_start_date(request.form.get("started_on"), today=today)
    if started_on is None:
        return render_template(
            "started.html",
            token=token,
            subscriber=subscriber,
            error="Please enter the date you started, within the last two years.",
            done=False,
            today=today,
        ), 400
    service.set_started(subscriber, started_on)
    return render_template(
        "started.html", token=token, subscriber=subscriber, error=None, done=True, today=today
    )
