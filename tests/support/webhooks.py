"""What each bounce provider signs, made here with throwaway keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

SNS_TOPIC = "arn:aws:sns:us-west-2:123456789012:ses-bounces"
SNS_CERT_URL = "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
POSTMARK_USER, POSTMARK_PASSWORD = "postmark", "s3cret-hook-for-tests"


def sns_certificate(key, common_name: str = "sns.amazonaws.com", dns_names=(), days: int = 30):
    """A self-signed certificate (PEM) for `key`, named as SNS's own are (or not), valid
    from two days ago for `days` days (a negative number: expired)."""
    from datetime import UTC, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=2))
        .not_valid_after(now + timedelta(days=days))
    )
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def sign_sns(
    message: dict,
    key,
    version: str = "1",
    timestamp: str | None = None,
    cert_url: str = SNS_CERT_URL,
) -> dict:
    """The message as SNS would post it, signed with `key` (SignatureVersion 1 or 2)."""
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from bounces import ses
    from models import utcnow

    message = dict(message)
    message["SignatureVersion"] = version
    message["SigningCertURL"] = cert_url
    message["Timestamp"] = timestamp or utcnow().isoformat().replace("+00:00", "Z")
    # SignatureVersion 1 is SHA1withRSA: SNS's format, not our choice.
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303
    signed = key.sign(ses.string_to_sign(message), padding.PKCS1v15(), digest)
    message["Signature"] = base64.b64encode(signed).decode()
    return message


def sign_mailgun(payload: dict, key: str = MAILGUN_KEY, timestamp: int | None = None) -> dict:
    """The payload with its `signature` block signed as Mailgun does (timestamp + token)."""
    import hashlib
    import hmac

    from models import utcnow

    stamp = str(timestamp or int(utcnow().timestamp()))
    token = payload["signature"]["token"]
    digest = hmac.new(key.encode(), f"{stamp}{token}".encode(), hashlib.sha256).hexdigest()
    return payload | {"signature": {"timestamp": stamp, "token": token, "signature": digest}}


def sign_sendgrid(body: bytes, key, timestamp: str | None = None) -> dict:
    """The headers SendGrid sends with `body`: ECDSA over timestamp + body."""
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from models import utcnow

    stamp = timestamp or str(int(utcnow().timestamp()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def basic(user: str = POSTMARK_USER, password: str = POSTMARK_PASSWORD) -> dict:
    """The Authorization header Postmark sends for the credentials in its webhook URL."""
    import base64

    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@dataclass
class WebhookKeys:
    """Throwaway keys for every provider, and the app settings that trust them."""

    sns_key: object
    sns_pem: bytes
    sendgrid_key: object
    sendgrid_public: str

    @classmethod
    def make(cls) -> WebhookKeys:
        import base64

        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        sns_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        sendgrid_key = ec.generate_private_key(ec.SECP256R1())
        der = sendgrid_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(sns_key, sns_certificate(sns_key), sendgrid_key, base64.b64encode(der).decode())

    def settings(self) -> dict[str, str]:
        return {
            "SES_TOPIC_ARNS": SNS_TOPIC,
            "POSTMARK_WEBHOOK_USERNAME": POSTMARK_USER,
            "POSTMARK_WEBHOOK_PASSWORD": POSTMARK_PASSWORD,
            "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY,
            "SENDGRID_WEBHOOK_PUBLIC_KEY": self.sendgrid_public,
        }

    def serve_certificate(self, app, pem: bytes | None = None) -> list[str]:
        """Hand the app's SNS certificate fetcher this PEM (no network); returns the URLs asked."""
        fetched: list[str] = []

        def fetch(url: str) -> bytes:
            fetched.append(url)
            return self.sns_pem if pem is None else pem

        app.extensions["tend.sns_certificate"] = fetch
        return fetched
