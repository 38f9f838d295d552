"""Every email of the sequence as a sample subscriber would get it, and test sends.

Nothing here renders on its own: each preview is made by `campaigns.compose`, the send
job's own composer, so what the operator sees is byte for byte what a subscriber gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy

from flask import current_app

from campaigns.compose import Recipient, email_for
from campaigns.compose import compose as compose_message
from campaigns.mime import Outgoing
from campaigns.render import RenderedEmail, Sender
from campaigns.schedule import DRIP, WORKSHEET, new_message_id
from campaigns.sequence import Sequence
from models import Status
from workers.transport import envelope_address, open_transport

SAMPLE_NAME = "Sam Rivera"
SAMPLE_EMAIL = "sam.rivera@example.com"
SAMPLE_ID = "preview-sample"


@dataclass(frozen=True)
class Preview:
    key: str
    label: str
    kind: str
    step: str
    pending: bool = False


def catalogue(sequence: Sequence) -> list[Preview]:
    """The worksheet email in both variants, then each drip step in order."""
    return [
        Preview(
            "worksheet-confirm",
            "Worksheet email (double opt-in: confirm link)",
            WORKSHEET,
            WORKSHEET,
            True,
        ),
        Preview(
            "worksheet-direct", "Worksheet email (direct: download link)", WORKSHEET, WORKSHEET
        ),
        *(
            Preview(s.key, f"{s.offset_text} after anchor: {s.subject}", DRIP, s.key)
            for s in sequence.steps
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
) -> Outgoing | None:
    """The message the send job would build for this email and subscriber."""
    email = email_for(current_app.extensions["tend.sequence"], preview.kind, preview.step)
    if email is None:
        return None
    sender = Sender.current()
    recipient = Recipient(
        name=name,
        address=address,
        public_id=public_id,
        status=Status.PENDING if preview.pending else Status.ACTIVE,
        message_id=new_message_id(sender.domain),
    )
    return compose_message(recipient, email, sender, now, subject_prefix=subject_prefix)


def parts(outgoing: Outgoing) -> RenderedEmail:
    """Subject, text and HTML read back from a built message."""
    message = message_from_bytes(outgoing.data, policy=policy.default)
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(("html",)).get_content().replace("\r\n", "\n")
    return RenderedEmail(subject=str(message["Subject"]), text=text, html=html)


def sample(preview: Preview, *, now: datetime) -> RenderedEmail | None:
    """The email as the sample subscriber would get it."""
    outgoing = compose(
        preview, name=SAMPLE_NAME, address=SAMPLE_EMAIL, public_id=SAMPLE_ID, now=now
    )
    return parts(outgoing) if outgoing else None


def send_test(preview: Preview, address: str, *, now: datetime) -> None:
    """Send the sample email, subject marked [Test], to `address` through the configured transport.

    Raises the transport's failures (TemporaryFailure, PermanentFailure, Undeliverable).
    """
    outgoing = compose(
        preview,
        name=SAMPLE_NAME,
        address=address,
        public_id=SAMPLE_ID,
        now=now,
        subject_prefix="[Test] ",
    )
    if outgoing is None:
        raise LookupError(f"no email {preview.key!r}")
    sender = Sender.current()
    with open_transport(current_app.config, current_app.instance_path) as transport:
        transport.deliver(outgoing, sender.envelope_from, envelope_address(address))
