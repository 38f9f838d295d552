"""Each field's rules, stated once: how long it may be (read from the columns in `models`)
and the pure checks of what was typed, each returning the clean value or None.

The hosted form and the API, the embed script (maxlength), the dashboard, the importer,
the bounce webhooks and the rows all take their limits and checks from here.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from email_validator import EmailNotValidError, validate_email

from models import Consent, Subscriber, Suppression

NAME_MAX: int = Subscriber.name.type.length
# The column holds 320 characters (64 + 1 + 255), but SMTP carries an address of at most
# 254 (RFC 5321, section 4.5.3.1.3): a longer one is refused as invalid.
EMAIL_MAX = 254
STARTED_ON_MAX = len("YYYY-MM-DD")  # a start date as a file gives it: ISO text
CALLED_MAX: int = Subscriber.called_name.type.length
IP_MAX: int = Consent.ip.type.length
USER_AGENT_MAX: int = Consent.user_agent.type.length
PAGE_URL_MAX: int = Consent.page_url.type.length
PAGE_MAX: int = Consent.page.type.length
FORM_VERSION_MAX: int = Consent.form_version.type.length
REASON_MAX: int = Suppression.reason.type.length
NOTE_MAX: int = Consent.note.type.length


def fit(value: str | None, limit: int) -> str | None:
    """Text kept to its first `limit` characters (a column's length); None when there is none."""
    return (value or "")[:limit] or None


# Characters that have no business in a name: controls, line breaks, surrogates, private use.
_FORBIDDEN = {"Cc", "Cs", "Co", "Cn", "Zl", "Zp"}
# What a mail client turns into a link: a word with a dot inside it that ends in two or more
# letters (`bit.ly`, `evil.example`, `x.co/claim`). Initials keep their space or end in one
# letter (`J. R. R.`, `A.J.`), so real names pass.
_LINK_LIKE = re.compile(r"[^\W_](?:[\w-]*[^\W_])?\.[^\W\d_]{2,}(?![\w-])|://|www\.", re.IGNORECASE)
# The other full stops IDNA reads as one (ideographic, fullwidth, halfwidth).
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def without_format_characters(text: str) -> str:
    """`text` without Unicode format characters (category Cf: soft hyphen, zero-width
    space and joiners, direction overrides…): invisible in a greeting, they can hide a link
    (`evil\u00ad.com`) or turn the rest of a line around (`\u202e`)."""
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def clean_name(raw: object) -> str | None:
    """The name, without format characters, stripped and NFC-normalized; None when empty,
    too long or unusable (after the format characters are gone)."""
    if not isinstance(raw, str):
        return None
    name = unicodedata.normalize("NFC", without_format_characters(raw)).strip()
    if not name or len(name) > NAME_MAX:
        return None
    if any(unicodedata.category(ch) in _FORBIDDEN for ch in name):
        return None
    # Something a greeting can use: at least one letter or digit, and no links (a spam vector).
    if not any(unicodedata.category(ch)[0] in "LN" for ch in name):
        return None
    if looks_like_a_link(name):
        return None
    return name


def clean_note(raw: object) -> str | None:
    """How a reader the coach added asked to join: one line of text, without format or
    control characters, NFC-normalized; None when empty or over NOTE_MAX characters."""
    if not isinstance(raw, str):
        return None
    text = unicodedata.normalize("NFC", without_format_characters(raw))
    text = " ".join(
        "".join(" " if unicodedata.category(ch) in _FORBIDDEN else ch for ch in text).split()
    )
    return text if text and len(text) <= NOTE_MAX else None


def looks_like_a_link(text: str) -> bool:
    """Whether a mail client would likely show part of `text` as a link (a URL or a domain)."""
    folded = unicodedata.normalize("NFKC", without_format_characters(text)).translate(_DOTS)
    return _LINK_LIKE.search(folded) is not None


def clean_email(raw: object) -> str | None:
    """The address normalized by email-validator (no DNS lookups); None when invalid."""
    if not isinstance(raw, str):
        return None
    value = raw.strip()
    if not value or len(value) > EMAIL_MAX:
        return None
    try:
        # Strict: RFC 5321's limits too, such as 64 characters before the @.
        result = validate_email(value, check_deliverability=False, strict=True)
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
