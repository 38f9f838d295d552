"""`flask --app app admin login-link`: a one-time way in, for when the password form won't do.

The link lasts `LIFETIME` (10 minutes) and opens one session, once. Opening it shows a
page with a button; only pressing it (a POST) opens the session and uses the link up, so
a mail scanner or a preview that fetches the link changes nothing. The token is signed
with SECRET_KEY and carries the fingerprint of the password (changing ADMIN_PASSWORD or
SECRET_KEY voids it); its nonce is spent through the single-use store (`web.spent`).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import click
from flask import current_app
from flask.cli import with_appcontext
from itsdangerous import BadSignature, URLSafeSerializer

from admin import sessions
from models import utcnow
from web import spent

LIFETIME = timedelta(minutes=10)
TOKEN_MAX = 256


def _serializer(cfg: Mapping) -> URLSafeSerializer:
    return URLSafeSerializer(cfg["SECRET_KEY"], salt="tend.admin-login-link")


def make(cfg: Mapping, now: datetime) -> str:
    """A fresh link's token, good until `now` + `LIFETIME`."""
    expires = int((now + LIFETIME).timestamp())
    return _serializer(cfg).dumps(
        {"n": secrets.token_urlsafe(16), "e": expires, "k": sessions.fingerprint(cfg)[:32]}
    )


@dataclass(frozen=True)
class Link:
    nonce: str
    expires_at: datetime


def read(cfg: Mapping, token: str, now: datetime) -> Link | None:
    """The link `token` names, if it is genuine, current and made under this password."""
    if not token or len(token) > TOKEN_MAX:
        return None
    try:
        data = _serializer(cfg).loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("e"), int):
        return None
    if data.get("k") != sessions.fingerprint(cfg)[:32] or not isinstance(data.get("n"), str):
        return None
    expires_at = datetime.fromtimestamp(data["e"], UTC)
    return Link(data["n"], expires_at) if now < expires_at <= now + LIFETIME else None


def use(cfg: Mapping, token: str, now: datetime) -> bool:
    """Spend the link: True once for a current one, False ever after (and for any other)."""
    link = read(cfg, token, now)
    if link is None:
        return False
    return spent.take(spent.key_for("admin-link", link.nonce), link.expires_at, now=now)


@click.group("admin")
def admin_group() -> None:
    """The dashboard's way in."""


@admin_group.command("login-link")
@with_appcontext
def login_link_command() -> None:
    """Print a one-time link to the dashboard that lasts 10 minutes."""
    cfg = current_app.config
    if not cfg["ADMIN_PASSWORD"]:
        raise click.ClickException("ADMIN_PASSWORD is not set: the dashboard is off.")
    base = cfg["PUBLIC_BASE_URL"].rstrip("/")
    click.echo(f"{base}/admin/login/{make(cfg, utcnow())}")
    click.echo("It opens one session, once, within 10 minutes.", err=True)
