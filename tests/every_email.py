"""Every kind of email, to every reader state that may receive it, composed in production
mode by the send job's own composer: what the inbox tests (spam score, labels, lines) read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from campaigns import sequence as sequences
from campaigns.compose import Recipient
from campaigns.dkim import DKIMKey, new_key
from campaigns.render import Sender
from campaigns.sequence import CHECKIN, DRIP, RECONFIRM, WORKSHEET, Step, Worksheet
from models import JobStatus, Status
from subscribers.lifecycle import may_receive

NOW = datetime(2027, 4, 5, 14, 0, tzinfo=UTC)
STATES = [
    (status, job_status)
    for status in (Status.PENDING, Status.ACTIVE, Status.UNSUBSCRIBED)
    for job_status in JobStatus.ALL
]
# Who the emails go to, taking turns: a plain name, and a long compound one at an IDN
# domain (its headers are encoded words, and its envelope IDNA).
READERS = [
    ("Ann Lee", "ann@example.com"),
    ("María José O'Connor-Núñez", "maria.jose@münchen.example"),
]


def production_sender(**fields) -> Sender:
    """A sender as production runs it: https links, a postal address, DKIM signing."""
    pem, _ = new_key()
    base = {
        "mail_from": "Dana Whitfield <coach@tend.example>",
        "public_base_url": "https://tend.example",
        "secret_key": "production-secret-key-that-is-long-enough-0123456789",
        "postal_address": "12 Garden Lane, Springfield, IL 62701",
        "coach_name": "Dana Whitfield",
        "list_name": "After the offer",
        "return_path": "bounces@mail.tend.example",
        "dkim": DKIMKey("s1", "tend.example", pem),
    }
    return Sender(**(base | fields))


def every_email() -> Iterator[tuple[str, Recipient, Step | Worksheet]]:
    """(label, recipient, email) for every kind, to every state that may receive it."""
    seq = sequences.load()
    emails = [
        (WORKSHEET, "worksheet", seq.worksheet),
        (RECONFIRM, "worksheet (asked again)", seq.worksheet),
        *((DRIP, f"note {step.key}", step) for step in seq.steps),
        *((CHECKIN, f"check-in {step.key}", step) for step in seq.checkins),
    ]
    n = 0
    for kind, label, email in emails:
        for status, job_status in STATES:
            if not may_receive(kind, status, job_status):
                continue
            name, address = READERS[n % len(READERS)]
            recipient = Recipient(
                name=name,
                address=address,
                public_id=f"{n:016x}",
                status=status,
                message_id=f"<{n:024x}.tend@tend.example>",
                job_status=job_status,
                started_on="2027-03-01" if job_status == JobStatus.STARTED else None,
            )
            n += 1
            yield f"{label} to {status}/{job_status} {name}", recipient, email
