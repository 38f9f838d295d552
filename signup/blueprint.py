"""The signup blueprint: the public pages (`signup.views`) and the pages behind the links in
emails (`signup.email_links`) share it, so their endpoint names (`signup.form`,
`signup.confirm`, …) stay what every template and every email already sent uses."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, current_app, request

from campaigns.compose import long_date
from signup import refused_origins
from signup.door import origin_of

bp = Blueprint("signup", __name__, static_folder="static", static_url_path="/static/signup")


def allowed_origins() -> frozenset[str]:
    """Origins that may embed the form and post to it: the configured ones and our own."""
    own = {request.host_url.rstrip("/"), origin_of(current_app.config["PUBLIC_BASE_URL"])}
    return frozenset(own | set(current_app.config["EMBED_ALLOWED_ORIGINS"]))


@bp.app_template_filter("long_date")
def _long_date(day: date) -> str:
    return long_date(day)


@bp.app_template_filter("as_date")
def _as_date(iso: str) -> date:
    return date.fromisoformat(iso)


# For the dashboard's overview: what signup knows of the origins around it.
@bp.app_template_global("refused_origins")
def _refused_origins() -> list[refused_origins.RefusedOrigin]:
    return refused_origins.recent()


@bp.app_template_global("on_allowed_origin")
def _on_allowed_origin(page: str | None) -> bool:
    """Whether a stored page is on an origin that may embed the form (shown as a link then;
    any other page a signup named is shown as text)."""
    return bool(page) and origin_of(page) in allowed_origins()
