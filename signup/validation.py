"""Pure checks of what a reader typed: each returns the clean value or None."""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from email_validator import EmailNotValidError, validate_email

from subscribers.fields import EMAIL_MAX, NAME_MAX, PAGE_URL_MAX

# Characters that have no business in a name: controls, line breaks, surrogates, private use.
_FORBIDDEN = {"Cc", "Cs", "Co", "Cn", "Zl", "Zp"}


def clean_name(raw: object) -> str | None:
    """The name, stripped and NFC-normalized; None when empty, too long or unusable."""
    if not isinstance(raw, str):
        return None
    name = unicodedata.normalize("NFC", raw).strip()
    if not name or len(name) > NAME_MAX:
        return None
    if any(unicodedata.category(ch) in _FORBIDDEN for ch in name):
        return None
    # Something a greeting can use: at least one letter or digit, and no links (a spam vector).
    if not any(unicodedata.category(ch)[0] in "LN" for ch in name):
        return None
    lowered = name.lower()
    if "://" in lowered or "www." in lowered:
        return None
    return name


def clean_email(raw: object) -> str | None:
    """The address normalized by email-validator (no DNS lookups); None when invalid."""
    if not isinstance(raw, str):
        return None
    value = raw.strip()
    if not value or len(value) > EMAIL_MAX:
        return None
    try:
        result = validate_email(value, check_deliverability=False)
    except (EmailNotValidError, UnicodeError, ValueError):
        return None
    return result.normalized if len(result.normalized) <= EMAIL_MAX else None


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def clean_timezone(raw: object, default: str) -> str:
    """An IANA zone name the browser sent, or the default when it is missing or unknown."""
    if isinstance(raw, str) and raw.strip() in _zones():
        return raw.strip()
    return default


def clean_page_url(raw: object) -> str | None:
    """The page the form sat on, if it is a plain http(s) URL."""
    if not isinstance(raw, str) or len(raw) > PAGE_URL_MAX:
        return None
    value = raw.strip()
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    if any(unicodedata.category(ch) in _FORBIDDEN for ch in value):
        return None
    return value
