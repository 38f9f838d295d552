"""DKIM signing of an outgoing message (dkimpy), and keys for it.

Signed: From, To, Subject, Date, Message-ID, List-Id, List-Unsubscribe,
List-Unsubscribe-Post and Feedback-ID, whichever the message has (RFC 8058 wants both
List-Unsubscribe headers under the signature), relaxed/relaxed, rsa-sha256.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

SIGNED_HEADERS = (
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"List-Id",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
    b"Feedback-ID",
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

        present = _header_names(data)
        headers = [h for h in SIGNED_HEADERS if h.lower() in present]
        signature = dkim.sign(
            data,
            self.selector.encode("ascii"),
            self.domain.encode("ascii"),
            self.private_key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=headers,
        )
        return signature + data


def _header_names(data: bytes) -> set[bytes]:
    head = data.split(b"\r\n\r\n", 1)[0]
    return {
        line.split(b":", 1)[0].strip().lower()
        for line in head.split(b"\r\n")
        if line and line[:1] not in (b" ", b"\t") and b":" in line
    }


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
