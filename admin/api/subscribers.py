"""`/api/admin/subscribers`: one reader at a time, found, added, changed, unsubscribed or
sent the worksheet again; all through `studio.readers`. Every route that answers with a
reader answers with the same object (`Reader`)."""

from __future__ import annotations

from admin.api.framework import answer, pick, route
from models import Subscriber, utcnow
from studio import readers
from studio.audit import API

READER = ("public_id", "name", "email", "status", "job_answer", "started_on", "planned", "sent")
TAG = "subscribers"
EMAIL_QUERY = {"type": "string", "maxLength": 320, "description": "the reader's address"}


def reader(subscriber: Subscriber) -> dict:
    """The reader as every route answers with it."""
    seen = pick(readers.view(subscriber, utcnow()), READER)
    seen["planned"] = [pick(p, ("key", "subject", "due_at")) for p in seen["planned"]]
    seen["sent"] = [pick(s, ("key", "subject", "sent_at")) for s in seen["sent"]]
    return seen


@route(
    "GET",
    "/subscribers",
    "The reader with this address, or 404",
    {200: "Reader", 404: "Errors"},
    query={"email": EMAIL_QUERY},
    query_required=("email",),
    tag=TAG,
)
def find_reader(query: dict):
    return answer(reader(readers.find(query["email"])))


@route("GET", "/subscribers/<public_id>", "One reader", {200: "Reader"}, tag=TAG)
def get_reader(public_id: str):
    return answer(reader(readers.by_public_id(public_id)))


@route(
    "POST",
    "/subscribers",
    "Add one reader by hand; a request to confirm goes to them unless they confirmed in person",
    {201: "Reader"},
    body="NewReader",
    tag=TAG,
)
def add_reader(body: dict):
    added = readers.add(
        body["name"],
        body["email"],
        body["note"],
        confirmed=body.get("confirmed", False),
        actor=API,
        now=utcnow(),
    )
    return answer(reader(added), 201)


@route(
    "PATCH",
    "/subscribers/<public_id>",
    "Change a reader's name, address, start date or job answer; their notes are re-planned",
    {200: "Reader"},
    body="ReaderChange",
    tag=TAG,
)
def change_reader(public_id: str, body: dict):
    subscriber = readers.by_public_id(public_id)
    readers.change(subscriber, actor=API, now=utcnow(), **body)
    return answer(reader(subscriber))


@route(
    "POST",
    "/subscribers/<public_id>/unsubscribe",
    "Unsubscribe the reader, keeping their history",
    {200: "Reader"},
    tag=TAG,
)
def unsubscribe_reader(public_id: str):
    subscriber = readers.by_public_id(public_id)
    readers.unsubscribe(subscriber, actor=API, now=utcnow())
    return answer(reader(subscriber))


@route(
    "POST",
    "/subscribers/<public_id>/resend-worksheet",
    "Queue the worksheet email again (the usual resend limits hold)",
    {200: "Reader"},
    tag=TAG,
)
def resend_worksheet(public_id: str):
    subscriber = readers.by_public_id(public_id)
    readers.resend_worksheet(subscriber, actor=API, now=utcnow())
    return answer(reader(subscriber))
