"""What an SMTP reply means for Tend: one pure function, by phase and enhanced status code.

A relay speaks about three different things, and each needs a different reaction:
the reader's mailbox (5.1.x, 5.2.1 at RCPT: that reader bounced, once the relay took
someone else's email after refusing them; the send job holds it until then), the sender
(5.7.x, a refused MAIL FROM, a failed login: every email would be refused alike, so
sending pauses and no reader changes), and the moment (4.x.x, 421: try again later; throttling does not
use up an attempt). A timeout or a dropped connection once the message data went out
means the relay may have the message ("maybe sent"): it is not sent again at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Phase(StrEnum):
    CONNECT = "connect"  # TCP, the greeting, EHLO and STARTTLS
    AUTH = "auth"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"  # the DATA command itself (354 expected)
    AFTER_DATA = "after-data"  # the reply to the final "." once the message went out


class Action(StrEnum):
    """What Tend does about one refused email."""

    BOUNCED = "bounced"  # this recipient's mailbox refused it for good
    FAILED = "failed"  # this email cannot go (content, size, SMTPUTF8); the reader is fine
    RETRY = "retry"  # this email, later, with backoff; counts towards MAX_SEND_ATTEMPTS
    RETRY_BATCH = "retry-batch"  # the connection or relay: this email and the rest wait
    THROTTLED = "throttled"  # the relay asks us to slow down: wait, no attempt used
    PAUSE = "pause"  # about the sender: stop all sending, change no reader
    MAYBE_SENT = "maybe-sent"  # the relay may have it: one later retry, same Message-ID


class Failure(StrEnum):
    """How a connection to the relay failed: all `/healthz` tells of a failing relay."""

    CONNECT = "connect"  # no TCP connection (refused, unreachable, no such host)
    TLS = "tls"  # STARTTLS or the TLS handshake failed
    AUTH = "auth"  # the login was refused
    TIMEOUT = "timeout"  # the relay did not answer in SMTP_TIMEOUT
    REFUSED = "refused"  # the relay answered, and refused us (greeting, sender, policy)


@dataclass(frozen=True)
class Meaning:
    """What one SMTP reply (or its absence) means for the email it answered."""

    action: Action
    reason: str  # for the delivery's last_error and the pause banner
    connection: bool = False  # a refused or failed connection (counted: many in a row pause)
    failure: Failure | None = None  # set when the relay itself failed us (relay health)


_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
_THROTTLE_WORDS = re.compile(r"throttl|rate limit|too many|slow down|try again later", re.I)
_RELAY_WORDS = re.compile(
    r"relay(ing)? (access )?(denied|not permitted)|not permitted to relay", re.I
)


def enhanced_code(text: str) -> tuple[int, int, int] | None:
    """The RFC 3463 status code at the start of a reply's text, e.g. (5, 7, 1)."""
    found = _ENHANCED.match(text or "")
    return (int(found[1]), int(found[2]), int(found[3])) if found else None


_REFUSED = {
    Phase.CONNECT: "connection refused",
    Phase.AUTH: "login refused",
    Phase.MAIL: "sender refused",
    Phase.RCPT: "recipient refused",
    Phase.DATA: "message refused",
    Phase.AFTER_DATA: "message refused",
}


def _reason(code: int | None, text: str) -> str:
    text = " ".join((text or "").split())
    return f"{code} {text}".strip() if code is not None else text


def classify(phase: str, code: int | None, text: str = "") -> Meaning:
    """What the answer `code` (None: a timeout or a dropped connection) with `text` means
    in `phase`. Pure: the table in tests/test_replies.py is its specification."""
    reason = _reason(code, text)
    if code is None:
        if phase == Phase.AFTER_DATA:
            return Meaning(Action.MAYBE_SENT, f"maybe sent: {reason}")
        return Meaning(Action.RETRY_BATCH, reason, connection=phase == Phase.CONNECT)
    status = enhanced_code(text)
    klass = code // 100
    if klass == 2 or (klass == 3 and phase == Phase.DATA):
        raise ValueError(f"{code} is not a refusal in phase {phase}")
    if klass in (3, 4):  # a 3xx where none belongs is as good as "not now"
        return _temporary(phase, code, text, reason)
    # 5xx from here on.
    refused = f"{_REFUSED[phase]}: {reason}"
    if (status and status[1] == 7) or _RELAY_WORDS.search(text or ""):
        return _pause(phase, refused)
    if phase in (Phase.CONNECT, Phase.AUTH, Phase.MAIL):
        return _pause(phase, refused)
    if phase == Phase.RCPT:
        return _recipient(status, reason)
    if status and status[1] == 5:  # a syntax or protocol error is ours, whatever we send
        return _pause(phase, refused)
    return Meaning(Action.FAILED, refused)


def _pause(phase: str, reason: str) -> Meaning:
    """The relay refused us, not a reader: every email would get the same answer."""
    failure = Failure.AUTH if phase == Phase.AUTH else Failure.REFUSED
    return Meaning(Action.PAUSE, reason, connection=phase == Phase.CONNECT, failure=failure)


def _temporary(phase: str, code: int, text: str, reason: str) -> Meaning:
    if code == 421 or _THROTTLE_WORDS.search(text or ""):
        return Meaning(Action.THROTTLED, f"throttled: {reason}")
    if phase in (Phase.RCPT, Phase.DATA, Phase.AFTER_DATA):
        return Meaning(Action.RETRY, reason)
    # The greeting, login or MAIL FROM: every email of the batch would get the same.
    connection = phase == Phase.CONNECT
    failure = Failure.REFUSED if connection else None
    return Meaning(Action.RETRY_BATCH, reason, connection=connection, failure=failure)


def _recipient(status, reason: str) -> Meaning:
    if status is None or status[1] == 1 or status[1:] == (2, 1):
        # A mailbox that does not exist or is disabled (a bare 5xx says the same).
        return Meaning(Action.BOUNCED, reason)
    if status[1] == 2:  # 5.2.2 mailbox full, 5.2.3 too long: not the reader's fault for good
        return Meaning(Action.RETRY if status[2] == 2 else Action.FAILED, reason)
    if status[1] == 5:  # a syntax or protocol error is ours, for every recipient alike
        return _pause(Phase.RCPT, f"recipient refused: {reason}")
    return Meaning(Action.FAILED, f"recipient refused: {reason}")
