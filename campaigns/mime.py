"""The MIME writer: a rendered email and its headers as the bytes that go on the wire.

The email package writes the message: an `EmailMessage` under the SMTP policy, text in
quoted-printable, lines of at most 76 characters (RFC 2045's limit for quoted-printable,
and RFC 2047's for a line holding encoded words), subjects and display names outside
ASCII as encoded words. Written here is only what it does not know: the To domain as
IDNA, List-Id's slug, the headers that are a list of tokens (`List-Unsubscribe` and its
RFC 8058 partner, `Feedback-ID`), which are never encoded and break only between tokens,
and encoded words written by `email.header.Header`, as the 3.11 folder loses a space
between two of them (`encoded_words`).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, parseaddr
from functools import lru_cache

import idna

from campaigns.render import RenderedEmail, Sender

_CONTROL = dict.fromkeys(range(32), " ") | {127: " "}
# RFC 2045: a quoted-printable line is at most 76 characters; RFC 2047: so is a line
# holding an encoded word. Every other header line is then under RFC 5322's 78.
LINE_LENGTH = 76


def header_safe(value: str) -> str:
    """A display name that can never add a header line: control characters become spaces."""
    return " ".join(value.translate(_CONTROL).split())[:100]


class TokenHeader:
    """A header that is a list of ASCII tokens: the links of RFC 2369 (`<https://…>`, in
    which no space may be put), RFC 8058's `List-Unsubscribe=One-Click`, a Feedback-ID,
    and List-Id (its label quoted or already encoded words, its id in angle brackets).

    The email package would make a token too long for a line into encoded words, which no
    program reads in a link. Here a line breaks only between tokens. The first token stays
    beside the name: a signed link is longer than any line by itself, and on a line of its
    own it would be read with a leading space (Python's own parser does so).
    """

    max_count = 1

    @classmethod
    def parse(cls, value: str, kwds: dict) -> None:
        if not value.isascii():
            raise ValueError(f"a header of tokens is ASCII: {value!r}")
        kwds["decoded"] = " ".join(value.split())
        kwds["parse_tree"] = None  # never parsed: folded from the tokens themselves

    def fold(self, *, policy) -> str:
        limit = policy.max_line_length or LINE_LENGTH
        first, *rest = str(self).split() or [""]
        lines = [f"{self.name}: {first}"]
        for token in rest:
            if len(lines[-1]) + 1 + len(token) <= limit:
                lines[-1] += " " + token
            else:
                lines.append(" " + token)
        return policy.linesep.join(lines) + policy.linesep


# The MIME parts' own headers, the same on every email: parsed once and the parsed header
# kept. A parsed header is immutable, so every message may hold the same one.
_REPEATED = frozenset(
    {
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)


class _Registry(HeaderRegistry):
    """The email package's header classes, plus TokenHeader for the list headers.

    Each class is made once per header name (the stdlib makes a new one for every
    header), and a repeated value is parsed once.
    """

    def __init__(self) -> None:
        super().__init__()
        for name in ("List-Id", "List-Unsubscribe", "List-Unsubscribe-Post", "Feedback-ID"):
            self.map_to_type(name, TokenHeader)
        self._classes: dict[str, type] = {}
        self._parsed: dict[tuple[str, str], BaseHeader] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        made = self._classes.get(key)
        if made is None:
            made = self._classes[key] = super().__getitem__(name)
        return made

    def __call__(self, name: str, value) -> BaseHeader:
        if not isinstance(value, str) or name.lower() not in _REPEATED or "boundary" in value:
            return super().__call__(name, value)
        key = (name, value)
        header = self._parsed.get(key)
        if header is None:
            if len(self._parsed) >= 1024:  # bounded: a test send's subject is new each time
                self._parsed.clear()
            header = self._parsed[key] = super().__call__(name, value)
        return header


class _Policy(EmailPolicy):
    """The SMTP policy, writing a header that fits on one line in ASCII as it is (as the
    stdlib does for a header it read), rather than parsing it again to fold it."""

    def fold_binary(self, name: str, value) -> bytes:
        text = str(value)
        if (
            hasattr(value, "name")
            and text.isascii()
            and len(name) + 2 + len(text) <= self.max_line_length
            and "\n" not in text
            and "\r" not in text
        ):
            return f"{name}: {text}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


_REGISTRY = _Registry()
_WIRE = _Policy(linesep="\r\n", max_line_length=LINE_LENGTH, header_factory=_REGISTRY)
# An address outside ASCII goes out under SMTPUTF8: headers are UTF-8 as they are.
_WIRE_UTF8 = _WIRE.clone(utf8=True)


@lru_cache(maxsize=8)  # one per sender: the same on every email, parsed once
def from_header(sender: Sender) -> str:
    """From: the sender's display name (MAIL_FROM's own, else COACH_NAME) and MAIL_FROM's
    address."""
    return mailbox_header("From", sender.from_name, sender.from_address)


@lru_cache(maxsize=8)  # one per sender: the same on every email, parsed once
def reply_to_header(sender: Sender) -> str:
    """Reply-To: REPLY_TO (with its own name, or From's), else MAIL_FROM's address."""
    name, address = parseaddr(sender.reply_to) if sender.reply_to else ("", sender.from_address)
    return mailbox_header("Reply-To", name or sender.from_name, address)


@lru_cache(maxsize=8)
def list_slug(list_name: str) -> str:
    """LIST_NAME's letters and digits, lower case, joined by hyphens: `staying-connected`.

    The id in List-Id and the list in Feedback-ID."""
    folded = unicodedata.normalize("NFKD", list_name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-") or "list"


@lru_cache(maxsize=8)  # one per sender: the same on every email
def list_id_header(sender: Sender) -> str:
    """List-Id (RFC 2919): LIST_NAME as the label, its slug and the domain as the id."""
    return mailbox_header(
        "List-Id", sender.list_name, f"{list_slug(sender.list_name)}.{sender.domain}"
    )


@dataclass(frozen=True)
class Outgoing:
    """A message ready for the wire: its bytes and whether it needs SMTPUTF8."""

    data: bytes
    smtputf8: bool


def ascii_domain(address: str) -> str:
    """An ASCII local part keeps the address ASCII: an IDN domain is written as IDNA
    (`idn@münchen.example` is `idn@xn--mnchen-3ya.example`), so it needs no SMTPUTF8.

    The one rule for both the envelope (`workers.transport.envelope_address`) and the To
    header. A local part outside ASCII (or a domain IDNA refuses) is left as it is: that
    address goes out under SMTPUTF8.
    """
    local, _, domain = address.rpartition("@")
    if local.isascii() and not domain.isascii():
        try:
            return f"{local}@{idna.encode(domain).decode('ascii')}"
        except idna.IDNAError:
            return address
    return address


def encoded_words(header: str, text: str) -> str:
    """`text` as RFC 2047 encoded words, folded so that no line passes 76 characters.

    Written by the email package's older encoder, `email.header.Header`, which keeps each
    space inside a word: its newer folder drops the space between two encoded words
    (CPython gh-144156, fixed after 3.11), so "Phạm Văn Đồng Võ" would read "Phạm Văn
    ĐồngVõ", in a display name and in a Subject alike.
    """
    return Header(text, "utf-8", LINE_LENGTH, header).encode(linesep="\r\n")


def mailbox_header(header: str, name: str, address: str) -> str:
    """`name <address>` for `header` (or `label <id>` for List-Id), the name made safe and
    quoted by the email package;
    a name outside ASCII as encoded words (under SMTPUTF8 too: every reader's program
    shows them), on lines short enough that the email package writes them as they are.
    """
    if "\r" in address or "\n" in address:
        raise ValueError(f"a line break in an address: {address!r}")
    local, at, domain = address.rpartition("@")
    # A List-Id's id has no "@": all of it is the local part.
    mailbox = (
        Address(header_safe(name), local, domain) if at else Address(header_safe(name), address)
    )
    if mailbox.display_name.isascii():
        return str(mailbox)
    words = encoded_words(header, mailbox.display_name)
    # The address goes on the last line if it still fits, else on a line of its own.
    last = words.rpartition("\r\n")[2]
    used = len(last) + (0 if "\r\n" in words else len(header) + 2)
    angle = f"<{mailbox.addr_spec}>"
    return words + (" " if used + 1 + len(angle) <= LINE_LENGTH else "\r\n ") + angle


def _put(msg: EmailMessage, name: str, value: str) -> None:
    """One header. ASCII (or any text, under SMTPUTF8) is kept as source, which the
    generator writes as it is unless a line is too long (then the header's class refolds
    it); text to be encoded is parsed now. A line break in a value (other than a fold
    written here) is refused."""
    if "\r" in value.replace("\r\n ", " ") or "\n" in value.replace("\r\n ", " "):
        raise ValueError(f"a line break in the {name} header: {value!r}")
    if value.isascii() or msg.policy.utf8:
        msg.set_raw(name, value)
    else:
        msg[name] = value


def _boundary() -> str:
    """A multipart boundary no part can hold: quoted-printable never writes "==" (an "="
    is always followed by two hex digits or the line's end), so the generator need not
    search the parts for it. Short enough that the Content-Type line is one line."""
    return f"=={secrets.token_hex(8)}=="


def build_message(
    email: RenderedEmail,
    *,
    to_name: str,
    to_address: str,
    message_id: str,
    sender: Sender,
    unsubscribe: str | None,
    date: datetime,
    feedback_id: str | None = None,
) -> Outgoing:
    """A multipart/alternative message (text, then HTML) with the headers inboxes expect.

    `unsubscribe` is the one-click link for `List-Unsubscribe` (RFC 8058); a transactional
    email passes None and carries neither header. Every value that came from a person is
    sanitized here, and the email package refuses a line break in any header.
    """
    to_address = ascii_domain(to_address)
    international = not to_address.isascii()
    msg = EmailMessage(policy=_WIRE_UTF8 if international else _WIRE)
    subject = header_safe(email.subject)
    if not (subject.isascii() or international):  # under SMTPUTF8 it goes as it is
        subject = encoded_words("Subject", subject)
    headers = [
        ("Subject", subject),
        ("From", from_header(sender)),
        ("Reply-To", reply_to_header(sender)),
        ("To", mailbox_header("To", to_name, to_address)),
        ("Date", format_datetime(date)),
        ("Message-ID", message_id),
        ("List-Id", list_id_header(sender)),
    ]
    if unsubscribe is not None:
        # Only the one-click link: a mailto: target would need a mailbox someone reads.
        headers.append(("List-Unsubscribe", f"<{unsubscribe}>"))
        if unsubscribe.startswith("https://"):  # RFC 8058: one-click is for https alone
            headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    if feedback_id:
        headers.append(("Feedback-ID", feedback_id))
    for name, value in headers:
        _put(msg, name, value)
    msg.set_content(email.text, cte="quoted-printable")
    msg.add_alternative(email.html, subtype="html", cte="quoted-printable")
    msg.set_boundary(_boundary())
    data = msg.as_bytes()
    # DKIM goes last: the signature covers the headers and body exactly as written.
    if sender.dkim is not None:
        data = sender.dkim.sign(data)
    return Outgoing(data, international)
