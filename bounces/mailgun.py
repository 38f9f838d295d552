"""Mailgun webhooks: HMAC-SHA256 of timestamp + token under the webhook signing key."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

from bounces.events import Event, Kind, Refused, json_body


def enabled(cfg: Mapping) -> bool:
    return bool(cfg["MAILGUN_WEBHOOK_SIGNING_KEY"])


def signature_for(signing_key: str, timestamp: str, token: str) -> str:
    """The hex digest Mailgun sends for this timestamp and token."""
    return hmac.new(
        signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256
    ).hexdigest()


def fresh(timestamp: str, *, now: datetime, max_age: int) -> bool:
    """Whether a signed timestamp (Unix seconds) is recent enough to be accepted."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    return abs(now.timestamp() - sent) <= max_age


def authenticate(signature: object, cfg: Mapping, now: datetime) -> None:
    """Raise Refused unless the signature block was made with our signing key, recently."""
    if not isinstance(signature, dict):
        raise Refused(401, "signature missing")
    timestamp, token, given = (
        str(signature.get("timestamp", "")),
        str(signature.get("token", "")),
        str(signature.get("signature", "")),
    )
    if not (timestamp and token and given):
        raise Refused(401, "signature incomplete")
    expected = signature_for(cfg["MAILGUN_WEBHOOK_SIGNING_KEY"], timestamp, token)
    if not hmac.compare_digest(expected, given):
        raise Refused(403, "signature does not match")
    if not fresh(timestamp, now=now, max_age=cfg["WEBHOOK_MAX_AGE_SECONDS"]):
        raise Refused(403, "signature is too old")


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


def read(body: bytes, headers: Mapping[str, str], cfg: Mapping, now: datetime) -> list[Event]:
    """Authenticate a Mailgun JSON webhook and return its event."""
    payload = json_body(body, dict, status=401)  # unsigned until proven otherwise
    authenticate(payload.get("signature"), cfg, now)
    data = payload.get("event-data")
    event = event_of(data) if isinstance(data, dict) else None
    return [event] if event else []
