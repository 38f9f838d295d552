"""What the email pages show: each email's kind and timing in words, times in the coach's
zone, the editor page itself. The words are checked, stored and rendered by
`studio.emails`; nothing here decides what a reader gets."""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template
from werkzeug.datastructures import MultiDict

from admin.forms import ActionForm, TestSendForm
from campaigns.content import emails as content_emails
from models import utcnow
from studio import emails, previews
from studio.errors import Refused

WORDS = ("subject", "preheader", "body")
FIELDS = (*WORDS, "offset")

KINDS = {
    "confirm": "Request to confirm",
    "worksheet": "Worksheet email",
    "step": "After-hire note",
    "checkin": "Check-in",
}
COUNTED_FROM = {"step": "after the start date", "checkin": "after confirming"}
# When the two signup emails go, by DOUBLE_OPT_IN (on, off). With double opt-in, a reader
# who confirms gets the worksheet on the page the button opens, not by email.
SENT_WHEN = {
    "confirm": (
        "when someone signs up, when you resend it to a reader who hasn't confirmed, and "
        "when a reader's address changes",
        "only when a reader's address changes (double opt-in is off)",
    ),
    "worksheet": (
        "when you resend it, or add a reader who confirmed in person (readers who confirm "
        "download the worksheet on the page they confirm on)",
        "when someone signs up, and when you resend it",
    ),
}


def when_sent(email: dict[str, Any], offset: str | None = None) -> str:
    """ "1 month after the start date", "6 weeks after confirming", "when someone signs up"."""
    if email["kind"] in COUNTED_FROM:
        return f"{offset or email['offset']} {COUNTED_FROM[email['kind']]}"
    double, single = SENT_WHEN[email["kind"]]
    return double if current_app.config["DOUBLE_OPT_IN"] else single


def shipped(version: dict[str, Any]) -> bool:
    """Whether a version is the words Tend shipped with (never the coach's)."""
    return version["published_at"] is None or version["published_by"] == "shipped"


def states(key: str) -> tuple[previews.ReaderState, ...]:
    """The reader states an email can reach (the choices of its preview)."""
    found = previews.find(content_emails.sequence(), key)
    return found.states if found else ()


def posted_words(form: MultiDict, email: dict[str, Any]) -> dict[str, str] | None:
    """The words a form carries (None when it carries none: then the published ones)."""
    if not any(name in form for name in WORDS):
        return None
    words = {name: form.get(name, "") for name in WORDS}
    if "offset" in email:
        words["offset"] = form.get("offset", "")
    return words


def unprintable(fields: dict[str, str]) -> dict[str, list[str]]:
    """The fields holding a control character (a NUL, say) that no email can carry and the
    database would not store: refused here, before the service sees them."""
    errors = {}
    for name, value in fields.items():
        bad = next((c for c in value if ord(c) < 32 and c not in "\t\r\n" or c == "\x7f"), None)
        if bad is not None:
            errors[name] = [
                f"The {name} holds an invisible control character (U+{ord(bad):04X}); "
                "delete it (it often comes with a copy and paste)."
            ]
    return errors


def problems(key: str, email: dict[str, Any], words: dict[str, str], state: str) -> dict:
    """Every problem of the words as `studio.emails` names them (field -> messages), or {}."""
    errors: dict[str, list[str]] = unprintable(words)
    if errors:
        return errors
    try:
        emails.preview(key, now=utcnow(), state=state, **{n: words[n] for n in WORDS})
    except Refused as refused:
        errors.update(refused.errors)
    if "offset" in email:
        try:
            emails.impact(key, offset=words.get("offset", ""))
        except Refused as refused:
            errors.update(refused.errors)
    return errors


def _rendered(key: str, state: str, words: dict[str, str] | None):
    """The preview (the unsaved words', when they can be rendered) and what it shows."""
    if words is not None:
        try:
            return emails.preview(
                key, now=utcnow(), state=state, **{n: words[n] for n in WORDS}
            ), "unsaved"
        except Refused:
            pass
    shows = "published" if words is None else "published-instead"
    return emails.preview(key, now=utcnow(), state=state), shows


def editor(
    key: str,
    *,
    state: str | None = None,
    words: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    message: str | None = None,
    test_form: TestSendForm | None = None,
    status: int = 200,
):
    """The editor page: the fields (the posted words, else the published ones), the live
    preview as a reader in `state` gets it, the variables, the versions."""
    email = emails.get(key)
    choices = states(key)
    chosen = next((s for s in choices if s.key == state), choices[0])
    rendered, shows = _rendered(key, chosen.key, words)
    history = emails.versions(key)
    page = render_template(
        "admin/email.html",
        email=email,
        kind=KINDS[email["kind"]],
        when=when_sent(email),
        fields={n: email.get(n, "") for n in FIELDS} | (words or {}),
        errors=errors or {},
        message=message,
        states=choices,
        state=chosen,
        rendered=rendered,
        shows=shows,
        variables=emails.variables(email["kind"]),
        versions=history,
        shipped=shipped,
        form=test_form or TestSendForm(formdata=None),
        sample_name=previews.SAMPLE_NAME,
        sample_email=previews.SAMPLE_EMAIL,
        action=ActionForm(),
    )
    return page, status
