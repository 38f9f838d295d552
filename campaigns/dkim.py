"""DKIM signing of an outgoing message (dkimpy), and keys for it.

Signed (relaxed/relaxed, rsa-sha256): From, To, Subject, Date, Message-ID, Reply-To,
Content-Type, MIME-Version, List-Id, List-Unsubscribe, List-Unsubscribe-Post and
Feedback-ID (RFC 8058 wants both List-Unsubscribe headers under the signature).

Oversigned: what a forger would add or change to turn a real message into theirs (who it
is from, to, about, when, where replies and unsubscribes go) is listed once more than it
appears, so a second one, even of a header the message lacks (a List-Unsubscribe on a
confirmation request), breaks the signature (RFC 6376 8.15).
"""

from __future__ import annotations

import base64
from collections import Counter
from dataclasses import dataclass

SIGNED_HEADERS = (
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"Reply-To",
    b"Content-Type",
    b"MIME-Version",
    b"List-Id",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
    b"Feedback-ID",
)
OVERSIGNED = frozenset(
    {
        b"from",
        b"to",
        b"subject",
        b"date",
        b"reply-to",
        b"list-unsubscribe",
        b"list-unsubscribe-post",
    }
)


@dataclass(frozen=True)
class DKIMKey:
    """Who signs: the selector, the signing domain (d=) and the PEM private key."""

    selector: str
    domain: str
    private_key: bytes

    def sign(self, data: bytes) -> bytes:
        """The message with its DKIM-Signature header first."""
        import dkim  # loaded on first use: a process that never signs skips ~10 MB

        signature = dkim.sign(
            data,
            self.selector.encode("ascii"),
            self.domain.encode("ascii"),
            self.private_key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=signed_headers(data),
        )
        return signature + data


def signed_headers(data: bytes) -> list[bytes]:
    """The h= list for `data`: each signed header as often as it appears, and each
    oversigned one once more (once, where the message has none)."""
    present = _header_counts(data)
    names = []
    for name in SIGNED_HEADERS:
        count = present[name.lower()] + (name.lower() in OVERSIGNED)
        names.extend([name] * count)
    return names


def _header_counts(data: bytes) -> Counter[bytes]:
    head = data.split(b"\r\n\r\n", 1)[0]
    return Counter(
        line.split(b":", 1)[0].strip().lower()
        for line in head.split(b"\r\n")
        if line and line[:1] not in (b" ", b"\t") and b":" in line
    )


def new_key(bits: int = 2048) -> tuple[bytes, str]:
    """A fresh RSA key as PEM, and the p= value of its DNS record (the public half)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, base64.b64encode(public).decode("ascii")


def public_half(pem: bytes) -> str:
    """The p= value (base64 DER of the public key) of a PEM private key; ValueError if
    the PEM is not an RSA private key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA key")
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(public).decode("ascii")


def txt_value(public_b64: str) -> str:
    """The TXT record's value as one string, as a DNS provider's web form wants it."""
    return f"v=DKIM1; k=rsa; p={public_b64}"


def txt_record(selector: str, domain: str, public_b64: str) -> str:
    """The DNS TXT record that publishes the key (split in 255-byte strings for DNS)."""
    value = txt_value(public_b64)
    chunks = " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
    return f"{selector}._domainkey.{domain}. IN TXT ( {chunks} )"
