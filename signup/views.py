"""Public pages and the API: hosted form, embed script, JSON signup, confirm, unsubscribe."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
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

from campaigns import schedule
from campaigns.compose import long_date
from campaigns.links import make_token, read_token
from campaigns.plan import Outcome, Rules
from models import JobStatus, Status, Subscriber, db, utcnow
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

SHIPPED_WORKSHEET = (
    Path(__file__).resolve().parent.parent / "campaigns" / "worksheet" / "worksheet.pdf"
)
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
    path = current_app.config["WORKSHEET_PATH"] or str(SHIPPED_WORKSHEET)
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
    # The thank-you page: the download, and the question the drip follows.
    started = make_token(current_app.config["SECRET_KEY"], "started", subscriber.public_id)
    return redirect(url_for("signup.started_page", token=started, welcome=1), code=303)


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


@bp.app_template_filter("long_date")
def _long_date(day: date) -> str:
    return long_date(day)


@bp.app_template_filter("as_date")
def _as_date(iso: str) -> date:
    return date.fromisoformat(iso)


def _offsets_phrase(steps) -> str:
    """`1 month, 3 months and 6 months`: the sequence's steps, as a sentence says them."""
    texts = [s.offset_text for s in steps]
    return ", ".join(texts[:-1]) + " and " + texts[-1] if len(texts) > 1 else "".join(texts)


# What the buttons of the start-date page say, as the answers the service takes.
ANSWERS = (JobStatus.STARTED, JobStatus.LOOKING, JobStatus.NOT_CHANGING)


@dataclass(frozen=True)
class PlannedNote:
    """One line of the start-date page: a note, and when it comes or why it won't."""

    kind: str
    subject: str
    outcome: str
    day: date | None  # in the reader's zone


def _planned(subscriber: Subscriber, now) -> list[PlannedNote]:
    """The reader's notes as `campaigns.plan.forecast` sees them: the dispatcher's rules."""
    sequence = service.sequence()
    rules = Rules.from_config(current_app.config)
    zone = rules.zone(subscriber.timezone)
    subjects = {(schedule.DRIP, s.key): s.subject for s in sequence.steps} | {
        (schedule.CHECKIN, s.key): s.subject for s in sequence.checkins
    }
    return [
        PlannedNote(
            f.kind,
            subjects[(f.kind, f.key)],
            f.outcome,
            f.at.astimezone(zone).date() if f.at else None,
        )
        for f in schedule.upcoming(subscriber, sequence, now=now, rules=rules)
    ]


def _started_page(token: str, subscriber: Subscriber, *, status: int = 200, **extra):
    now = utcnow()
    today = service.reader_today(subscriber, now)
    earliest, latest = service.start_date_range(today)
    hint = request.args.get("answer")
    secret = current_app.config["SECRET_KEY"]
    context = {
        "token": token,
        "subscriber": subscriber,
        "earliest": earliest,
        "latest": latest,
        "error": None,
        "saved": None,
        "entered": subscriber.started_job_on or "",
        "hint": hint if hint in ANSWERS else None,
        "welcome": request.args.get("welcome") == "1" and subscriber.status == Status.ACTIVE,
        "worksheet_url": url_for(
            "signup.worksheet", token=make_token(secret, "worksheet", subscriber.public_id)
        ),
        "notes": _planned(subscriber, now),
        "offsets": _offsets_phrase(service.sequence().steps),
        "window": current_app.config["DRIP_WINDOW"].replace("-", " and "),
        "days": current_app.config["DRIP_DAYS"],
        "zone": Rules.from_config(current_app.config).zone(subscriber.timezone).key,
        "Outcome": Outcome,
        "JobStatus": JobStatus,
        "Status": Status,
    } | extra
    return render_template("started.html", **context), status


@bp.get("/started/<token>")
def started_page(token: str):
    return _started_page(token, subscriber_for("started", token))


@bp.post("/started/<token>")
def started(token: str):
    subscriber = subscriber_for("started", token)
    now = utcnow()
    choice = request.form.get("answer") or JobStatus.STARTED  # Enter in the date field
    if choice not in ANSWERS:
        abort(400)
    started_on = None
    if choice == JobStatus.STARTED:
        raw = request.form.get("started_on")
        started_on = service.parse_start_date(raw, today=service.reader_today(subscriber, now))
        if started_on is None:
            earliest, latest = service.start_date_range(service.reader_today(subscriber, now))
            message = (
                "Please enter the day you start, or started, your new job."
                if not (raw or "").strip()
                else f"Please enter a start date between {long_date(earliest)} and "
                f"{long_date(latest)}."
            )
            entered = raw if isinstance(raw, str) else ""
            return _started_page(token, subscriber, status=400, error=message, entered=entered[:10])
    service.answer(subscriber, choice, now=now, started_on=started_on)
    return _started_page(token, subscriber, saved=choice)
