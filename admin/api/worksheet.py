"""`/api/admin/worksheet`: the worksheet's title, sections, questions and checkboxes, and
its PDF's rebuild; `PUT` publishes and queues the rebuild. Through `studio.worksheet`."""

from __future__ import annotations

from admin.api.framework import answer, route
from models import utcnow
from studio import worksheet
from studio.audit import API

TAG = "worksheet"
BUILD = ("state", "version", "built", "error", "at", "own_pdf")


def _shown() -> dict:
    """The words readers get now (`version` with them) and where their PDF stands."""
    build = worksheet.status(utcnow())
    return worksheet.view() | {"build": {name: build[name] for name in BUILD}}


@route("GET", "/worksheet", "The worksheet, and its PDF's rebuild", {200: "Worksheet"}, tag=TAG)
def get_worksheet():
    return answer(_shown())


@route(
    "PUT",
    "/worksheet",
    "Publish the worksheet (as GET gives it; version and build are read only) and queue its PDF's rebuild",
    {200: "Worksheet"},
    body="WorksheetEdit",
    tag=TAG,
)
def put_worksheet(body: dict):
    words = {name: value for name, value in body.items() if name != "build"}
    worksheet.publish(words, actor=API, now=utcnow())
    return answer(_shown())
