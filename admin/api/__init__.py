"""The admin API: JSON under `/api/admin/`, authorised by `Authorization: Bearer
<ADMIN_API_TOKEN>` (unset: every route is a 404), described by OpenAPI 3.1 at
`/api/admin/openapi.json`. Each route calls the same `studio` function the dashboard does
and has no logic of its own; `framework` holds what they share, `schemas` every shape.
"""

from __future__ import annotations

import importlib
import importlib.util

from flask import Flask

from admin.api import framework, openapi  # noqa: F401 (openapi.json is a route too)

# The route modules, each with the part of `studio` it calls.
PARTS = {
    "emails": "emails",
    "subscribers": "readers",
    "pages": "pages",
    "worksheet": "worksheet",
    "settings": "coach",
    "activity": "audit",
}

for _part, _service in PARTS.items():
    # A part whose studio module is not in this build yet is left out: its routes are
    # absent from the app and from openapi.json alike.
    if importlib.util.find_spec(f"studio.{_service}") is not None:
        importlib.import_module(f"admin.api.{_part}")


def init_app(app: Flask) -> None:
    """Guard every path under `/api/admin` and register the routes."""
    framework.init_app(app)
