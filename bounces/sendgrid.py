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


def authenticate(body: bytes, headers: Mapping[str, str], cfg: Mapping, now: datetime) -> Once:
    """Raise Refused unless SendGrid signed timestamp + body with our configured key, recently.

    The nonce is the bytes that were signed, not the signature: ECDSA gives many valid
    signatures of the same bytes (a fresh one each time, and (r, n - s) for any (r, s)).
    """
    signature, timestamp = headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER)
    if not signature or not timestamp:
        raise Refused(401, "signature headers missing")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(403, "signature is not base64") from None
    signed = timestamp.encode() + body
    try:
        key = public_key(cfg["SENDGRID_WEBHOOK_PUBLIC_KEY"])
        key.verify(raw, signed, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise Refused(403, "signature does not match") from None
    max_age = cfg["WEBHOOK_MAX_AGE_SECONDS"]
    sent = unix_time(timestamp)
    if sent is None or not fresh(sent, now=now, max_age=max_age):
        raise Refused(403, "signature is too old")
    return Once(
        spent.key_for("sendgrid", signed),
        remembered_until(sent, max_age),
        refusal="signature already used",
    )


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


def read(body: bytes, headers: Mapping[str, str], cfg: Mapping, now: datetime) -> Call:
    """Authenticate a SendGrid POST (a JSON array of events) and return what it reports."""
    once = authenticate(body, headers, cfg, now)
    items = json_body(body, list)
    return Call([e for i in items if isinstance(i, dict) and (e := event_of(i)) is not None], once)
