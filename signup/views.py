"""Public pages and the API: hosted form, embed script, JSON signup, confirm, unsubscribe."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

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
from werkzeug.exceptions import RequestEntityTooLarge

from campaigns import schedule
from campaigns.compose import long_date
from campaigns.links import make_token, read_token
from campaigns.plan import Outcome, Rules
from campaigns.worksheet import build as worksheet_build
from models import JobStatus, Status, Subscriber, db, utcnow
from signup import challenge, messages, service
from signup.door import (
    bearer_key,
    key_accepted,
    origin_of,
    page_on_origin_of,
    post_from_allowed_page,
)
from signup.forms import SignupForm
from signup.traps import form_token, honeypot_filled, read_form_token
from signup.typos import suggest
from subscribers.fields import (
    EMAIL_MAX,
    IP_MAX,
    NAME_MAX,
    clean_email,
    clean_name,
    clean_page_url,
    clean_timezone,
)
from subscribers.lifecycle import email_key, find_by_public_id
from web import spent
from web.errors import error_page
from web.limits import counted, limiter, not_counted, retry_after, signup_limit
from web.metrics import count_rejection
from web.security import frameable

bp = Blueprint("signup", __name__, static_folder="static", static_url_path="/static/signup")

SIGNUP_ENDPOINTS = ("signup.form", "signup.api_subscribe")  # where a signup is posted
# A signup body is one flat object of strings; a little nesting is tolerated, not more.
MAX_JSON_DEPTH = 4


class Unavailable(Exception):
    """The database did not answer; the reader sees the banner and a 503."""


# ---- doors: body caps, refusals, this blueprint's own error answers ------------------


def allowed_origins() -> set[str]:
    """Origins that may embed the form and post to it: the configured ones and our own."""
    own = {request.host_url.rstrip("/"), origin_of(current_app.config["PUBLIC_BASE_URL"])}
    return own | set(current_app.config["EMBED_ALLOWED_ORIGINS"])


@bp.before_request
def cap_body() -> None:
    if request.endpoint not in SIGNUP_ENDPOINTS:
        return
    limit = current_app.config["MAX_FORM_BYTES"]
    request.max_content_length = limit
    if request.method == "POST" and request.content_length is None:
        # A chunked body has no length to refuse it by, and reading stops at the limit
        # without a word: read one byte past it here, and refuse the body whole.
        request.max_content_length = limit + 1
        try:
            body = request.get_data(cache=True)
        except RequestEntityTooLarge:
            abort(413)
        if len(body) > limit:
            abort(413)


def _wants_json() -> bool:
    return request.path.startswith("/api/")


# Metric labels of the fields a reader can get wrong; a bad form token counts as "csrf".
_FIELD_REASONS = {"name": "name", "email": "email", "csrf_token": "csrf"}


def _field_reasons(fields) -> list[str]:
    """Why a submission's fields were refused, as metric labels: one per field at fault."""
    return [_FIELD_REASONS[f] for f in fields if f in _FIELD_REASONS] or ["malformed"]


def _rejected(
    status: int,
    reasons: list[str],
    errors: dict | None = None,
    form: SignupForm | None = None,
    message: str = messages.BANNER,
):
    """The one shape of a refusal: counted by reason, then the message on the page or in JSON."""
    # A refused preflight is not a signup refused: the browser never sent one.
    if request.method != "OPTIONS":
        count_rejection(*reasons)
    if _wants_json():
        body = jsonify(errors=errors or {}, message=message)
        return _cors(make_response(body, status))
    if form is None:
        # Keep what the reader typed, unless the body itself was the problem.
        form = SignupForm(formdata=None) if status == 413 else SignupForm()
    keep = status != 413 and status != 403
    return _page(form, status, banner=message, token=_kept_token() if keep else None)


@bp.errorhandler(413)
def too_large(_err):
    if request.endpoint in SIGNUP_ENDPOINTS:
        return _rejected(413, ["too_large"])
    return error_page(413)


@bp.errorhandler(429)
def too_many(_err):
    response = make_response(_rejected(429, ["rate_limited"], message=messages.RATE_LIMITED))
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


# ---- what every signup shares: the challenge, single use, storing ----------------------

# The maxlength of each field, in the hosted form and the embed: what the checks accept.
FIELD_MAX = {"name": NAME_MAX, "email": EMAIL_MAX}


def _challenge_on() -> bool:
    return current_app.config["SIGNUP_CHALLENGE"] == "pow"


def _solved(payload: object) -> challenge.Solved | None:
    return challenge.check(current_app.config["SECRET_KEY"], payload, utcnow())


