"""What a signup must carry besides the fields: the honeypot, and the hosted form's signed,
stateless token. Pure; `now` is passed in.

The token (`csrf_token`) needs no cookie: it is signed with SECRET_KEY and names its form,
when the form was shown, and a nonce that makes it single use. So the form works in an
iframe on a browser that blocks third-party cookies, and it doubles as the time trap: a
form sent sooner than a person could is asked to be sent again, and a form open for longer
than `LIFETIME` gets a fresh token.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

SIGNUP_FORM = "signup"
LIFETIME = timedelta(hours=2)
# Clocks of several web hosts may differ a little; a token from further ahead is forged.
_SKEW_SECONDS = 60


@dataclass(frozen=True)
class FormToken:
    """A genuine token of one form: when that form was shown, and its single-use nonce."""

    shown_at: int  # Unix time
    nonce: str

    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.shown_at, UTC) + LIFETIME

    def age(self, now: datetime) -> float:
        return now.timestamp() - self.shown_at

    def expired(self, now: datetime) -> bool:
        """Older than `LIFETIME`, or from the future."""
        age = self.age(now)
        return age > LIFETIME.total_seconds() or age < -_SKEW_SECONDS

    def too_fast(self, now: datetime, min_seconds: int) -> bool:
        """Sent sooner after the form was shown than a person fills it in."""
        return min_seconds > 0 and self.age(now) < min_seconds


def _serializer(secret_key: str, form: str) -> URLSafeSerializer:
    # The form's name is in the salt: a token of one form is no token of another.
    return URLSafeSerializer(secret_key, salt=f"tend.form.{form}")


def form_token(secret_key: str, now: datetime, form: str = SIGNUP_FORM) -> str:
    """A fresh token for `form`, shown at `now`."""
    return _serializer(secret_key, form).dumps([int(now.timestamp()), secrets.token_urlsafe(12)])


def read_form_token(secret_key: str, token: object, form: str = SIGNUP_FORM) -> FormToken | None:
    """The token if Tend signed it for `form` (of any age), else None. Never raises."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    try:
        shown, nonce = _serializer(secret_key, form).loads(token)
    except (BadSignature, UnicodeError, ValueError, TypeError):
        return None
    if not isinstance(shown, int) or isinstance(shown, bool) or not isinstance(nonce, str):
        return None
    return FormToken(shown_at=shown, nonce=nonce)


def honeypot_filled(value: object) -> bool:
    """True when the field people never see came back filled (or not as text at all)."""
    if value is None:
        return False
    return not isinstance(value, str) or bool(value.strip())
