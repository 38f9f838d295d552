"""`/admin/emails`: every email, its editor with a live preview, publishing (after one
confirmation that says what the change reaches), versions and revert, test sends, and the
check-ins' add and remove. Each action is one call of `studio.emails`; every POST carries
the admin CSRF token and GET never changes anything."""

from __future__ import annotations

import re

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for

from admin import email_page
from admin.actor import dashboard_actor
from admin.blueprint import bp
from admin.email_page import FIELDS, WORDS
from admin.forms import EXPIRED, ActionForm, TestSendForm
from models import utcnow
from studio import emails
from studio.errors import NotFound, Refused
from subscribers.fields import clean_email
from workers.transport import PermanentFailure, TemporaryFailure, Undeliverable

NEW_CHECKIN = {
    "offset": "9 months",
    "subject": "",
    "preheader": "",
    "body": "Hi {{ first_name }},\n\n\n\nWarmly,  \n{{ coach_name }}\n",
}


def _email_or_404(key: str) -> dict:
    try:
        return emails.get(key)
    except NotFound:
        abort(404)


def _refuse_unprintable(fields: dict[str, str] | None) -> None:
    errors = email_page.unprintable(fields or {})
    if errors:
        raise Refused(errors)


def _csrf_ok() -> bool:
    return ActionForm().validate_on_submit()


def _back(key: str, state: str | None = None) -> Response:
    return redirect(url_for("admin.email", key=key, reader=state), code=303)


# ---- every email, and a new check-in -------------------------------------------------------


def _listing(*, fields: dict | None = None, errors: dict | None = None, status: int = 200):
    rows = []
    for email in emails.catalogue():
        latest = emails.versions(email["key"])[0]
        rows.append(
            {
                **email,
                "kind_label": email_page.KINDS[email["kind"]],
                "when": email_page.when_sent(email),
                "states": email_page.states(email["key"]),
                "shipped": email_page.shipped(latest),
                "published": latest["published_at"],
            }
        )
    return render_template(
        "admin/emails.html",
        rows=rows,
        fields=fields or NEW_CHECKIN,
        errors=errors or {},
        action=ActionForm(),
    ), status


@bp.get("/emails", endpoint="emails")
def emails_list():
    return _listing()


@bp.post("/emails", endpoint="email_add")
def email_add():
    fields = {name: request.form.get(name, "") for name in FIELDS}
    if not _csrf_ok():
        return _listing(fields=fields, errors={"form": [EXPIRED]}, status=400)
    try:
        _refuse_unprintable(fields)
        added = emails.add_checkin(**fields, actor=dashboard_actor(), now=utcnow())
    except Refused as refused:
        return _listing(fields=fields, errors=refused.errors, status=422)
    flash(
        f"Added the check-in “{added['subject']}”, {email_page.when_sent(added)}. "
        "Readers get it from the next tick.",
        "ok",
    )
    return _back(added["key"])


# ---- the editor ------------------------------------------------------------------------------


def _state_or_404(key: str) -> str:
    # ?reader=<state>: the preview as a reader in that state gets it; a state this email
    # never reaches has no preview (it would show words nobody gets).
    asked = request.args.get("reader")
    choices = email_page.states(key)
    if asked is not None and asked not in {s.key for s in choices}:
        abort(404)
    return asked or choices[0].key


def _posted_state(key: str) -> str | None:
    asked = request.form.get("reader") or request.args.get("reader")
    return asked if asked in {s.key for s in email_page.states(key)} else None


@bp.get("/emails/<key>", endpoint="email")
def email_get(key: str):
    _email_or_404(key)
    return email_page.editor(key, state=_state_or_404(key))


@bp.post("/emails/<key>", endpoint="email_test")
def email_test(key: str):
    """Send a test, as a reader in the chosen state, of the words on the page (the
    published ones when the form carries none)."""
    email = _email_or_404(key)
    state = _posted_state(key)
    words = email_page.posted_words(request.form, email)
    form = TestSendForm()
    if not form.validate_on_submit():
        expired = {"form": [EXPIRED]} if "csrf_token" in form.errors else {}
        return email_page.editor(
            key, state=state, words=words, errors=expired, test_form=form, status=400
        )
    address = clean_email(form.email.data)
    try:
        _refuse_unprintable(words)
        given = {n: words[n] for n in WORDS} if words else {}
        emails.test_send(
            key, email=address, now=utcnow(), actor=dashboard_actor(), state=state, **given
        )
    except Refused as refused:
        return email_page.editor(key, state=state, words=words, errors=refused.errors, status=422)
    except (TemporaryFailure, PermanentFailure, Undeliverable) as err:
        said, category = f"The test was not sent: {err}", "error"
    else:
        said, category = f"Test sent to {address}.", "ok"
        current_app.logger.info("test email sent", extra={"email_key": key})
    if words is None:
        flash(said, category)
        return _back(key, state)
    # The unsaved words stay on the page, as they were when the test went.
    return email_page.editor(key, state=state, words=words, message=said)


@bp.get("/emails/<key>/body.html", endpoint="email_html")
def email_html(key: str):
    """The published email's HTML part alone, as a reader in `?reader=` gets it."""
    _email_or_404(key)
    rendered = emails.preview(key, now=utcnow(), state=_state_or_404(key))
    response = Response(rendered.html, mimetype="text/html")
    # It may load nothing itself, and only the dashboard may frame it.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data: https:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
    )
    return response


def _wants_json() -> bool:
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == (
        "application/json"
    )


