"""How long each field may be: read from the columns in `models`, stated once.

The form and the embed script (maxlength), the checks of what a reader typed, the
importer and the rows all take their limits from here.
"""

from __future__ import annotations

from sqlalchemy.orm import InstrumentedAttribute

from models import Consent, Subscriber

NAME_MAX: int = Subscriber.name.type.length
# The column holds 320 characters (64 + 1 + 255), but SMTP carries an address of at most
# 254 (RFC 5321, section 4.5.3.1.3): a longer one is refused as invalid.
EMAIL_MAX = 254
IP_MAX: int = Consent.ip.type.length
PAGE_URL_MAX: int = Consent.page_url.type.length


def fit(value: str | None, column: InstrumentedAttribute) -> str | None:
    """Text kept as far as its column holds it; None when there is none."""
    return (value or "")[: column.type.length] or None
