"""Bot traps: the honeypot field and a signed render time. Pure; `now` is passed in."""

from __future__ import annotations

from datetime import datetime

from itsdangerous import BadSignature, URLSafeSerializer

_SALT = "tend.rendered"


def render_stamp(secret_key: str, now: datetime) -> str:
    """A signed note of when the form was shown, carried back by the form."""
    return URLSafeSerializer(secret_key, salt=_SALT).dumps(int(now.timestamp()))


def is_bot(
    *, honeypot: object, stamp: object, now: datetime, min_seconds: int, secret_key: str
) -> bool:
    """True for a filled honeypot, a forged stamp, or a form sent sooner than people can.

    A submission with no stamp at all (an API call from a server) is not timed.
    """
    if isinstance(honeypot, str) and honeypot.strip():
        return True
    if honeypot is not None and not isinstance(honeypot, str):
        return True
    if stamp in (None, "") or min_seconds <= 0:
        return False
    shown = shown_at(secret_key, stamp)
    return shown is None or now.timestamp() - shown < min_seconds


def shown_at(secret_key: str, stamp: object) -> int | None:
    """When the form carrying this stamp was shown (Unix time), or None for a forged one."""
    if not isinstance(stamp, str):
        return None
    try:
        shown = URLSafeSerializer(secret_key, salt=_SALT).loads(stamp)
    except (BadSignature, UnicodeError, ValueError):
        return None
    return shown if isinstance(shown, int) else None
