"""Amazon SES notifications, delivered by SNS: verify the SNS signature, then read the SES event.

SNS signs a canonical string of the message's fields with the key of an X.509 certificate
it publishes at `SigningCertURL` (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA). The
URL must be https on `sns.<region>.amazonaws.com` (`.com.cn` for the China regions), the
certificate must name SNS (`sns.amazonaws.com` or that host) and be valid now, and the
topic must be one we configured (SES_TOPIC_ARNS): anyone can create an SNS topic and point
it here. Each MessageId is taken once, for as long as its Timestamp is accepted.

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
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import current_app

from bounces.events import (
    Call,
    Event,
    Kind,
    Once,
    Refused,
    fresh,
    json_body,
    remembered_until,
)
from web import spent

CertificateFetcher = Callable[[str], bytes]

# An AWS region's shape: us-east-1, eu-west-2, ap-southeast-3, us-gov-west-1, cn-north-1.
_REGION = r"[a-z]{2}(?:-gov)?-(?:central|(?:north|south)(?:east|west)?|east|west)-[0-9]{1,2}"
_CERT_HOST = re.compile(rf"sns\.(?P<region>{_REGION})\.amazonaws\.com(?P<china>\.cn)?")
# The names AWS's SNS signing certificates carry, besides their own host's.
_CERT_NAME = "sns.amazonaws.com"
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
    """Only https URLs on `sns.<region>.amazonaws.com` (`.com.cn` in China) may name the
    signing certificate."""
    try:
        parts = urlsplit(url)
        port = parts.port  # a port out of range raises ValueError here
    except ValueError:
        return False
    host = _CERT_HOST.fullmatch(parts.hostname or "")
    return (
        parts.scheme == "https"
        and port in (None, 443)
        and host is not None
        and host["region"].startswith("cn-") == bool(host["china"])
        and parts.path.endswith(".pem")
        and not parts.username
    )


def certificate_names(certificate: x509.Certificate) -> list[str]:
    """The DNS names a certificate is for: its SAN if it has one, else its CN (RFC 6125)."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        attributes = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return [str(a.value).lower() for a in attributes]
    return [name.lower() for name in san.value.get_values_for_type(x509.DNSName)]


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
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, from a JSON escape: nothing SNS signs
        raise Refused(403, "SNS message is not text") from None


@lru_cache(maxsize=16)
def fetch_certificate(url: str) -> bytes:
    """Download an SNS signing certificate (validated URL only), cached for the process."""
    if not certificate_url_allowed(url):
        raise ValueError(f"not an SNS certificate URL: {url!r}")
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - https, checked host
        return response.read(64 * 1024)


