"""Every email of the sequence as a sample subscriber would get it, and test sends.

Nothing here renders on its own: each preview is composed by the send job's own
function (`workers.jobs`), which renders with `campaigns.render` and builds the message,
so what the operator sees is byte for byte what a subscriber gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from types import SimpleNamespace

from campaigns import render as rendering
from campaigns.mime import Outgoing, build_message
from campaigns.schedule import DRIP, WORKSHEET, new_message_id
from campaigns.sequence import Sequence
from models import Status
from workers import jobs

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
    preview: Preview, *, name: str, address: str, public_id: str, now: datetime
) -> Outgoing | None:
    """The message the send job would build for this email and subscriber."""
    row = SimpleNamespace(
        kind=preview.kind,
        step=preview.step,
        name=name,
        email=address,
        public_id=public_id,
        message_id=new_message_id(rendering.Sender.current().domain),
        sub_status=Status.PENDING if preview.pending else Status.ACTIVE,
    )
    return jobs.compose(row, rendering.Sender.current(), now)


def parts(outgoing: Outgoing) -> rendering.RenderedEmail:
    """Subject, text and HTML read back from a built message."""
    message = message_from_bytes(outgoing.data, policy=policy.default)
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(("html",)).get_content().replace("\r\n", "\n")
    return rendering.RenderedEmail(subject=str(message["Subject"]), text=text, html=html)


def sample(preview: Preview, *, now: datetime) -> rendering.RenderedEmail | None:
    """The email as the sample subscriber would get it."""
    outgoing = compose(
        preview, name=SAMPLE_NAME, address=SAMPLE_EMAIL, public_id=SAMPLE_ID, now=now
    )
    return parts(outgoing) if outgoing else None


def send_test(preview: Preview, address: str, *, now: datetime) -> None:
    """Send the sample email, subject marked [Test], to `address` through the configured transport.

    Raises the transport's failures (TemporaryFailure, PermanentFailure, Undeliverable).
    """
    email = sample(preview, now=now)
    if email is None:
        raise LookupError(f"no email {preview.key!r}")
    sender = rendering.Sender.current()
    marked = rendering.RenderedEmail(
        subject=f"[Test] {email.subject}", text=email.text, html=email.html
    )
    unsubscribe = rendering.links_for(sender, SAMPLE_ID).unsubscribe
    outgoing = build_message(
        marked,
        to_name=SAMPLE_NAME,
        to_address=address,
        message_id=new_message_id(sender.domain),
        sender=sender,
        unsubscribe=None if preview.kind == WORKSHEET else unsubscribe,
        date=now,
    )
    with jobs.open_transport() as transport:
        transport.send(outgoing, sender.envelope_from, jobs.envelope_address(address))
