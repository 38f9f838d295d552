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
from dataclasses import dataclass
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTPUTF8, compat32
from email.utils import format_datetime, formataddr, quote

from campaigns.render import LIST_NAME, RenderedEmail, Sender

_CONTROL = dict.fromkeys(range(32), " ") | {127: " "}


def header_safe(value: str) -> str:
    """A display name that can never add a header line: control characters become spaces."""
    return " ".join(value.translate(_CONTROL).split())[:100]


@dataclass(frozen=True)
class Outgoing:
    """A message ready for the wire: its bytes and whether it needs SMTPUTF8."""

    data: bytes
    smtputf8: bool


_QP = Charset("utf-8")
_QP.body_encoding = QP  # every line 7-bit, whatever the server's 8BITMIME support
_WIRE = compat32.clone(linesep="\r\n", max_line_length=998)
_WIRE_UTF8 = SMTPUTF8.clone(linesep="\r\n", max_line_length=998)


def _mailbox(name: str, address: str) -> str:
    name = header_safe(name)
    if address.isascii():
        return formataddr((name, address))
    # Internationalized address: goes out under SMTPUTF8, so the header may carry UTF-8.
    display = Header(name, "utf-8").encode() if not name.isascii() else f'"{quote(name)}"'
    return f"{display} <{address}>" if name else address


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
        ("From", sender.mail_from),
        ("To", _mailbox(to_name, to_address)),
        ("Date", format_datetime(date)),
        ("Message-ID", message_id),
        ("List-Id", f"{LIST_NAME} <staying-connected.{sender.domain}>"),
    ]
    if unsubscribe is not None:
        targets = [f"<{unsubscribe}>"]
        if sender.unsubscribe_mailto:
            targets.append(f"<mailto:{sender.unsubscribe_mailto}?subject=unsubscribe>")
        headers.append(("List-Unsubscribe", ", ".join(targets)))
        headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    return headers


def _build_with_email_package(
    email: RenderedEmail, headers: list[tuple[str, str]], international: bool
) -> Outgoing:
    """The general case, built with the stdlib's compat32 MIME classes."""
    msg = MIMEMultipart("alternative")
    for name, value in headers:
        if name == "Subject" and not (value.isascii() or international):
            msg[name] = Header(value, "utf-8")
        else:
            msg[name] = value
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
