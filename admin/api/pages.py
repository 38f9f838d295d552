"""`/api/admin/pages`: the editable texts of the form, the thank-you and the start-date
pages, by page key and field name; through `studio.pages`."""

from __future__ import annotations

from admin.api.framework import answer, route
from admin.api.schemas import listing
from models import utcnow
from studio import pages
from studio.audit import API

TAG = "pages"


@route("GET", "/pages", "Every page's editable texts", {200: listing("Page")}, tag=TAG)
def list_pages():
    return answer([{"key": key, "fields": fields} for key, fields in pages.view().items()])


@route(
    "PUT",
    "/pages/<key>",
    "Publish a page's texts (fields left out keep their words); the warnings say what should not be published but was",
    {200: "PagePublished"},
    body="PagePublish",
    tag=TAG,
)
def put_page(key: str, body: dict):
    warnings = pages.publish(key, body["fields"], actor=API, now=utcnow())
    return answer({"key": key, "fields": pages.view()[key], "warnings": list(warnings)})
