"""What an SMTP answer means for Tend: one pure function, by phase and enhanced status code.

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


class Phase:
    CONNECT = "connect"  # TCP, the greeting, EHLO and STARTTLS
    AUTH = "auth"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"  # the DATA command itself (354 expected)
    AFTER_DATA = "after-data"  # the reply to the final "." once the message went out


class Outcome:
    BOUNCED = "bounced"  # this recipient's mailbox refused it for good
    FAILED = "failed"  # this email cannot go (content, size, SMTPUTF8); the reader is fine
    RETRY = "retry"  # this email, later, with backoff; counts towards MAX_SEND_ATTEMPTS
    RETRY_BATCH = "retry-batch"  # the connection or relay: this email and the rest wait
    THROTTLED = "throttled"  # the relay asks us to slow down: wait, no attempt used
    PAUSE = "pause"  # about the sender: stop all sending, change no reader
    MAYBE_SENT = "maybe-sent"  # the relay may have it: one later retry, same Message-ID


@dataclass(frozen=True)
class Verdict:
    outcome: str
    reason: str  # for the delivery's last_error and the pause banner
    connection: bool = False  # a refused or failed connection (counted: many in a row pause)


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


def classify(phase: str, code: int | None, text: str = "") -> Verdict:
    """What the answer `code` (None: a timeout or a dropped connection) with `text` means
    in `phase`. Pure: the table in tests/test_answers.py is its specification."""
    reason = _reason(code, text)
    if code is None:
        if phase == Phase.AFTER_DATA:
            return Verdict(Outcome.MAYBE_SENT, f"maybe sent: {reason}")
        return Verdict(Outcome.RETRY_BATCH, reason, connection=phase == Phase.CONNECT)
    status = enhanced_code(text)
    klass = code // 100
    if klass == 2 or (klass == 3 and phase == Phase.DATA):
        raise ValueError(f"{code} is not a refusal in phase {phase}")
    if klass in (3, 4):  # a 3xx where none belongs is as good as "not now"
        return _temporary(phase, code, text, reason)
    # 5xx from here on.
    refused = f"{_REFUSED[phase]}: {reason}"
    if (status and status[1] == 7) or _RELAY_WORDS.search(text or ""):
        return Verdict(Outcome.PAUSE, refused, connection=phase == Phase.CONNECT)
    if phase in (Phase.CONNECT, Phase.AUTH, Phase.MAIL):
        return Verdict(Outcome.PAUSE, refused, connection=phase == Phase.CONNECT)
    if phase == Phase.RCPT:
        return _recipient(status, reason)
    if status and status[1] == 5:  # a syntax or protocol error is ours, whatever we send
        return Verdict(Outcome.PAUSE, refused)
    return Verdict(Outcome.FAILED, refused)


def _temporary(phase: str, code: int, text: str, reason: str) -> Verdict:
    if code == 421 or _THROTTLE_WORDS.search(text or ""):
        return Verdict(Outcome.THROTTLED, f"throttled: {reason}")
    if phase in (Phase.RCPT, Phase.DATA, Phase.AFTER_DATA):
        return Verdict(Outcome.RETRY, reason)
    # The greeting, login or MAIL FROM: every email of the batch would get the same.
    return Verdict(Outcome.RETRY_BATCH, reason, connection=phase == Phase.CONNECT)


def _recipient(status, reason: str) -> Verdict:
    if status is None or status[1] == 1 or status[1:] == (2, 1):
        # A mailbox that does not exist or is disabled (a bare 5xx says the same).
        return Verdict(Outcome.BOUNCED, reason)
    if status[1] == 2:  # 5.2.2 mailbox full, 5.2.3 too long: not the reader's fault for good
        return Verdict(Outcome.RETRY if status[2] == 2 else Outcome.FAILED, reason)
    if status[1] == 5:  # a syntax or protocol error is ours, for every recipient alike
        return Verdict(Outcome.PAUSE, f"recipient refused: {reason}")
    return Verdict(Outcome.FAILED, f"recipient refused: {reason}")
