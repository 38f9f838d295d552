"""How long each field may be: read from the columns in `models`, stated once.

The form and the embed script (maxlength), the checks of what a reader typed, the
importer and the rows all take their limits from here.
"""

from __future__ import annotations

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


def fit(value: str | None, limit: int) -> str | None:
    """Text kept to its first `limit` characters (a column's length); None when there is none."""
    return (value or "")[:limit] or None
