"""`/api/admin/settings`: the coach's settings (names, timing, zone) by lower-case name,
each with its value and where it comes from; through `studio.coach`."""

from __future__ import annotations

from admin.api.framework import answer, pick, route
from admin.api.schemas import listing
from models import utcnow
from studio import coach
from studio.audit import API

TAG = "settings"


def _settings() -> list[dict]:
    return [pick(s, ("name", "value", "source", "doc")) for s in coach.view()]


@route("GET", "/settings", "The coach's settings", {200: listing("Setting")}, tag=TAG)
def get_settings():
    return answer(_settings())


@route(
    "PATCH",
    "/settings",
    "Change some of the coach's settings",
    {200: listing("Setting")},
    body="SettingsChange",
    tag=TAG,
)
def patch_settings(body: dict):
    coach.change(body, actor=API, now=utcnow())
    return answer(_settings())