@bp.post("/emails/<key>/preview", endpoint="email_preview")
def email_preview(key: str):
    """The unsaved words rendered as a reader in the chosen state gets them: JSON
    `{subject, html, text}` for the page's script (422 `{errors}` when they cannot be
    published), else the editor page with that preview (the no-script Preview button)."""
    email = _email_or_404(key)
    state = _posted_state(key)
    words = email_page.posted_words(request.form, email) or {n: email.get(n, "") for n in FIELDS}
    if not _csrf_ok():
        if _wants_json():
            return {"errors": {"form": [EXPIRED]}}, 400
        return email_page.editor(
            key, state=state, words=words, errors={"form": [EXPIRED]}, status=400
        )
    if not _wants_json():
        errors = email_page.problems(key, email, words, state or email_page.states(key)[0].key)
        return email_page.editor(
            key, state=state, words=words, errors=errors, status=422 if errors else 200
        )
    try:
        _refuse_unprintable(words)
        given = {n: words[n] for n in WORDS} | {"offset": words.get("offset")}
        rendered = emails.preview(key, now=utcnow(), state=state, **given)
    except Refused as refused:
        return {"errors": refused.errors}, 422
    return {"subject": rendered.subject, "html": rendered.html, "text": rendered.text}


# ---- publish (after one confirmation), revert, remove ------------------------------------------


@bp.post("/emails/<key>/publish", endpoint="email_publish")
def email_publish(key: str):
    """The first POST checks the words and shows what publishing them reaches (and, for a
    new offset, moves), with a Confirm button that carries them again; the second
    (`confirmed`) publishes them."""
    email = _email_or_404(key)
    state = _posted_state(key)
    words = email_page.posted_words(request.form, email) or {n: email.get(n, "") for n in FIELDS}
    if not _csrf_ok():
        return email_page.editor(
            key, state=state, words=words, errors={"form": [EXPIRED]}, status=400
        )
    if request.form.get("confirmed") != "1":
        return _confirm_publish(key, email, words, state)
    try:
        _refuse_unprintable(words)
        published = emails.publish(key, **words, actor=dashboard_actor(), now=utcnow())
    except Refused as refused:
        return email_page.editor(key, state=state, words=words, errors=refused.errors, status=422)
    flash(f"Published version {published['version']}: “{published['subject']}”.", "ok")
    return _back(key, state)


def _confirm_publish(key: str, email: dict, words: dict[str, str], state: str | None):
    errors = email_page.problems(key, email, words, state or email_page.states(key)[0].key)
    if errors:
        return email_page.editor(key, state=state, words=words, errors=errors, status=422)
    offset = words.get("offset")
    impact = emails.impact(key, offset=offset)
    moves = offset is not None and " ".join(offset.split()) != email.get("offset")
    return render_template(
        "admin/email_publish.html",
        email=email,
        words=words,
        state=state,
        impact=impact,
        moves=moves,
        was=email_page.when_sent(email),
        will=email_page.when_sent(email, " ".join(offset.split())) if moves else "",
        warnings=emails.timing_words(key, words),
        action=ActionForm(),
    )


@bp.post("/emails/<key>/revert", endpoint="email_revert")
def email_revert(key: str):
    """Publish an earlier version's words again, as a new version: the first POST shows
    what they reach (as Publish… does), the second (`confirmed`) reverts."""
    email = _email_or_404(key)
    if not _csrf_ok():
        return email_page.editor(key, errors={"form": [EXPIRED]}, status=400)
    version = request.form.get("version", "")
    number = int(version) if re.fullmatch(r"[0-9]{1,9}", version) else -1  # not "①"
    try:
        if request.form.get("confirmed") != "1":
            return _confirm_revert(key, email, number)
        back = emails.revert(key, number, actor=dashboard_actor(), now=utcnow())
    except Refused as refused:
        flash(" ".join(m for ms in refused.errors.values() for m in ms), "error")
        return _back(key)
    flash(f"Version {version} is back, published as version {back['version']}.", "ok")
    return _back(key)


def _confirm_revert(key: str, email: dict, number: int):
    words = emails.words_of(key, number)
    offset = words.get("offset")
    moves = offset is not None and offset != email.get("offset")
    return render_template(
        "admin/email_publish.html",
        email=email,
        words=words,
        state=None,
        revert=number,
        impact=emails.impact(key, offset=offset),
        moves=moves,
        was=email_page.when_sent(email),
        will=email_page.when_sent(email, offset) if moves else "",
        action=ActionForm(),
    )


@bp.post("/emails/<key>/remove", endpoint="email_remove")
def email_remove(key: str):
    """A check-in's removal: the first POST says how many planned notes it drops, the
    second (`confirmed`) removes it."""
    email = _email_or_404(key)
    if not _csrf_ok():
        return email_page.editor(key, errors={"form": [EXPIRED]}, status=400)
    if email["kind"] != "checkin":
        flash(f"“{email['subject']}” is not a check-in; only check-ins can be removed.", "error")
        return _back(key)
    if request.form.get("confirmed") != "1":
        return render_template(
            "admin/email_remove.html",
            email=email,
            when=email_page.when_sent(email),
            impact=emails.impact(key, remove=True),
            action=ActionForm(),
        )
    removed = emails.remove_checkin(key, actor=dashboard_actor(), now=utcnow())
    flash(
        f"Removed the check-in “{email['subject']}”: {removed['dropped']} planned "
        f"{'note' if removed['dropped'] == 1 else 'notes'} dropped; sent ones are untouched.",
        "ok",
    )
    return redirect(url_for("admin.emails"), code=303)
