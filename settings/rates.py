"""Rates as the settings read them, with Flask-Limiter's grammar (`limits.parse_many`):
MAIL_RATE as limits the send rate keeps (workers.rate), and the signup and login limits
checked at start and handed to Flask-Limiter as written.
"""

from __future__ import annotations

from dataclasses import dataclass

from limits import RateLimitItem, parse_many

from .parsers import Invalid

DAY = 86400
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": DAY}


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
