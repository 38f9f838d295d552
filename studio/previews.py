"""Every email as a sample reader in each state would get it, and test sends.

Nothing here renders on its own: each preview is made by `campaigns.compose`, the send
job's own composer, so what the operator sees is byte for byte what a subscriber gets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email import message_from_bytes, policy

from flask import current_app

from campaigns.compose import Recipient, email_for
from campaigns.compose import compose as compose_message
from campaigns.content.emails import sequence as current_sequence
from campaigns.mime import Outgoing, ascii_domain, mailbox_header
from campaigns.render import RenderedEmail, Sender
from campaigns.schedule import CHECKIN, DRIP, WORKSHEET, new_message_id
from campaigns.sequence import Sequence
from models import JobStatus, Status
from subscribers.lifecycle import may_receive
from workers.transport import envelope_address, open_transport

SAMPLE_NAME = "Sam Rivera"
SAMPLE_EMAIL = "sam.rivera@example.com"
SAMPLE_ID = "preview-sample"


@dataclass(frozen=True)
class ReaderState:
    """A reader as an email may find them: what they told us of their job decides its words."""

    key: str
    label: str
    status: str
    job_status: str


# Every state a reader can be in when an email reaches them, in the order a reader moves.
STATES = (
    ReaderState("pending", "has not confirmed yet", Status.PENDING, JobStatus.UNKNOWN),
    ReaderState("unknown", "has not said whether they started", Status.ACTIVE, JobStatus.UNKNOWN),
    ReaderState("looking", "is still looking", Status.ACTIVE, JobStatus.LOOKING),
    ReaderState("not_changing", "is not changing jobs", Status.ACTIVE, JobStatus.NOT_CHANGING),
    ReaderState("started", "gave a start date", Status.ACTIVE, JobStatus.STARTED),
)


@dataclass(frozen=True)
class Preview:
    key: str
    label: str
    kind: str
    step: str
    pending: bool = False

    @property
    def states(self) -> tuple[ReaderState, ...]:
        """The reader states this email can reach, as the send job's re-check allows."""
        return tuple(
            s
            for s in STATES
            if may_receive(self.kind, s.status, s.job_status)
            and (s.status == Status.PENDING) == self.pending
        )

    def state(self, key: str | None) -> ReaderState | None:
        """The state asked for (the first this email can reach when none is); None if it
        can never reach a reader in that state."""
        return next((s for s in self.states if key in (None, s.key)), None)


def catalogue(sequence: Sequence) -> list[Preview]:
    """The request to confirm, the worksheet email, each after-hire step, each check-in;
    keyed as the admin API keys them."""
    return [
        Preview(
            "confirm",
            f"Request to confirm: {sequence.worksheet.confirm_subject}",
            WORKSHEET,
            WORKSHEET,
            True,
        ),
        Preview(
            "worksheet", f"Worksheet email: {sequence.worksheet.subject}", WORKSHEET, WORKSHEET
        ),
        *(
            Preview(s.key, f"{s.offset_text} after the start date: {s.subject}", DRIP, s.key)
            for s in sequence.steps
        ),
        *(
            Preview(
                s.key, f"Check-in, {s.offset_text} after confirming: {s.subject}", CHECKIN, s.key
            )
            for s in sequence.checkins
        ),
    ]


def find(sequence: Sequence, key: str) -> Preview | None:
    return next((p for p in catalogue(sequence) if p.key == key), None)


def compose(
    preview: Preview,
    *,
    name: str,
    address: str,
    public_id: str,
    now: datetime,
    subject_prefix: str = "",
    state: ReaderState | None = None,
    sequence: Sequence | None = None,
    sender: Sender | None = None,
) -> Outgoing | None:
    """The message the send job would build for this email and a subscriber in `state`
    (the first state the email can reach when none is given), from `sequence` (the
    app's as published, unless an unsaved one is given), from `sender` (the app's)."""
    sequence = sequence or current_sequence()
    email = email_for(sequence, preview.kind, preview.step)
    state = state or preview.state(None)
    if email is None or state is None:
        return None
    sender = sender or Sender.current()
    started = state.job_status == JobStatus.STARTED
    recipient = Recipient(
        name=name,
        address=address,
        public_id=public_id,
        status=state.status,
        message_id=new_message_id(sender.domain),
        job_status=state.job_status,
        # A sample start date: about a month ago, as month-1 finds its reader.
        started_on=(now - timedelta(days=30)).date().isoformat() if started else None,
    )
    return compose_message(
        recipient, email, sender, now, subject_prefix=subject_prefix, sequence=sequence
    )


def parts(outgoing: Outgoing) -> RenderedEmail:
    """Subject, text and HTML read back from a built message."""
    message = message_from_bytes(outgoing.data, policy=policy.default)
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(("html",)).get_content().replace("\r\n", "\n")
    return RenderedEmail(subject=str(message["Subject"]), text=text, html=html)


def sample(
    preview: Preview,
    *,
    now: datetime,
    state: ReaderState | None = None,
    sequence: Sequence | None = None,
) -> RenderedEmail | None:
    """The email as the sample subscriber in `state` would get it."""
    outgoing = compose(
        preview,
        name=SAMPLE_NAME,
        address=SAMPLE_EMAIL,
        public_id=SAMPLE_ID,
        now=now,
        state=state,
        sequence=sequence,
    )
    return parts(outgoing) if outgoing else None


def send_test(
    preview: Preview,
    address: str,
    *,
    now: datetime,
    state: ReaderState | None = None,
    sequence: Sequence | None = None,
) -> None:
    """Send the sample email, subject marked [Test], to `address` through the configured
    transport. Its words greet the sample reader, but To is the bare address: the sample
    reader's name on the coach's address would look like a message sent to someone else.

    Raises the transport's failures (TemporaryFailure, PermanentFailure, Undeliverable).
    """
    sender = Sender.current()
    outgoing = compose(
        preview,
        name=SAMPLE_NAME,
        address=address,
        public_id=SAMPLE_ID,
        now=now,
        subject_prefix="[Test] ",
        state=state,
        sequence=sequence,
        sender=replace(sender, dkim=None),  # signed below, once To is the bare address
    )
    if outgoing is None:
        raise LookupError(f"no email {preview.key!r}")
    outgoing = replace(outgoing, data=_addressed(outgoing.data, address))
    if sender.dkim is not None:
        outgoing = replace(outgoing, data=sender.dkim.sign(outgoing.data))
    with open_transport(current_app.config, current_app.instance_path) as transport:
        transport.deliver(outgoing, sender.envelope_from, envelope_address(address))


_TO = re.compile(rb"^To:.*?\r\n(?![ \t])", re.MULTILINE | re.DOTALL)


def _addressed(data: bytes, address: str) -> bytes:
    """The message with its To header (folded or not) the bare `address`."""
    head, blank, body = data.partition(b"\r\n\r\n")
    bare = f"To: {mailbox_header('To', '', ascii_domain(address))}\r\n".encode()
    return _TO.sub(lambda _: bare, head + b"\r\n", count=1)[:-2] + blank + body
