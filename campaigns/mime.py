"""The MIME writer: a rendered email and its headers as the bytes that go on the wire.

The common case (ASCII headers that need no folding) is written directly, with a
quoted-printable encoder of its own; both give byte for byte what the stdlib's compat32
generator gives, which `tests/test_mime.py` checks. Anything else goes through the email
package.
"""

from __future__ import annotations

import random
import re
import sys
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTPUTF8, compat32
from email.utils import format_datetime, formataddr, parseaddr, quote
from functools import lru_cache

import idna

from campaigns.render import RenderedEmail, Sender

_CONTROL = dict.fromkeys(range(32), " ") | {127: " "}


def header_safe(value: str) -> str:
    """A display name that can never add a header line: control characters become spaces."""
    return " ".join(value.translate(_CONTROL).split())[:100]


@lru_cache(maxsize=8)  # one per sender: the same on every email
def from_header(sender: Sender) -> str:
    """From: the sender's display name (MAIL_FROM's own, else COACH_NAME) and MAIL_FROM's
    address; a name that is not ASCII becomes RFC 2047 words when the header is folded."""
    return _mailbox(sender.from_name, sender.from_address)


@lru_cache(maxsize=8)  # one per sender: the same on every email
def reply_to_header(sender: Sender) -> str:
    """Reply-To: REPLY_TO (with its own name, or From's), else MAIL_FROM's address."""
    name, address = parseaddr(sender.reply_to) if sender.reply_to else ("", sender.from_address)
    return _mailbox(name or sender.from_name, address)


