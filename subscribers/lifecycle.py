"""Who a subscriber is, who may still receive which email, and how a subscriber stops.

Finding one by address or by public id, the rule the send job re-checks before every
email, and the one place that stops a subscriber: unsubscribed, bounced or complaining,
every email not yet sent is cancelled. Each function works in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import select

from campaigns.schedule import CHECKIN, DRIP, WORKSHEET, cancel_open
from models import JobStatus, Status, Subscriber, db


def email_key(address: str) -> str:
    """The form of a (normalized) address that decides whether two signups are the same
    person: one subscriber per address, whatever its case."""
    return address.lower()


def find_by_address(address: str) -> Subscriber | None:
    """The subscriber with this address, in any case; None when it is not on the list."""
    return db.session.scalar(select(Subscriber).where(Subscriber.email_key == email_key(address)))


def find_by_public_id(public_id: str | None) -> Subscriber | None:
    """The subscriber a link or a dashboard URL names; None for none or an unknown id."""
    if not public_id:
        return None
    return db.session.scalar(select(Subscriber).where(Subscriber.public_id == public_id))


def known_among(email_keys: Iterable[str], chunk: int = 500) -> set[str]:
    """Which of these folded addresses belong to a subscriber already, in any status."""
    keys = list(email_keys)
    found: set[str] = set()
    for i in range(0, len(keys), chunk):
        found.update(
            db.session.scalars(
                select(Subscriber.email_key).where(Subscriber.email_key.in_(keys[i : i + chunk]))
            )
        )
    return found


# Who has not left: they may still receive the worksheet, and may still unsubscribe.
STAYING = (Status.PENDING, Status.ACTIVE)
# Who may still receive each kind of email, by audience: the worksheet goes to anyone who
# has not left (its confirm link is how a pending reader becomes active); the after-hire
# drip and the check-ins wait for that confirmation. The send job re-checks this in SQL
# just before each email, together with FOR_JOB_STATUS.
MAY_RECEIVE: Mapping[str, tuple[str, ...]] = {
    WORKSHEET: STAYING,
    DRIP: (Status.ACTIVE,),
    CHECKIN: (Status.ACTIVE,),
}
# ...and by what the reader told us of their job (None: whatever they said). An after-hire
# note needs a start date; a check-in asks only those who have not said, or are still
# looking. So each email reads true for its reader when it is sent, not only when planned.
FOR_JOB_STATUS: Mapping[str, tuple[str, ...] | None] = {
    WORKSHEET: None,
    DRIP: (JobStatus.STARTED,),
    CHECKIN: JobStatus.ASKED,
}


def audience(kind: str) -> str:
    """The key of MAY_RECEIVE that rules a delivery of this kind; an unknown kind is ruled
    as strictly as the after-hire drip."""
    return kind if kind in MAY_RECEIVE else DRIP


def may_receive(kind: str, status: str, job_status: str) -> bool:
    """Whether a subscriber in `status`, who told us `job_status`, may still be sent `kind`."""
    ruled = audience(kind)
    answers = FOR_JOB_STATUS[ruled]
    return status in MAY_RECEIVE[ruled] and (answers is None or job_status in answers)


class StopReason:
    UNSUBSCRIBE = "unsubscribe"  # the reader asked (the link, List-Unsubscribe, the provider)
    BOUNCE = "bounce"  # the mailbox refused, hard or too often soft
    COMPLAINT = "complaint"  # the reader marked an email as spam


# What each reason makes of a subscriber, and from which statuses (None: from any). An
# unsubscribe leaves a bounced address bounced; a bounce or a complaint always speaks.
_STOPS: Mapping[str, tuple[str, tuple[str, ...] | None]] = {
    StopReason.UNSUBSCRIBE: (Status.UNSUBSCRIBED, STAYING),
    StopReason.BOUNCE: (Status.BOUNCED, None),
    StopReason.COMPLAINT: (Status.UNSUBSCRIBED, None),
}


def stop(subscriber: Subscriber, reason: str, *, now: datetime) -> None:
    """Nothing more goes to this subscriber (idempotent, in the caller's transaction).

    Their status becomes unsubscribed (an unsubscribe or a complaint, which also records
    when, once) or bounced, and every delivery not yet sent is cancelled. Suppressing the
    address is the caller's choice (`suppression.suppress`).
    """
    status, applies_to = _STOPS[reason]
    if applies_to is None or subscriber.status in applies_to:
        subscriber.status = status
        if status == Status.UNSUBSCRIBED and subscriber.unsubscribed_at is None:
            subscriber.unsubscribed_at = now
    cancel_open(subscriber)
