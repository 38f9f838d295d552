"""Mailgun webhooks: HMAC-SHA256 of timestamp + token under the webhook signing key."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

from bounces.events import (
    Call,
    Event,
    Kind,
    Once,
    Refused,
    fresh,
    json_body,
    remembered_until,
    unix_time,
)
from web import spent

# Mailgun's token is 50 characters; anything much longer is not Mailgun's.
_FIELD_MAX = 256


def enabled(cfg: Mapping) -> bool:
    return bool(cfg["MAILGUN_WEBHOOK_SIGNING_KEY"])


def signature_for(signing_key: str, timestamp: str, token: str) -> str:
    """The hex digest Mailgun sends for this timestamp and token."""
    return hmac.new(
        signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256
    ).hexdigest()


def _field(signature: Mapping, name: str) -> str | None:
    """One field of the signature block as the text Mailgun signed, or None if it is not."""
    value = signature.get(name)
    if name == "timestamp" and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or len(value) > _FIELD_MAX:
        return None
    return value if value.isascii() and value.isprintable() else None


def authenticate(signature: object, cfg: Mapping, now: datetime) -> Once:
    """Raise Refused unless the signature block was made with our signing key, recently;
    returns its token as the call's nonce (Mailgun signs the token, not the body)."""
    if not isinstance(signature, dict):
        raise Refused(401, "signature missing")
    timestamp, token, given = (_field(signature, n) for n in ("timestamp", "token", "signature"))
    if not (timestamp and token and given):
        raise Refused(401, "signature incomplete")
    expected = signature_for(cfg["MAILGUN_WEBHOOK_SIGNING_KEY"], timestamp, token)
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise Refused(403, "signature does not match")
    max_age = cfg["WEBHOOK_MAX_AGE_SECONDS"]
    sent = unix_time(timestamp)
    if sent is None or not fresh(sent, now=now, max_age=max_age):
        raise Refused(403, "signature is too old")
    return Once(
        spent.key_for("mailgun", token),
        remembered_until(sent, max_age),
        refusal="signature already used",
    )


def event_of(data: Mapping[str, object]) -> Event | None:
    """Classify Mailgun's `event-data`: failed (permanent/temporary), complained, delivered."""
    name = data.get("event")
    email = str(data.get("recipient", ""))
    status = data.get("delivery-status") if isinstance(data.get("delivery-status"), dict) else {}
    detail = f"{status.get('code', '')} {status.get('message') or status.get('description') or data.get('reason') or ''}".strip()
    if name == "failed":
        if data.get("severity") == "permanent":
            return Event(Kind.HARD_BOUNCE, email, detail)
        return Event(Kind.SOFT_BOUNCE, email, detail)
    if name == "complained":
        return Event(Kind.COMPLAINT, email, "complained")
    if name == "unsubscribed":
        return Event(Kind.UNSUBSCRIBE, email, "unsubscribed")
    if name == "delivered":
        return Event(Kind.DELIVERED, email, "delivered")
    return None


def read(body: bytes, headers: Mapping[str, str], cfg: Mapping, now: datetime) -> Call:
    """Authenticate a Mailgun JSON webhook and return its event, with its token as nonce."""
    payload = json_body(body, dict, status=401)  # unsigned until proven otherwise
    once = authenticate(payload.get("signature"), cfg, now)
    data = payload.get("event-data")
    event = event_of(data) if isinstance(data, dict) else None
    return Call([event] if event else [], once)
