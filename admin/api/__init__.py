"""The admin API: JSON under `/api/admin/`, authorised by `Authorization: Bearer
<ADMIN_API_TOKEN>` (unset: every route is a 404), described by OpenAPI 3.1 at
`/api/admin/openapi.json`. Each route calls the same `studio` function the dashboard does
and has no logic of its own; `framework` holds what they share, `schemas` every shape.
"""

from __future__ import annotations

from flask import Flask

# Each module registers its routes on `framework.bp` (and in openapi.json) as it is imported.
from admin.api import (  # noqa: F401
    activity,
    emails,
    framework,
    openapi,
    pages,
    settings,
    subscribers,
    worksheet,
)


def init_app(app: Flask) -> None:
    """Guard every path under `/api/admin` and register the routes."""
    framework.init_app(app)
