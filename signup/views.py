"""Public signup pages: the hosted form (HTML in and out), the JSON API (JSON in and out),
the challenge and the embed script. What a submission is answered is `signup.admission`'s;
these views only read the request into a `Submission` and write its `Outcome` back.
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import (
    Response,
    abort,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge

from campaigns.content import pages as page_texts
from models import db, utcnow
from signup import (
    admission,
    challenge,
    email_links,  # noqa: F401  (its routes are on this blueprint)
    messages,
    refused_origins,
)
from signup.admission import Channel, Outcome, Submission, Verdict
from signup.blueprint import allowed_origins, bp
from signup.door import origin_of, page_on_origin_of
from signup.forms import SignupForm
from signup.traps import form_token, read_form_token
from subscribers.fields import EMAIL_MAX, IP_MAX, NAME_MAX, clean_page_url
from web.errors import error_page
from web.limits import limiter, network_of
from web.security import frameable

__all__ = ["bp"]

SIGNUP_ENDPOINTS = ("signup.form", "signup.api_subscribe")  # where a signup is posted
# A signup body is one flat object of strings; a little nesting is tolerated, not more.
MAX_JSON_DEPTH = 4
# The maxlength of each field, in the hosted form and the embed: what the checks accept.
FIELD_MAX = {"name": NAME_MAX, "email": EMAIL_MAX}
SOLVER = Path(__file__).resolve().parent / "static" / "altcha-solver.js"


# ---- doors: body caps and this blueprint's own error answers -------------------------


@limiter.request_filter
def _limited_by_the_gate() -> bool:
    """Flask-Limiter leaves a signup post alone: admission counts it against SIGNUP_RATE_LIMIT
    in the same round trip that spends its proof (`signup.gate`)."""
    return request.endpoint in SIGNUP_ENDPOINTS


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


def _answer(outcome: Outcome, form: SignupForm | None = None):
    """An outcome in the language of the endpoint asked: JSON for the API, else the page."""
    if request.endpoint == "signup.api_subscribe":
        return _json_answer(outcome)
    return _form_answer(outcome, form)


@bp.errorhandler(413)
def too_large(_err):
    if request.endpoint in SIGNUP_ENDPOINTS:
        return _answer(admission.record(admission.refused(413, "too_large")))
    return error_page(413)


@bp.errorhandler(500)
def server_error(_err):
    db.session.rollback()
    if request.endpoint in SIGNUP_ENDPOINTS:
        return _answer(admission.record(admission.refused(500, "error")))
    return error_page(500)


def _submission(channel: Channel, values) -> Submission:
    return Submission(
        channel=channel,
        values=values,
        now=utcnow(),
        origins=allowed_origins,
        network=network_of(request.remote_addr),
        route=request.url_rule.rule if request.url_rule else request.path,
        origin=request.headers.get("Origin"),
        fetch_site=request.headers.get("Sec-Fetch-Site"),
        referer=request.headers.get("Referer"),
        authorization=request.headers.get("Authorization"),
        ip=(request.remote_addr or "")[:IP_MAX] or None,
        user_agent=request.user_agent.string,
    )


# ---- the hosted form: HTML in, HTML out ------------------------------------------------


def _kept_token() -> str | None:
    """The submitted form token, when it can serve the form shown again: the first showing
    still counts, so a quick correction is not taken for a bot."""
    raw = request.form.get("csrf_token")
    token = read_form_token(current_app.config["SECRET_KEY"], raw)
    return raw if token is not None and not token.expired(utcnow()) else None


def _page(form: SignupForm, status: int = 200, *, banner=None, token=None, suggestion=None):
    """The hosted form, with a message above it or a suggestion under the address."""
    secret = current_app.config["SECRET_KEY"]
    now = utcnow()
    on = admission.challenge_on()
    # A solution that checks out is kept, so the next press needs no new proof of work.
    altcha = form.altcha.data if on and admission.solved(form.altcha.data, now) else ""
    body = render_template(
        "signup.html",
        form=form,
        banner=banner,
        texts=page_texts.current(),
        field_max=FIELD_MAX,
        token=token or form_token(secret, now),
        altcha=altcha,
        challenge=challenge.issue(secret, now) if on and not altcha else None,
        suggestion=suggestion,
        suggestion_text=messages.SUGGEST.format(address="\0").split("\0"),
        frame_origins=current_app.config["EMBED_ALLOWED_ORIGINS"],
    )
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"  # each showing has its own token
    return response


def _form_answer(outcome: Outcome, form: SignupForm | None):
    if outcome.verdict is Verdict.ACCEPTED:
        return redirect(url_for("signup.thanks"), code=303)
    if form is None:
        # Keep what the reader typed, unless the body itself was the problem.
        form = SignupForm(formdata=None if outcome.status == 413 else request.form)
    for name, errors in outcome.errors.items():
        getattr(form, name).errors = list(errors)
    if outcome.fresh:
        form.altcha.data = ""
    keep = not outcome.fresh and outcome.status not in (403, 413)
    if outcome.verdict is Verdict.SUGGEST:
        return _page(form, token=form.csrf_token.data, suggestion=outcome.suggestion)
    response = _page(
        form, outcome.status, banner=outcome.message, token=_kept_token() if keep else None
    )
    if outcome.retry_after is not None:
        response.headers["Retry-After"] = str(outcome.retry_after)
    return response


def _note_refused_frame() -> None:
    """A frame on a page that may not frame the form shows the browser's error, not the
    form (CSP `frame-ancestors`): the dashboard lists that page's origin too."""
    if request.headers.get("Sec-Fetch-Dest") != "iframe":
        return
    opener = origin_of(request.referrer or "")
    if opener is not None and opener not in allowed_origins():
        admission.origin_refusal(opener, request.url_rule.rule, now=utcnow(), counted=False)


