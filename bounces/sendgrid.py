"""SendGrid's Event Webhook, signed with ECDSA (P-256, SHA-256) over timestamp + raw body."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bounces.events import Event, Kind, Refused, json_body
from bounces.mailgun import fresh

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


def enabled(cfg: Mapping) -> bool:
    return bool(cfg["SENDGRID_WEBHOOK_PUBLIC_KEY"])


@lru_cache(maxsize=4)
def public_key(text: str) -> ec.EllipticCurvePublicKey:
    """The verification key as SendGrid shows it (base64 DER), or as PEM."""
    data = text.strip()
    if data.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(data.encode())
    else:
        key = serialization.load_der_public_key(base64.b64decode(data))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("SENDGRID_WEBHOOK_PUBLIC_KEY is not an ECDSA public key")
    return key


def authenticate(body: bytes, headers: Mapping[str, str], cfg: Mapping, now: datetime) -> None:
    """Raise Refused unless SendGrid signed timestamp + body with our configured key, recently."""
    signature, timestamp = headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER)
    if not signature or not timestamp:
        raise Refused(401, "signature headers missing")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(403, "signature is not base64") from None
    try:
        key = public_key(cfg["SENDGRID_WEBHOOK_PUBLIC_KEY"])
        key.verify(raw, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise Refused(403, "signature does not match") from None
    if not fresh(timestamp, now=now, max_age=cfg["WEBHOOK_MAX_AGE_SECONDS"]):
        raise Refused(403, "signature is too old")


def event_of(item: Mapping[str, object]) -> Event | None:
    """Classify one SendGrid event: bounce (bounce/blocked), dropped, spamreport, delivered."""
    name = item.get("event")
    email = str(item.get("email", ""))
    reason = str(item.get("reason") or item.get("response") or "")
    if name == "bounce":
        # `type` is "bounce" for a permanent failure and "blocked" for a temporary one.
        if item.get("type", "bounce") == "blocked":
            return Event(Kind.SOFT_BOUNCE, email, f"blocked: {reason}")
        return Event(Kind.HARD_BOUNCE, email, reason)
    if name == "dropped":
        lowered = reason.lower()
        if "bounced address" in lowered or "invalid" in lowered:
            return Event(Kind.HARD_BOUNCE, email, f"dropped: {reason}")
        if "spam reporting" in lowered:
            return Event(Kind.COMPLAINT, email, f"dropped: {reason}")
        if "unsubscribed" in lowered:
            return Event(Kind.UNSUBSCRIBE, email, f"dropped: {reason}")
        return None
    if name == "spamreport":
        return Event(Kind.COMPLAINT, email, "spamreport")
    if name in ("unsubscribe", "group_unsubscribe"):
        return Event(Kind.UNSUBSCRIBE, email, str(name))
    if name == "delivered":
        return Event(Kind.DELIVERED, email, "delivered")
    return None  # deferred, processed, open, click: SendGrid retries or it is engagement


def read(body: bytes, headers: Mapping[str, str], cfg: Mapping, now: datetime) -> list[Event]:
    """Authenticate a SendGrid POST (a JSON array of events) and return what it reports."""
    authenticate(body, headers, cfg, now)
    items = json_body(body, list)
    return [e for i in items if isinstance(i, dict) and (e := event_of(i)) is not None]
