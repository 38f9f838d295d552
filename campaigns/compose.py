"""One email for one reader: which template, filled with what, as the message that goes out.

The send job and the dashboard's previews both call `compose`, so what the operator sees
is byte for byte what a subscriber gets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from campaigns.mime import Outgoing, build_message
from campaigns.render import Sender, links_for, render
from campaigns.schedule import WORKSHEET
from campaigns.sequence import Sequence, Step, Worksheet
from models import Status


@dataclass(frozen=True)
class Recipient:
    """Who one delivery goes to, and what we know of them that their email depends on."""

    name: str
    address: str
    public_id: str
    status: str  # a pending reader's worksheet email carries the confirm link
    message_id: str  # fixed when the delivery was scheduled, the same on every retry


def email_for(sequence: Sequence, kind: str, step: str) -> Step | Worksheet | None:
    """What a delivery sends: the worksheet email, or its drip step (None once it left)."""
    return sequence.worksheet if kind == WORKSHEET else sequence.step(step)


def compose(
    recipient: Recipient,
    email: Step | Worksheet,
    sender: Sender,
    now: datetime,
    *,
    subject_prefix: str = "",
) -> Outgoing:
    """The message `email` makes for `recipient`, dated `now`.

    The worksheet email is transactional: it goes to pending readers too and carries no
    List-Unsubscribe. `subject_prefix` marks the Subject header only (a test send).
    """
    transactional = isinstance(email, Worksheet)
    rendered = render(
        email.template,
        subject=email.subject,
        preheader=email.preheader,
        name=recipient.name,
        public_id=recipient.public_id,
        sender=sender,
        transactional=transactional,
        extra={"confirm": recipient.status == Status.PENDING} if transactional else None,
    )
    if subject_prefix:
        rendered = replace(rendered, subject=subject_prefix + rendered.subject)
    return build_message(
        rendered,
        to_name=recipient.name,
        to_address=recipient.address,
        message_id=recipient.message_id,
        sender=sender,
        unsubscribe=None if transactional else links_for(sender, recipient.public_id).unsubscribe,
        date=now,
        feedback_id=feedback_id(email, sender),
    )


def feedback_id(email: Step | Worksheet, sender: Sender) -> str:
    """Feedback-ID (Gmail's feedback loop): campaign:kind:list:sender, so complaint
    figures come back per email of the sequence."""
    campaign = WORKSHEET if isinstance(email, Worksheet) else email.key
    kind = "transactional" if isinstance(email, Worksheet) else "drip"
    return f"{campaign}:{kind}:staying-connected:{sender.domain}"
