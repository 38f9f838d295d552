"""Signed tokens and the absolute links that carry them in emails."""

from __future__ import annotations

from functools import lru_cache

from itsdangerous import BadSignature, URLSafeSerializer

# One salt per purpose, so a token made for one door never opens another.
PURPOSES = ("confirm", "unsubscribe", "worksheet", "started", "privacy")


@lru_cache(maxsize=32)  # one per key and purpose: every email signs several links
def _serializer(secret_key: str, purpose: str) -> URLSafeSerializer:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    return URLSafeSerializer(secret_key, salt=f"tend.{purpose}")


def make_token(secret_key: str, purpose: str, public_id: str) -> str:
    """A signed token naming one subscriber for one purpose; it does not expire."""
    return _serializer(secret_key, purpose).dumps(public_id)


def read_token(secret_key: str, purpose: str, token: str) -> str | None:
    """The subscriber's public id, or None for a tampered, foreign or malformed token."""
    if not token or len(token) > 256:
        return None
    try:
        value = _serializer(secret_key, purpose).loads(token)
    except (BadSignature, UnicodeError, ValueError):
        return None
    return value if isinstance(value, str) else None


class Links:
    """The links every email may carry, built from PUBLIC_BASE_URL exactly as configured."""

    def __init__(self, base_url: str, secret_key: str, public_id: str):
        self._base = base_url.rstrip("/")
        self._secret = secret_key
        self._id = public_id

    def _url(self, path: str, purpose: str) -> str:
        return f"{self._base}/{path}/{make_token(self._secret, purpose, self._id)}"

    @property
    def confirm(self) -> str:
        return self._url("confirm", "confirm")

    @property
    def unsubscribe(self) -> str:
        return self._url("unsubscribe", "unsubscribe")

    @property
    def worksheet(self) -> str:
        return self._url("worksheet", "worksheet")

    @property
    def started(self) -> str:
        return self._url("started", "started")

    @property
    def privacy(self) -> str:
        return self._url("privacy", "privacy")
