"""Postmark webhooks, authenticated by the basic-auth credentials set in the webhook's URL."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from datetime import datetime

from bounces.events import Event, Kind, Refused, json_body

HARD = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated"}
# "Blocked" is an ISP refusing the sender for now, not a dead address.
SOFT = {"SoftBounce", "Transient", "DnsError", "Blocked"}
COMPLAINT = {"SpamComplaint"}
UNSUBSCRIBE = {"Unsubscribe"}


def enabled(cfg: Mapping) -> bool:
    return bool(cfg["POSTMARK_WEBHOOK_USERNAME"] and cfg["POSTMARK_WEBHOOK_PASSWORD"])


def authenticate(headers: Mapping[str, str], cfg: Mapping) -> None:
    """Raise Refused unless the Authorization header carries the configured credentials."""
    header = headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Refused(401, "basic auth required")
    try:
        username, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Refused(401, "basic auth unreadable") from None
    user_ok = hmac.compare_digest(username.encode(), cfg["POSTMARK_WEBHOOK_USERNAME"].encode())
    pass_ok = hmac.compare_digest(password.encode(), cfg["POSTMARK_WEBHOOK_PASSWORD"].encode())
    if not (user_ok and pass_ok):
        raise Refused(403, "wrong credentials")


def event_of(record: Mapping[str, object]) -> Event | None:
    """Classify one Postmark record (Bounce, SpamComplaint, Delivery, SubscriptionChange)."""
    record_type = record.get("RecordType")
    if record_type == "Bounce":
        bounce_type = str(record.get("Type", ""))
        email = str(record.get("Email", ""))
        detail = f"{bounce_type}: {record.get('Description') or ''}".strip()
        if bounce_type in HARD:
            return Event(Kind.HARD_BOUNCE, email, detail)
        if bounce_type in SOFT:
            return Event(Kind.SOFT_BOUNCE, email, detail)
        if bounce_type in COMPLAINT:
            return Event(Kind.COMPLAINT, email, detail)
        if bounce_type in UNSUBSCRIBE:
            return Event(Kind.UNSUBSCRIBE, email, detail)
        return None  # auto-responders, challenge verifications and the like change nothing
    if record_type == "SpamComplaint":
        return Event(Kind.COMPLAINT, str(record.get("Email", "")), "SpamComplaint")
    if record_type == "Delivery":
        return Event(Kind.DELIVERED, str(record.get("Recipient", "")), "delivered")
    if record_type == "SubscriptionChange" and record.get("SuppressSending") is True:
        reason = str(record.get("SuppressionReason", ""))
        email = str(record.get("Recipient", ""))
        if reason == "HardBounce":
            return Event(Kind.HARD_BOUNCE, email, "suppressed: HardBounce")
        if reason == "SpamComplaint":
            return Event(Kind.COMPLAINT, email, "suppressed: SpamComplaint")
        return Event(Kind.UNSUBSCRIBE, email, f"suppressed: {reason}")
    return None


def read(body: bytes, headers: Mapping[str, str], cfg: Mapping, now: datetime) -> list[Event]:
    """Authenticate a Postmark POST and return its event (Postmark posts one record per call)."""
    authenticate(headers, cfg)
    record = json_body(body, (dict, list))
    records = record if isinstance(record, list) else [record]
    return [e for r in records if isinstance(r, dict) and (e := event_of(r)) is not None]
