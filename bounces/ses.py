"""Amazon SES notifications, delivered by SNS: verify the SNS signature, then read the SES event.

SNS signs a canonical string of the message's fields with the key of an X.509 certificate
it publishes at `SigningCertURL` (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA). The
URL must be https on an SNS host of amazonaws.com, and the topic must be one we configured
(SES_TOPIC_ARNS): anyone can create an SNS topic and point it here.

Fetching the certificate is the only network call; the app holds the fetcher in
`app.extensions["tend.sns_certificate"]` (url -> PEM bytes) so it can be replaced.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import lru_cache
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import current_app

from bounces.events import Event, Kind, Refused, json_body

CertificateFetcher = Callable[[str], bytes]

_CERT_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
_NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_SUBSCRIPTION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}


def enabled(cfg: Mapping) -> bool:
    return bool(cfg["SES_TOPIC_ARNS"])


def certificate_url_allowed(url: str) -> bool:
    """Only https URLs on an SNS host of amazonaws.com may name the signing certificate."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and parts.port in (None, 443)
        and bool(_CERT_HOST.match(parts.hostname or ""))
        and parts.path.endswith(".pem")
        and not parts.username
    )


def string_to_sign(message: Mapping[str, object]) -> bytes:
    """The canonical form SNS signs: chosen fields as `name\\nvalue\\n`, in this order."""
    kind = message.get("Type")
    fields = _NOTIFICATION_FIELDS if kind == "Notification" else _SUBSCRIPTION_FIELDS
    parts = []
    for name in fields:
        if name == "Subject" and message.get(name) is None:
            continue
        value = message.get(name)
        if not isinstance(value, str):
            raise Refused(403, f"SNS message lacks {name}")
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode("utf-8")


@lru_cache(maxsize=16)
def fetch_certificate(url: str) -> bytes:
    """Download an SNS signing certificate (validated URL only), cached for the process."""
    if not certificate_url_allowed(url):
        raise ValueError(f"not an SNS certificate URL: {url!r}")
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - https, checked host
        return response.read(64 * 1024)


def verify(message: Mapping[str, object], fetch: CertificateFetcher) -> None:
    """Raise Refused unless SNS signed this message with a certificate from an SNS host."""
    version = str(message.get("SignatureVersion", ""))
    if version not in _HASHES:
        raise Refused(403, f"unsupported SNS SignatureVersion {version!r}")
    url = message.get("SigningCertURL")
    if not isinstance(url, str) or not certificate_url_allowed(url):
        raise Refused(403, "SigningCertURL is not an https URL on an SNS host")
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
    except (binascii.Error, ValueError):
        raise Refused(403, "SNS Signature is not base64") from None
    try:
        certificate = x509.load_pem_x509_certificate(fetch(url))
    except Exception as err:
        raise Refused(403, f"SNS certificate unavailable: {type(err).__name__}") from err
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Refused(403, "SNS certificate key is not RSA")
    try:
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), _HASHES[version]())
    except InvalidSignature:
        raise Refused(403, "SNS signature does not match") from None


def fresh(timestamp: object, *, now: datetime, max_age: int) -> bool:
    """Whether an SNS Timestamp (ISO-8601, UTC) is recent enough to be accepted."""
    if not isinstance(timestamp, str):
        return False
    try:
        sent = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return False
    if sent.tzinfo is None:
        return False
    return abs((now - sent).total_seconds()) <= max_age


def _recipients(items: object, field: str = "emailAddress") -> list[str]:
    if not isinstance(items, list):
        return []
    found = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get(field), str):
            found.append(item[field])
        elif isinstance(item, str):
            found.append(item)
    return found


def events_of(notification: Mapping[str, object]) -> list[Event]:
    """The SES event inside an SNS notification (identity notifications or event publishing)."""
    kind = notification.get("notificationType") or notification.get("eventType")
    if kind == "Bounce":
        bounce = notification.get("bounce") or {}
        hard = bounce.get("bounceType") == "Permanent"
        detail = f"{bounce.get('bounceType')}/{bounce.get('bounceSubType')}"
        return [
            Event(Kind.HARD_BOUNCE if hard else Kind.SOFT_BOUNCE, address, detail)
            for address in _recipients(bounce.get("bouncedRecipients"))
        ]
    if kind == "Complaint":
        complaint = notification.get("complaint") or {}
        detail = str(complaint.get("complaintFeedbackType") or "complaint")
        return [
            Event(Kind.COMPLAINT, address, detail)
            for address in _recipients(complaint.get("complainedRecipients"))
        ]
    if kind == "Delivery":
        delivery = notification.get("delivery") or {}
        return [
            Event(Kind.DELIVERED, address, "delivered")
            for address in _recipients(delivery.get("recipients"))
        ]
    return []


def read(body: bytes, headers: Mapping[str, str], cfg: Mapping, now: datetime) -> list[Event]:
    """Authenticate an SNS POST and return its SES events (none for subscription messages)."""
    message = json_body(body, dict)
    # Cheap checks first, so a stranger's call never makes us fetch a certificate.
    if message.get("TopicArn") not in cfg["SES_TOPIC_ARNS"]:
        raise Refused(403, "SNS topic is not one of SES_TOPIC_ARNS")
    if not fresh(message.get("Timestamp"), now=now, max_age=cfg["WEBHOOK_MAX_AGE_SECONDS"]):
        raise Refused(403, "SNS message is too old")
    verify(message, current_app.extensions.get("tend.sns_certificate", fetch_certificate))
    kind = message.get("Type")
    if kind == "SubscriptionConfirmation":
        # Confirming is the operator's call: we never fetch a URL a message hands us.
        current_app.logger.warning(
            "SNS subscription awaits confirmation: open SubscribeURL to confirm it",
            extra={"topic": message.get("TopicArn"), "subscribe_url": message.get("SubscribeURL")},
        )
        return []
    if kind == "UnsubscribeConfirmation":
        current_app.logger.warning(
            "SNS subscription was removed", extra={"topic": message.get("TopicArn")}
        )
        return []
    if kind != "Notification":
        raise Refused(400, f"unknown SNS message type {kind!r}")
    try:
        notification = json.loads(str(message.get("Message", "")))
    except ValueError:
        return []
    return events_of(notification) if isinstance(notification, dict) else []
