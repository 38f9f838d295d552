"""Security headers on every response: a strict CSP, nosniff, a referrer policy, HSTS on https.

No page may be framed, except the views a feature marks `@frameable`: those may be framed
by our own origin and by `EMBED_ALLOWED_ORIGINS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Flask, Response, current_app, request

View = TypeVar("View", bound=Callable)


def frameable(view: View) -> View:
    """Mark a view as one the embedding sites may show in an `<iframe>`."""
    view.frameable = True
    return view


def _framed_here() -> bool:
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    return getattr(view, "frameable", False)


def security_headers(response: Response) -> Response:
    """Add the headers a view did not set itself."""
    ancestors = "'none'"
    if _framed_here():
        ancestors = " ".join(["'self'", *current_app.config["EMBED_ALLOWED_ORIGINS"]])
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        f"script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        f"frame-ancestors {ancestors}",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def init_app(app: Flask) -> None:
    """Put the security headers on every response of `app`, error pages included."""
    app.after_request(security_headers)