def _take(key: str, expires_at) -> bool:
    """Use a solution or a form token up; False when it was used before."""
    try:
        return spent.take(key, expires_at, now=utcnow())
    except SQLAlchemyError as err:
        current_app.logger.exception("signup not stored: database unavailable")
        raise Unavailable() from err


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


def _suggestion(email: str, checked: object) -> str | None:
    """A "Did you mean …?" for this address, unless the reader already saw it and kept theirs."""
    if checked == email:
        return None
    return suggest(email)


# ---- the hosted form -------------------------------------------------------------------


def _kept_token() -> str | None:
    """The submitted form token, when it can serve the form shown again: the first showing
    still counts, so a quick correction is not taken for a bot."""
    raw = request.form.get("csrf_token")
    token = read_form_token(current_app.config["SECRET_KEY"], raw)
    return raw if token is not None and not token.expired(utcnow()) else None


def _page(
    form: SignupForm,
    status: int = 200,
    *,
    banner: str | None = None,
    token: str | None = None,
    suggestion: str | None = None,
):
    """The hosted form, with a message above it or a suggestion under the address."""
    secret = current_app.config["SECRET_KEY"]
    now = utcnow()
    # A solution that checks out is kept, so the next press needs no new proof of work.
    altcha = form.altcha.data if _challenge_on() and _solved(form.altcha.data) else ""
    body = render_template(
        "signup.html",
        form=form,
        banner=banner,
        consent_text=messages.CONSENT_TEXT,
        field_max=FIELD_MAX,
        token=token or form_token(secret, now),
        altcha=altcha,
        challenge=challenge.issue(secret, now) if _challenge_on() and not altcha else None,
        suggestion=suggestion,
        suggestion_text=messages.SUGGEST.format(address="\0").split("\0"),
        frame_origins=current_app.config["EMBED_ALLOWED_ORIGINS"],
    )
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"  # each showing has its own token
    return response


def _origin_refused() -> bool:
    return not post_from_allowed_page(
        origin=request.headers.get("Origin"),
        fetch_site=request.headers.get("Sec-Fetch-Site"),
        referer=request.headers.get("Referer"),
        allowed=allowed_origins(),
    )


@bp.route("/signup", methods=["GET", "POST"], endpoint="form")
@frameable
@limiter.shared_limit(signup_limit, scope="signup", methods=["POST"], deduct_when=counted)
def signup_form():
    form = SignupForm()
    if request.method != "POST":  # GET and HEAD only show the form
        # Framed, the page can't see the post it sits on (a cross-origin frame's referrer
        # is the blog's origin alone): the snippet names it in `?page=`, and it is believed
        # only on the origin of the page that opened the frame.
        form.page.data = page_on_origin_of(
            clean_page_url(request.args.get("page")), request.referrer
        )
        return _page(form)
    if _origin_refused():
        return _rejected(403, ["origin"])
    # A bot is answered as a success before anything else, so it learns nothing.
    if honeypot_filled(request.form.get("website")):
        return redirect(url_for("signup.thanks"), code=303)
    now = utcnow()
    token = read_form_token(current_app.config["SECRET_KEY"], form.csrf_token.data)
    if token is None:
        return _rejected(400, ["csrf"], form=form)
    if token.expired(now):
        # The form was open for hours: a fresh token, and the reader presses again.
        count_rejection("expired")
        return _page(form, 400, banner=messages.AGAIN)
    if not form.validate():
        if set(form.errors) <= {"name", "email"}:
            not_counted()  # the reader has a field to fix
        return _rejected(400, _field_reasons(form.errors), form=form)
    name, email = clean_name(form.name.data), clean_email(form.email.data)
    chosen = clean_email(request.form.get("email_suggestion"))
    if chosen is not None and chosen == suggest(email):
        email = chosen  # the reader took the "Did you mean …?"
    elif (suggestion := _suggestion(email, form.email_checked.data)) is not None:
        form.email_checked.data = email
        not_counted()
        return _page(form, 200, token=form.csrf_token.data, suggestion=suggestion)
    solved = _solved(form.altcha.data) if _challenge_on() and form.altcha.data else None
    if _challenge_on() and form.altcha.data and solved is None:
        return _rejected(400, ["challenge"], form=form)
    # Without a proof of work (no JavaScript), the form must have been open a little while.
    if solved is None and token.too_fast(now, current_app.config["SIGNUP_MIN_SECONDS"]):
        count_rejection("too_fast")
        return _page(form, 400, banner=messages.AGAIN, token=form.csrf_token.data)
    key, expires = (
        ("pow:" + solved.id, solved.expires_at)
        if solved
        else ("form:" + token.nonce, token.expires_at())
    )
    if not _take(key, expires):
        # Sent twice (the back button), or replayed: the form again, ready for one press
        # with a fresh token and a fresh challenge.
        count_rejection("replay")
        form.altcha.data = ""
        return _page(form, 400, banner=messages.AGAIN)
    _store(name, email, form.timezone.data, form.page.data, "form")
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
    return render_template("thanks.html", frame_origins=current_app.config["EMBED_ALLOWED_ORIGINS"])


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


