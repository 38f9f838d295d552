"""How one setting's text becomes a value: each parser takes the text as written in `.env`
(already stripped, never empty: a blank value means the default) and returns the value,
or raises `Invalid` with what is wrong and how to write it.

The message of `Invalid` follows the setting's name: `SMTP_PORT` + `must be a whole
number, got 'x'`. This module imports no feature; the features import from it.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import getaddresses, parseaddr
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Parser = Callable[[str], object]
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Invalid(ValueError):
    """What is wrong with a value, worded to follow the setting's name."""


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine: localhost, *.localhost, 127.0.0.0/8 or ::1."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost") or host == "localhost.localdomain":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ---- plain values -------------------------------------------------------------------------


def text(raw: str) -> str:
    return raw


def line(raw: str) -> str:
    """A name shown to readers (in every email, its headers, the worksheet): one line of
    at most 100 characters, no control characters."""
    if not raw.isprintable():
        raise Invalid(f"must be one line of plain text, got {raw!r}")
    if len(raw) > 100:
        raise Invalid(f"must be at most 100 characters, got {len(raw)}")
    return raw


def upper(raw: str) -> str:
    return raw.upper()


def flag(raw: str) -> bool:
    return raw.lower() in {"1", "true", "yes", "on"}


def whole(least: int | None = None, most: int | None = None) -> Parser:
    """A whole number, optionally within [least, most]."""

    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise Invalid(f"must be a whole number, got {raw!r}") from None
        if least is not None and most is not None and not least <= value <= most:
            raise Invalid(f"must be from {least} to {most}, got {value}")
        if least is not None and value < least:
            raise Invalid(f"must be at least {least}, got {value}")
        return value

    return parse


def number(raw: str) -> float:
    """A number that is not negative."""
    try:
        value = float(raw)
    except ValueError:
        raise Invalid(f"must be a number, got {raw!r}") from None
    if value < 0 or value != value:
        raise Invalid(f"must not be negative, got {raw!r}")
    return value


def one_of(*choices: str) -> Parser:
    """One of `choices`, in any case."""

    def parse(raw: str) -> str:
        value = raw.lower()
        if value not in choices:
            listed = ", ".join(choices[:-1]) + f" or {choices[-1]}"
            raise Invalid(f"must be {listed}, got {raw!r}")
        return value

    return parse


def exactly(*choices: str) -> Parser:
    """One of `choices`, written as they are."""

    def parse(raw: str) -> str:
        if raw not in choices:
            raise Invalid(f"must be one of {', '.join(choices)}, got {raw!r}")
        return raw

    return parse


def words(raw: str) -> tuple[str, ...]:
    """A comma-separated list; empty items are dropped."""
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def log_level(raw: str) -> str:
    value = raw.upper()
    if value not in _LEVELS:
        raise Invalid(f"must be one of {', '.join(_LEVELS)}, got {raw!r}")
    return value


def zone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: `Europe`, a folder
        raise Invalid(
            f"is not an IANA time zone: {raw!r} (write one like Europe/Paris or America/Chicago)"
        ) from None
    return raw


# ---- addresses and places -------------------------------------------------------------------


def database_url(raw: str) -> str:
    """A SQLAlchemy URL whose database Tend knows (SQLite or PostgreSQL)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        make_url(raw).get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError):
        raise Invalid(
            "must be a SQLAlchemy URL such as postgresql+psycopg://tend@127.0.0.1/tend or "
            f"sqlite:///instance/tend.db, got {raw!r}"
        ) from None
    return raw


def redis_url(raw: str) -> str:
    if urlsplit(raw).scheme not in ("redis", "rediss", "unix"):
        raise Invalid(f"must be a Redis URL such as redis://localhost:6379/0, got {raw!r}")
    return raw


def public_url(raw: str) -> str:
    base = raw.rstrip("/")
    try:
        parts = urlsplit(base)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(
            f"must be an absolute http(s) URL such as https://tend.example.com, got {raw!r}"
        )
    return base


def origins(raw: str) -> tuple[str, ...]:
    """EMBED_ALLOWED_ORIGINS: scheme://host[:port] each, no path."""
    found = tuple(item.rstrip("/") for item in words(raw))
    for origin in found:
        try:
            parts = urlsplit(origin)
            parts.port  # noqa: B018
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path
            or parts.query
            or parts.fragment
            or parts.username
        ):
            raise Invalid(
                f"must be origins like https://blog.example.com (scheme and host, no path), "
                f"comma-separated, got {origin!r}"
            )
    return found


def mailbox(raw: str) -> str:
    """MAIL_FROM: one address, with or without a display name."""
    local, _, domain = parseaddr(raw)[1].rpartition("@")
    if not local or not domain or len(getaddresses([raw])) != 1:
        raise Invalid(
            "must be one email address, for example MAIL_FROM='Career Notes "
            "<coach@example.com>' (a name with a comma goes in double quotes), "
            f"got {raw!r}"
        )
    return raw


def reply_to(raw: str) -> str:
    if "@" not in parseaddr(raw)[1] or not raw.isprintable():
        raise Invalid(f"must be an email address, got {raw!r}")
    return raw


def bare_address(raw: str) -> str:
    if "@" not in raw or any(c in raw for c in " <>\r\n"):
        raise Invalid(f"must be a bare address, got {raw!r}")
    return raw


def domain(raw: str) -> str:
    return raw.lower()


def existing_file(raw: str) -> str:
    """A file that exists, as an absolute path (so the check and the use name the same one)."""
    path = os.path.abspath(raw)
    if not os.path.isfile(path):
        raise Invalid(
            f"names no file ({path!r}): set it to your own PDF, or unset it to serve the built "
            "worksheet"
        )
    return path


@dataclass(frozen=True)
class KeyFile:
    """DKIM_PRIVATE_KEY_PATH: where the key is, and the PEM it holds."""

    path: str
    pem: bytes

    def __str__(self) -> str:
        return self.path


def pem_file(raw: str) -> KeyFile:
    try:
        pem = Path(raw).read_bytes()
    except OSError as err:
        raise Invalid(
            f"cannot be read: {raw!r} ({err.strerror}); make a key with flask --app app dkim keygen"
        ) from None
    if b"PRIVATE KEY" not in pem:
        raise Invalid(f"is not a PEM private key: {raw!r}")
    return KeyFile(raw, pem)
