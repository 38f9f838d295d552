"""How one setting's text becomes a value: each parser takes the text as written in `.env`
(already stripped, never empty: a blank value means the default) and returns the value,
or raises `Invalid` with what is wrong and how to write it.

The message of `Invalid` follows the setting's name: `SMTP_PORT` + `must be a whole
number, got 'x'`. This module imports no feature; the features import from it.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import time
from email.utils import getaddresses, parseaddr
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import RateLimitItem, parse_many

Parser = Callable[[str], object]
DAY = 86400
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": DAY}
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_REGION = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
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
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(
            f"is not an IANA time zone: {raw!r} (write one like Europe/Paris or America/Chicago)"
        ) from None
    return raw


# ---- when notes go out ----------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """DRIP_WINDOW: the local hours a note may leave, and the text it was written as."""

    start: time
    end: time
    text: str

    def __str__(self) -> str:
        return self.text


def parse_window(text: str) -> tuple[time, time]:
    """`'09:00-17:00'` -> (start, end) local times; start must come before end."""
    match = _WINDOW.match(text)
    if not match:
        raise ValueError(f"window must look like 09:00-17:00, got {text!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = time(h1, m1), time(h2 % 24, m2) if h2 < 24 else time(23, 59, 59)
    if not start < end:
        raise ValueError(f"window must open before it closes, got {text!r}")
    return start, end


def window(raw: str) -> Window:
    try:
        start, end = parse_window(raw)
    except ValueError:
        raise Invalid(f"must look like 09:00-17:00, got {raw!r}") from None
    return Window(start, end, raw)


def _weekday(name: str) -> int:
    key = name.strip().lower()
    for count, day in enumerate(_DAY_NAMES):
        if key in (day, day[:3]):
            return count
    raise ValueError(f"not a day of the week: {name!r}")


def parse_days(text: str) -> frozenset[int]:
    """`'Mon-Fri'`, `'Mon,Wed,Fri'`, `'Fri-Mon'`, `'Mon-Sun'` -> weekday numbers (Monday = 0)."""
    days: set[int] = set()
    for part in text.split(","):
        if not part.strip():
            raise ValueError(f"days must look like Mon-Fri or Mon,Wed,Fri, got {text!r}")
        first, dash, last = part.partition("-")
        start = _weekday(first)
        stop = _weekday(last) if dash else start
        days.update((start + i) % 7 for i in range((stop - start) % 7 + 1))
    return frozenset(days)


@dataclass(frozen=True)
class Days:
    """DRIP_DAYS: the weekdays (Monday = 0) a note may leave, and the text it was written as."""

    numbers: frozenset[int]
    text: str

    def __str__(self) -> str:
        return self.text


def days(raw: str) -> Days:
    try:
        return Days(parse_days(raw), raw)
    except ValueError:
        raise Invalid(f"must name days like Mon-Fri or Mon,Wed,Fri, got {raw!r}") from None


def holidays(raw: str) -> tuple[str, ...]:
    """DRIP_HOLIDAYS: country (or country-region) codes such as US, GB, US-CA."""
    codes = tuple(code.upper() for code in words(raw))
    wrong = [code for code in codes if not _REGION.match(code)]
    if wrong:
        raise Invalid(
            f"must be country codes such as US, GB or US-CA, comma-separated, got {wrong[0]!r}"
        )
    return codes


# ---- rates ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """One limit of MAIL_RATE: `count` emails per `seconds`."""

    count: int
    seconds: int

    @property
    def text(self) -> str:
        unit = next((u for u, s in _UNITS.items() if s == self.seconds), None)
        return f"{self.count}/{unit}" if unit else f"{self.count}/{self.seconds} seconds"


def _items(raw: str) -> list[RateLimitItem]:
    """Flask-Limiter's own grammar (`limits.parse_many`), each count at least 1."""
    try:
        items = parse_many(raw)
    except ValueError:
        items = []
    if not items or any(item.amount < 1 for item in items):
        raise ValueError(raw)
    return items


def parse_rate(raw: str) -> tuple[Limit, ...]:
    """MAIL_RATE `14/second;2000/day` as limits, none longer than a day; empty means none.

    Raises ValueError on anything else."""
    if not (raw or "").strip():
        return ()
    limits = tuple(Limit(item.amount, item.get_expiry()) for item in _items(raw))
    if any(limit.seconds > DAY for limit in limits):
        raise ValueError(raw)
    return limits


def mail_rate(raw: str) -> tuple[Limit, ...]:
    try:
        return parse_rate(raw)
    except ValueError:
        raise Invalid(
            f"must look like 14/second;2000/day (second, minute, hour or day), got {raw!r}"
        ) from None


@dataclass(frozen=True)
class Rate:
    """A Flask-Limiter rate (SIGNUP_RATE_LIMIT…) checked at start, kept as it was written."""

    text: str

    def __str__(self) -> str:
        return self.text


def rate(raw: str) -> Rate:
    try:
        _items(raw)
    except ValueError:
        raise Invalid(f"must look like 5/minute;50/day, got {raw!r}") from None
    return Rate(raw)


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
    if "@" not in parseaddr(raw)[1]:
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
