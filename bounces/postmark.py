"""Postmark webhooks, authenticated by the basic-auth credentials set in the webhook's URL.

Postmark signs nothing and sends no nonce or signed time, so a captured call can be sent
again (and whoever holds the credentials can send anything). What keeps a repeat harmless
is that each record names itself (RecordType, ID, MessageID and its time): a record seen
in the last day, the span of Postmark's own retries, is answered 200 and changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Mapping
from datetime import datetime, timedelta

from bounces.events import Call, Event, Kind, Once, Refused, json_body
from web import spent

HARD = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated"}
# "Blocked" is an ISP refusing the sender for now, not a dead address.
SOFT = {"SoftBounce", "Transient", "DnsError", "Blocked"}
COMPLAINT = {"SpamComplaint"}
UNSUBSCRIBE = {"Unsubscribe"}
# Postmark retries a failed post 10 times over about 10.5 hours: a day covers them all.
REMEMBERED = timedelta(days=1)
_IDENTITY = ("RecordType", "ID", "MessageID", "BouncedAt", "DeliveredAt", "ChangedAt")


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


def identity(record: Mapping[str, object]) -> str | None:
    """What names this record among all Postmark sends, or None when it names no message."""
    values = [record.get(name) for name in _IDENTITY]
    values = [v if isinstance(v, (str, int)) and not isinstance(v, bool) else None for v in values]
    if values[1] is None and values[2] is None:  # neither ID nor MessageID
        return None
    return json.dumps(values)


def read(body: bytes, headers: Mapping[str, str], cfg: Mapping, now: datetime) -> Call:
    """Authenticate a Postmark POST and return its event (Postmark posts one record per call);
    the records' identities are the call's nonce, and a repeat is answered 200."""
    authenticate(headers, cfg)
    record = json_body(body, (dict, list))
    records = [r for r in (record if isinstance(record, list) else [record]) if isinstance(r, dict)]
    pairs = [(r, e) for r in records if (e := event_of(r)) is not None]
    names = [identity(r) for r, _ in pairs]
    once = None
    if pairs and all(names):
        once = Once(spent.key_for("postmark", "\n".join(sorted(names))), now + REMEMBERED)
    return Call([e for _, e in pairs], once)