@lru_cache(maxsize=8)  # one per sender: the same on every email
def list_id_header(sender: Sender) -> str:
    """List-Id (RFC 2919): LIST_NAME as the label, its letters and digits in the id."""
    folded = unicodedata.normalize("NFKD", sender.list_name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-") or "list"
    return _mailbox(sender.list_name, f"{slug}.{sender.domain}")


@dataclass(frozen=True)
class Outgoing:
    """A message ready for the wire: its bytes and whether it needs SMTPUTF8."""

    data: bytes
    smtputf8: bool


_QP = Charset("utf-8")
_QP.body_encoding = QP  # every line 7-bit, whatever the server's 8BITMIME support
_WIRE = compat32.clone(linesep="\r\n", max_line_length=998)
_WIRE_UTF8 = SMTPUTF8.clone(linesep="\r\n", max_line_length=998)


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


def _mailbox(name: str, address: str) -> str:
    name = header_safe(name)
    if address.isascii():
        if name.isascii():
            return formataddr((name, address))
        # Kept as text here: fold_header encodes it, in words short enough, when written.
        return f'"{quote(name)}" <{address}>'
    # Internationalized address: goes out under SMTPUTF8; the name is encoded all the same
    # (readers' programs show it either way), in words of at most 75 characters.
    if not name:
        return address
    return _phrase_encoded("To", name, address)


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
    sanitized here. The common case (ASCII headers that need no folding) is written
    directly, byte for byte what the stdlib's compat32 generator writes for it, at a
    fraction of the cost; anything else goes through the email package.
    """
    to_address = ascii_domain(to_address)
    headers = _headers(email.subject, to_name, to_address, message_id, sender, unsubscribe, date)
    if feedback_id:
        headers.append(("Feedback-ID", feedback_id))
    international = not to_address.isascii()
    if not international and all(_plain_header(name, value) for name, value in headers):
        return _signed(Outgoing(_assemble(headers, email.text, email.html), False), sender)
    return _signed(_build_with_email_package(email, headers, international), sender)


def _signed(message: Outgoing, sender: Sender) -> Outgoing:
    # DKIM goes last: the signature covers the headers and body exactly as written.
    if sender.dkim is None:
        return message
    return Outgoing(sender.dkim.sign(message.data), message.smtputf8)


def _headers(
    subject: str,
    to_name: str,
    to_address: str,
    message_id: str,
    sender: Sender,
    unsubscribe: str | None,
    date: datetime,
) -> list[tuple[str, str]]:
    headers = [
        ("Subject", header_safe(subject)),
        ("From", from_header(sender)),
        ("Reply-To", reply_to_header(sender)),
        ("To", _mailbox(to_name, to_address)),
        ("Date", format_datetime(date)),
        ("Message-ID", message_id),
        ("List-Id", list_id_header(sender)),
    ]
    if unsubscribe is not None:
        # Only the one-click link: a mailto: target would need a mailbox someone reads.
        headers.append(("List-Unsubscribe", f"<{unsubscribe}>"))
        if unsubscribe.startswith("https://"):  # RFC 8058: one-click is for https alone
            headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    return headers


# RFC 2047: an encoded word is at most 75 characters, and a line holding one at most 76.
_ENCODED_LINE = 76
# Headers whose value is "display name <address>": only the name is encoded.
_PHRASE_HEADERS = frozenset({"From", "To", "Cc", "Reply-To", "Sender", "List-Id"})
# Headers of free text, encoded whole. Others (links, ids) are never made encoded words.
_TEXT_HEADERS = frozenset({"Subject", "Comments", "Keywords"})


def _encoded_words(text: str, name: str) -> str:
    """`text` as RFC 2047 encoded words, folded so that no line passes 76 characters."""
    header = Header(text, "utf-8", maxlinelen=_ENCODED_LINE, header_name=name)
    return header.encode(linesep="\r\n")


def _phrase_and_address(value: str) -> tuple[str, str] | None:
    """`display name <address>` as its two parts, the name unquoted; None for other shapes.

    Every such header Tend writes names one mailbox, so a comma in the name is the name's.
    """
    display, bracket, rest = value.rpartition("<")
    if not bracket or not rest.endswith(">"):
        return None
    display = display.strip()
    if len(display) >= 2 and display[0] == display[-1] == '"':
        display = re.sub(r"\\(.)", r"\1", display[1:-1])
    return display, rest[:-1]


def _phrase_encoded(name: str, display: str, address: str) -> str:
    """`display <address>` with the display name as encoded words if it needs them."""
    if display.isascii():
        return f'"{quote(display)}" <{address}>' if display else address
    words = _encoded_words(display, name).split("\r\n")
    # The address goes on the last line if it still fits, else on a line of its own.
    last = len(words[-1]) + (len(name) + 2 if len(words) == 1 else 0)
    join = " " if last + 3 + len(address) <= _ENCODED_LINE else "\r\n "
    return "\r\n".join(words) + f"{join}<{address}>"


def fold_header(name: str, value: str) -> str:
    """A header value as it goes on the wire without SMTPUTF8.

    ASCII is left as it is. Text outside ASCII becomes RFC 2047 encoded words, none over
    75 characters, on lines of at most 76: the Subject whole, and in an address header (and
    List-Id) the display name alone, never the address.
    """
    if value.isascii():
        return value
    if name in _PHRASE_HEADERS:
        parts = _phrase_and_address(value)
        if parts is not None and parts[1].isascii():
            return _phrase_encoded(name, *parts)
    if name in _TEXT_HEADERS or name in _PHRASE_HEADERS:
        return _encoded_words(value, name)
    return value


def _build_with_email_package(
    email: RenderedEmail, headers: list[tuple[str, str]], international: bool
) -> Outgoing:
    """The general case, built with the stdlib's compat32 MIME classes."""
    msg = MIMEMultipart("alternative")
    for name, value in headers:
        # compat32 would fold a non-ASCII value into one encoded word as long as the line
        # limit (998), so it gets the value already folded; SMTPUTF8 carries UTF-8 as it is.
        msg[name] = value if international else fold_header(name, value)
    msg.attach(MIMEText(email.text, "plain", _QP))
    msg.attach(MIMEText(email.html, "html", _QP))
    return Outgoing(msg.as_bytes(policy=_WIRE_UTF8 if international else _WIRE), international)


_LINE_MAX = 998
_BOUNDARY_WIDTH = len(repr(sys.maxsize - 1))


def _plain_header(name: str, value: str) -> bool:
    """ASCII, one line, short enough that compat32 writes it unchanged."""
    return (
        value.isascii()
        and "\r" not in value
        and "\n" not in value
        and len(name) + 2 + len(value) <= _LINE_MAX
        and value == value.strip()
    )


# What email.quoprimime leaves as it is in a body, "=" aside; every other byte becomes =XX.
_QP_UNSAFE = re.compile(r"[^\t\n\r -~]")


def _qp_escape(match: re.Match) -> str:
    return f"={ord(match.group()):02X}"


def _quoted_printable(text: str, maxlinelen: int = 76) -> str:
    """email.quoprimime.body_encode of the UTF-8 text, same output, escaping by regex.

    The stdlib maps every character through a 256-entry table; most of an email needs
    no escaping, so finding the few that do is several times faster.
    """
    body = text.encode("utf-8").decode("latin-1")
    if not body:
        return body
    # "=" is by far the most common byte to escape (HTML attributes): replaced first, in C.
    body = _QP_UNSAFE.sub(_qp_escape, body.replace("=", "=3D"))
    maxlinelen1 = maxlinelen - 1
    encoded: list[str] = []
    append = encoded.append
    for line in body.splitlines():
        start = 0
        laststart = len(line) - 1 - maxlinelen
        while start <= laststart:
            stop = start + maxlinelen1
            # Never split an escape sequence.
            if line[stop - 2] == "=":
                append(line[start : stop - 1])
                start = stop - 2
            elif line[stop - 1] == "=":
                append(line[start:stop])
                start = stop - 1
            else:
                append(line[start:stop] + "=")
                start = stop
        if line and line[-1] in " \t":
            # Whitespace at the end of a line is escaped, with a soft break if needed.
            room = start - laststart
            if room >= 3:
                tail = f"={ord(line[-1]):02X}"
            elif room == 2:
                tail = line[-1] + "=\n"
            else:
                tail = f"=\n={ord(line[-1]):02X}"
            append(line[start:-1] + tail)
        else:
            append(line[start:])
    if body[-1] in "\r\n":
        append("")
    return "\n".join(encoded)


def _qp_part(subtype: str, body: str) -> str:
    # What MIMEText(body, subtype, utf-8 + quoted-printable) flattens to under compat32.
    payload = _quoted_printable(body).replace("\n", "\r\n")
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "MIME-Version: 1.0\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "\r\n" + payload
    )


def _assemble(headers: list[tuple[str, str]], text: str, html: str) -> bytes:
    # The generator's boundary; quoted-printable never contains "==", so it cannot clash.
    token = random.randrange(sys.maxsize)
    boundary = "=" * 15 + f"{token:0{_BOUNDARY_WIDTH}d}" + "=="
    lines = [
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "MIME-Version: 1.0",
        *(f"{name}: {value}" for name, value in headers),
    ]
    out = (
        "\r\n".join(lines)
        + "\r\n\r\n"
        + f"--{boundary}\r\n"
        + _qp_part("plain", text)
        + f"\r\n--{boundary}\r\n"
        + _qp_part("html", html)
        + f"\r\n--{boundary}--\r\n"
    )
    return out.encode("ascii")
