"""`/api/admin/emails`: every email's words and offset, versions, preview, test, impact,
revert, and adding or removing a check-in; all through `studio.emails`."""

from __future__ import annotations

from flask import Response

from admin.api.framework import answer, errors, pick, route
from admin.api.schemas import listing
from models import utcnow
from studio import emails
from studio.audit import API
from workers.transport import PermanentFailure, TemporaryFailure, Undeliverable

TAG = "emails"
WORDS = ("subject", "preheader", "body")


def email(shown: dict) -> dict:
    """An email as the API answers it (`offset` is null for the worksheet and confirm)."""
    return pick(shown, ("key", "kind", *WORDS, "version")) | {"offset": shown.get("offset")}


@route(
    "GET",
    "/emails",
    "Every email: confirm, worksheet, each step, each check-in",
    {200: listing("Email")},
    tag=TAG,
)
def list_emails():
    return answer([email(shown) for shown in emails.catalogue()])


@route("GET", "/emails/<key>", "One email", {200: "Email"}, tag=TAG)
def get_email(key: str):
    return answer(email(emails.get(key)))


@route(
    "PUT",
    "/emails/<key>",
    "Publish a new version of an email",
    {200: "Email"},
    body="EmailPublish",
    tag=TAG,
)
def put_email(key: str, body: dict):
    given = {name: body[name] for name in WORDS}
    if body.get("offset") is not None:  # null, as GET shows the worksheet's: none
        given["offset"] = body["offset"]
    shown = emails.publish(key, **given, actor=API, now=utcnow())
    return answer(email(shown))


@route("POST", "/emails", "Add a check-in", {201: "Email"}, body="NewCheckin", tag=TAG)
def add_checkin(body: dict):
    given = {name: body[name] for name in (*WORDS, "offset")}
    shown = emails.add_checkin(**given, actor=API, now=utcnow())
    return answer(email(shown), 201)


@route(
    "DELETE",
    "/emails/<key>",
    "Remove a check-in: its planned notes are dropped, sent ones kept",
    {200: "Removed"},
    tag=TAG,
)
def remove_checkin(key: str):
    removed = emails.remove_checkin(key, actor=API, now=utcnow())
    return answer({"key": key, "dropped": removed["dropped"]})


@route(
    "POST",
    "/emails/<key>/preview",
    "The given (unsaved) or the published words, as a reader in a state gets them; nothing is stored or sent",
    {200: "Preview"},
    body="PreviewRequest",
    body_required=False,
    tag=TAG,
)
def preview_email(key: str, body: dict):
    shown = emails.preview(key, now=utcnow(), **body)
    return answer(pick(shown, ("subject", "html", "text")))


@route(
    "GET",
    "/emails/<key>/versions",
    "The email's versions, newest first",
    {200: listing("Version")},
    tag=TAG,
)
def email_versions(key: str):
    kept = ("version", "published_at", "published_by", "subject")
    return answer([pick(v, kept) for v in emails.versions(key)])


@route(
    "POST",
    "/emails/<key>/revert",
    "Publish an earlier version's words again, as a new version",
    {200: "Email"},
    body="Revert",
    tag=TAG,
)
def revert_email(key: str, body: dict):
    shown = emails.revert(key, body["version"], actor=API, now=utcnow())
    return answer(email(shown))


@route(
    "POST",
    "/emails/<key>/test",
    "Send the email (or the given words) as a reader in a state gets it, marked as a test, to an address",
    {200: "TestSent", 503: "Errors"},
    body="TestRequest",
    tag=TAG,
)
def test_email(key: str, body: dict) -> Response:
    try:
        emails.test_send(key, **body, actor=API, now=utcnow())
    except TemporaryFailure as err:
        return errors({"email": [f"The relay could not take it just now: {err}"]}, 503)
    except (PermanentFailure, Undeliverable) as err:
        return errors({"email": [f"The relay refused it: {err}"]}, 422)
    return answer({"key": key, "email": body["email"], "state": body.get("state")})


@route(
    "POST",
    "/emails/<key>/impact",
    "How many planned emails a publish would reach, move (a new offset) or drop (a removal)",
    {200: "Impact"},
    body="ImpactRequest",
    body_required=False,
    tag=TAG,
)
def email_impact(key: str, body: dict):
    found = emails.impact(key, offset=body.get("offset"), remove=body.get("remove", False))
    return answer(pick(found, ("reach", "moved", "dropped")))