def _depth(value, limit: int) -> int:
    """How deeply `value` nests lists and objects, counted up to `limit` + 1."""
    depth, level = 0, [value]
    while level and depth <= limit:
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        depth += 1
    return depth


def _api_values() -> MultiDict | dict | None:
    """The submitted fields as one mapping of strings; None for a body we cannot read."""
    if request.is_json:
        try:
            data = json.loads(request.get_data(cache=True))
        except (ValueError, RecursionError):
            return None
        if not isinstance(data, dict) or _depth(data, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
            return None
        return data
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return request.form
    return None


def _keyed_call() -> bool:
    """A server presenting one of SIGNUP_API_KEYS (exempt from the per-client limit)."""
    key = bearer_key(request.headers.get("Authorization"))
    return key is not None and key_accepted(key, current_app.config["SIGNUP_API_KEYS"])


@bp.route("/api/subscribe", methods=["POST", "OPTIONS"], endpoint="api_subscribe")
@limiter.shared_limit(
    signup_limit, scope="signup", methods=["POST"], exempt_when=_keyed_call, deduct_when=counted
)
def api_subscribe():
    origin = request.headers.get("Origin")
    if origin is not None and origin not in allowed_origins():
        return _rejected(403, ["origin"])
    if request.method == "OPTIONS":
        return _cors(make_response("", 204))
    keyed = _keyed_call()
    if request.headers.get("Authorization") is not None and not keyed:
        return _rejected(401, ["key"])
    values = _api_values()
    if values is None:
        return _rejected(400, ["malformed"])
    if honeypot_filled(values.get("website")):
        # A bot is answered as a success before anything else, so it learns nothing.
        return _cors(make_response(jsonify(status="ok"), 202))
    name, email = clean_name(values.get("name")), clean_email(values.get("email"))
    errors = {}
    if name is None:
        errors["name"] = [messages.NAME]
    if email is None:
        errors["email"] = [messages.EMAIL]
    if errors:
        not_counted()  # the reader has a field to fix
        return _rejected(400, _field_reasons(errors), errors)
    solved = None
    if not keyed and _challenge_on():
        solved = _solved(values.get("altcha"))
        if solved is None:
            return _rejected(400, ["challenge"])
    # Only a page that can show a suggestion asks for one (it sends `email_checked`).
    if "email_checked" in values:
        suggestion = _suggestion(email, values.get("email_checked"))
        if suggestion is not None:
            not_counted()
            return _cors(make_response(jsonify(status="check", suggestion=suggestion), 200))
    if solved is not None and not _take("pow:" + solved.id, solved.expires_at):
        return _rejected(400, ["replay"])
    source = "embed" if origin and not keyed else "api"
    page = clean_page_url(values.get("page"))
    sender = origin or request.referrer
    if sender is not None:
        # From a browser: only a page on the origin it posts from (a server names any page).
        page = page_on_origin_of(page, sender)
    _store(name, email, values.get("timezone"), page, source)
    return _cors(make_response(jsonify(status="ok"), 202))


@bp.get("/api/challenge")
def new_challenge():
    """A fresh ALTCHA challenge for a page that renders the form itself (the embed)."""
    if not _challenge_on():
        abort(404)
    response = make_response(jsonify(challenge.issue(current_app.config["SECRET_KEY"], utcnow())))
    response.headers["Cache-Control"] = "no-store"
    return _cors(response)


@bp.get("/embed.js")
def embed_js():
    body = render_template(
        "embed.js",
        messages={
            "name": messages.NAME,
            "email": messages.EMAIL,
            "banner": messages.BANNER,
            "suggest": messages.SUGGEST.format(address="\0").split("\0"),
        },
        consent_text=messages.CONSENT_TEXT,
        field_max=FIELD_MAX,
        challenge_on=_challenge_on(),
        solver=SOLVER.read_text(encoding="utf-8"),
    )
    response = make_response(body)
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


SOLVER = Path(__file__).resolve().parent / "static" / "altcha-solver.js"


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
        # After the confirm button: the worksheet, for an active reader and for one who has
        # left since (an old link: the button promised the worksheet, not emails).
        "welcome": request.args.get("welcome") == "1" and subscriber.status != Status.PENDING,
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