@bp.route("/signup", methods=["GET", "POST"], endpoint="form")
@frameable
def signup_form():
    if request.method != "POST":  # GET and HEAD only show the form
        form = SignupForm(formdata=None)
        # Framed, the page can't see the post it sits on (a cross-origin frame's referrer
        # is the blog's origin alone): the snippet names it in `?page=`, and it is believed
        # only on the origin of the page that opened the frame.
        form.page.data = page_on_origin_of(
            clean_page_url(request.args.get("page")), request.referrer
        )
        _note_refused_frame()
        return _page(form)
    # Only the form's own fields are read: a JSON body is no form, and has no token.
    form = SignupForm(formdata=request.form)
    submission = _submission(Channel.FORM, request.form)
    outcome = admission.admit(submission)
    if outcome.verdict is Verdict.SUGGEST:
        form.email_checked.data = submission.email
    return _form_answer(outcome, form)


@bp.get("/", endpoint="home")
def home():
    """The bare site opens the form. A 302, not a 301: browsers keep a 301 forever, and the
    operator may put a page of their own at / later."""
    query = request.query_string.decode("latin-1")
    return redirect(url_for("signup.form") + (f"?{query}" if query else ""), code=302)


@bp.get("/signup/thanks", endpoint="thanks")
@frameable
def thanks():
    return render_template(
        "thanks.html",
        texts=page_texts.current(),
        frame_origins=current_app.config["EMBED_ALLOWED_ORIGINS"],
    )


# ---- the API and the embed: JSON in, JSON out --------------------------------------------


def _cors(response: Response) -> Response:
    origin = request.headers.get("Origin")
    if origin and origin in allowed_origins():
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
    response.headers.add("Vary", "Origin")
    return response


def _json_answer(outcome: Outcome) -> Response:
    if outcome.verdict is Verdict.ACCEPTED:
        body, status = {"status": "ok"}, 202
    elif outcome.verdict is Verdict.SUGGEST:
        body, status = {"status": "check", "suggestion": outcome.suggestion}, 200
    else:
        errors = {field: list(msgs) for field, msgs in outcome.errors.items()}
        body, status = {"errors": errors, "message": outcome.message}, outcome.status
        if outcome.status == 403:  # only an origin is refused with a 403
            body |= _origin_reason()
    response = _cors(make_response(jsonify(body), status))
    if outcome.retry_after is not None:
        response.headers["Retry-After"] = str(outcome.retry_after)
    return response


def _origin_reason() -> dict:
    """Why a page's post was refused, for the embed to tell the blog's owner (the console)."""
    origin = (request.headers.get("Origin") or "null")[: refused_origins.ORIGIN_MAX]
    return {
        "reason": "origin",
        "detail": f"this page's origin ({origin}) may not post signups to Tend. "
        f"On the Tend server: {refused_origins.fix_for(origin)}.",
    }


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


def _refused_origin() -> str | None:
    """The Origin of a browser's request from a page that may not post, else None."""
    origin = request.headers.get("Origin")
    return origin if origin is not None and origin not in allowed_origins() else None


@bp.route("/api/subscribe", methods=["POST", "OPTIONS"], endpoint="api_subscribe")
def api_subscribe():
    if request.method == "OPTIONS":
        # The browser asks before a page's JSON post: a refusal here is a signup refused.
        if (stranger := _refused_origin()) is not None:
            refusal = admission.origin_refusal(
                stranger, request.url_rule.rule, now=utcnow(), counted=True
            )
            return _json_answer(admission.record(refusal))
        return _cors(make_response("", 204))
    keyed = admission.keyed(request.headers.get("Authorization"))
    channel = Channel.KEYED if keyed else Channel.API
    return _json_answer(admission.admit(_submission(channel, _api_values())))


@bp.get("/api/challenge")
def new_challenge():
    """A fresh ALTCHA challenge for a page that renders the form itself (the embed).

    A page whose origin may not post is told so in words its script can read (the embed
    logs them for the blog's owner), and the dashboard lists the origin."""
    if (stranger := _refused_origin()) is not None:
        admission.origin_refusal(stranger, request.url_rule.rule, now=utcnow(), counted=False)
        response = make_response(jsonify(errors={}, message=messages.BANNER, **_origin_reason()))
        response.status_code = 403
        response.headers["Access-Control-Allow-Origin"] = stranger
        response.headers.add("Vary", "Origin")
        return response
    if not admission.challenge_on():
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
        texts=page_texts.current(),
        field_max=FIELD_MAX,
        challenge_on=admission.challenge_on(),
        solver=SOLVER.read_text(encoding="utf-8"),
    )
    response = make_response(body)
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response
