"""DKIM covers what a forger would change: every email, as it arrives over SMTP on
loopback, verifies untouched with dkimpy, and fails once Reply-To is rewritten or a second
Subject or List-Unsubscribe is put above the signed ones."""

from __future__ import annotations

import re
import smtplib
from datetime import UTC, datetime

import dkim
import pytest

from campaigns import sequence as sequences
from campaigns.compose import Recipient, compose
from campaigns.dkim import DKIMKey, new_key, signed_headers, txt_record
from campaigns.render import Sender
from models import JobStatus, Status

NOW = datetime(2027, 4, 5, 14, 0, tzinfo=UTC)
SELECTOR, DOMAIN = "s1", "tend.example"


@pytest.fixture(scope="module")
def keyed():
    """A fresh key, the sender that signs with it, and a resolver that knows its record."""
    pem, public = new_key()
    record = txt_record(SELECTOR, DOMAIN, public)
    name = record.split()[0].encode()
    value = "".join(re.findall(r'"([^"]*)"', record)).encode()

    def lookup(query, timeout=5):
        return value if query == name else None

    sender = Sender(
        mail_from="Dana Whitfield <coach@tend.example>",
        public_base_url="https://tend.example",
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        postal_address="12 Garden Lane, Springfield, IL 62701",
        dkim=DKIMKey(SELECTOR, DOMAIN, pem),
    )
    return sender, lookup


def _received(smtp, data: bytes) -> bytes:
    """`data` sent over SMTP to the sink on loopback, as the sink got it."""
    with smtplib.SMTP("127.0.0.1", smtp.port) as client:
        client.sendmail("coach@tend.example", ["ann@example.com"], data)
    return smtp.received[-1].data


def _emails(sender):
    """The confirmation request (no List-Unsubscribe) and a month-1 note (list mail)."""
    seq = sequences.load()
    pending = Recipient("Ann Lee", "ann@example.com", "0123456789abcdef", Status.PENDING, "<a@t>")
    started = Recipient(
        "Ann Lee",
        "ann@example.com",
        "0123456789abcdef",
        Status.ACTIVE,
        "<b@t>",
        job_status=JobStatus.STARTED,
        started_on="2027-03-01",
    )
    return {
        "confirmation request": compose(pending, seq.worksheet, sender, NOW).data,
        "month-1 note": compose(started, seq.step("month-1"), sender, NOW).data,
    }


def _h(data: bytes) -> list[str]:
    """The h= tag of the message's DKIM-Signature, in order, lower case."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    unfolded = re.sub(r"\r\n[ \t]+", " ", head)
    signature = re.search(r"^DKIM-Signature:(.*)$", unfolded, re.MULTILINE)[1]
    tag = re.search(r"\bh=([^;]+)", signature)[1]
    return [name.strip().lower() for name in tag.split(":")]


def test_every_email_verifies_untouched_and_oversigns_what_a_forger_would_add(keyed, smtp):
    sender, lookup = keyed
    for kind, data in _emails(sender).items():
        arrived = _received(smtp, data)
        assert dkim.verify(arrived, dnsfunc=lookup), kind
        h = _h(arrived)
        print(kind, "h=" + ":".join(h))
        for name in ("from", "to", "subject", "date", "reply-to"):
            assert h.count(name) == 2, (kind, name)  # once as written, once more
        for name in ("message-id", "content-type", "mime-version", "list-id", "feedback-id"):
            assert h.count(name) == 1, (kind, name)
        # The confirmation request has neither list header, and still lists each once.
        for name in ("list-unsubscribe", "list-unsubscribe-post"):
            assert h.count(name) == (1 if kind == "confirmation request" else 2), (kind, name)


def _forged(data: bytes, kind: str) -> bytes:
    head, body = data.split(b"\r\n\r\n", 1)
    if kind == "a rewritten Reply-To":
        head, count = re.subn(
            rb"^Reply-To:.*$", b"Reply-To: Dana <dana@attacker.example>", head, flags=re.M
        )
        assert count == 1
    elif kind == "a second List-Unsubscribe above":
        head = b"List-Unsubscribe: <https://evil.example/x>\r\n" + head
    elif kind == "a second Subject above":
        head = b"Subject: Your account is locked\r\n" + head
    return head + b"\r\n\r\n" + body


@pytest.mark.parametrize(
    "forgery", ["a rewritten Reply-To", "a second List-Unsubscribe above", "a second Subject above"]
)
def test_a_forged_header_fails_verification(keyed, smtp, forgery):
    sender, lookup = keyed
    for kind, data in _emails(sender).items():
        arrived = _received(smtp, data)
        assert dkim.verify(arrived, dnsfunc=lookup), kind
        assert not dkim.verify(_forged(arrived, forgery), dnsfunc=lookup), (kind, forgery)


def test_the_header_list_counts_each_header_and_one_more_for_the_oversigned():
    data = (
        b"From: a@b\r\nTo: c@d\r\nTo: e@f\r\nSubject: s\r\nContent-Type: text/plain\r\n"
        b"X-Other: o\r\n\r\nbody\r\n"
    )
    assert signed_headers(data) == [
        b"From",
        b"From",
        b"To",
        b"To",
        b"To",
        b"Subject",
        b"Subject",
        b"Date",
        b"Reply-To",
        b"Content-Type",
        b"List-Unsubscribe",
        b"List-Unsubscribe-Post",
    ]