def verify(message: Mapping[str, object], fetch: CertificateFetcher, now: datetime) -> None:
    """Raise Refused unless SNS signed this message with a certificate from an SNS host
    that names SNS and is valid at `now`."""
    version = message.get("SignatureVersion")
    if not isinstance(version, str) or version not in _HASHES:
        raise Refused(403, f"unsupported SNS SignatureVersion {repr(version)[:20]}")
    url = message.get("SigningCertURL")
    if not isinstance(url, str) or not certificate_url_allowed(url):
        raise Refused(403, "SigningCertURL is not an https URL on an SNS host")
    given = message.get("Signature")
    try:
        if not isinstance(given, str):
            raise ValueError("not text")
        signature = base64.b64decode(given, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(403, "SNS Signature is not base64") from None
    signed = string_to_sign(message)
    try:
        certificate = x509.load_pem_x509_certificate(fetch(url))
    except Exception as err:
        raise Refused(403, f"SNS certificate unavailable: {type(err).__name__}") from err
    try:
        names = certificate_names(certificate)
        key = certificate.public_key()
        valid = certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc
    except (ValueError, UnsupportedAlgorithm):  # extensions and keys are parsed lazily
        raise Refused(403, "SNS certificate unreadable") from None
    if not {_CERT_NAME, (urlsplit(url).hostname or "")} & set(names):
        raise Refused(403, "SNS certificate is not SNS's")
    if not valid:
        raise Refused(403, "SNS certificate is not valid now")
    if not isinstance(key, rsa.RSAPublicKey):
        raise Refused(403, "SNS certificate key is not RSA")
    try:
        key.verify(signature, signed, padding.PKCS1v15(), _HASHES[version]())
    except InvalidSignature:
        raise Refused(403, "SNS signature does not match") from None


def sent_at(timestamp: object) -> datetime | None:
    """An SNS Timestamp (ISO-8601 with its zone, `Z` for UTC) as a time, or None."""
    if not isinstance(timestamp, str):
        return None
    try:
        sent = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return sent if sent.tzinfo is not None else None


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


def _object(value: object) -> Mapping[str, object]:
    return value if isinstance(value, dict) else {}


def events_of(notification: Mapping[str, object]) -> list[Event]:
    """The SES event inside an SNS notification (identity notifications or event publishing)."""
    kind = notification.get("notificationType") or notification.get("eventType")
    if kind == "Bounce":
        bounce = _object(notification.get("bounce"))
        hard = bounce.get("bounceType") == "Permanent"
        detail = f"{bounce.get('bounceType')}/{bounce.get('bounceSubType')}"
        return [
            Event(Kind.HARD_BOUNCE if hard else Kind.SOFT_BOUNCE, address, detail)
            for address in _recipients(bounce.get("bouncedRecipients"))
        ]
    if kind == "Complaint":
        complaint = _object(notification.get("complaint"))
        detail = str(complaint.get("complaintFeedbackType") or "complaint")
        return [
            Event(Kind.COMPLAINT, address, detail)
            for address in _recipients(complaint.get("complainedRecipients"))
        ]
    if kind == "Delivery":
        delivery = _object(notification.get("delivery"))
        return [
            Event(Kind.DELIVERED, address, "delivered")
            for address in _recipients(delivery.get("recipients"))
        ]
    return []


def read(body: bytes, headers: Mapping[str, str], cfg: Mapping, now: datetime) -> Call:
    """Authenticate an SNS POST and return its SES events (none for subscription messages),
    with its MessageId as the call's nonce."""
    message = json_body(body, dict)
    # Cheap checks first, so a stranger's call never makes us fetch a certificate.
    if message.get("TopicArn") not in cfg["SES_TOPIC_ARNS"]:
        raise Refused(403, "SNS topic is not one of SES_TOPIC_ARNS")
    max_age = cfg["WEBHOOK_MAX_AGE_SECONDS"]
    sent = sent_at(message.get("Timestamp"))
    if not fresh(sent, now=now, max_age=max_age):
        raise Refused(403, "SNS message is too old")
    verify(message, current_app.extensions.get("tend.sns_certificate", fetch_certificate), now)
    once = Once(
        spent.key_for("ses", str(message["MessageId"])),  # a string: it was signed
        remembered_until(sent, max_age),
        refusal="SNS message already received",
    )
    kind = message.get("Type")
    if kind == "SubscriptionConfirmation":
        # Confirming is the operator's call: we never fetch a URL a message hands us.
        current_app.logger.warning(
            "SNS subscription awaits confirmation: open SubscribeURL to confirm it",
            extra={"topic": message.get("TopicArn"), "subscribe_url": message.get("SubscribeURL")},
        )
        return Call([], once)
    if kind == "UnsubscribeConfirmation":
        current_app.logger.warning(
            "SNS subscription was removed", extra={"topic": message.get("TopicArn")}
        )
        return Call([], once)
    if kind != "Notification":
        raise Refused(400, f"unknown SNS message type {kind!r}")
    try:
        notification = json.loads(str(message.get("Message", "")))
    except (ValueError, RecursionError):
        return Call([], once)
    return Call(events_of(notification) if isinstance(notification, dict) else [], once)
