"""Who a subscriber is, who may still receive which email, how a subscriber stops, and how
one comes back.

Finding one by address or by public id, the rule the send job re-checks before every
email, and the one place that stops a subscriber: unsubscribed, bounced or complaining,
every email not yet sent is cancelled and their consent ends. A reader who left comes back
only by their own confirmation click (`CONFIRMABLE`); how many emails a signup may send an
address is `take_signup_email`. Each function works in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update

from campaigns import tallies
from campaigns.schedule import CHECKIN, DRIP, WORKSHEET, cancel_open
from campaigns.sequence import RECONFIRM
from models import (
    AuditEvent,
    Consent,
    Delivery,
    DeliveryStatus,
    JobStatus,
    Status,
    Subscriber,
    db,
)


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
    # The worksheet email that asks a reader who left to confirm their return: they are
    # still unsubscribed until they click (one who confirmed meanwhile needs it no more).
    RECONFIRM: (Status.UNSUBSCRIBED,),
    DRIP: (Status.ACTIVE,),
    CHECKIN: (Status.ACTIVE,),
}
# ...and by what the reader told us of their job (None: whatever they said). An after-hire
# note needs a start date; a check-in asks only those who have not said, or are still
# looking. So each email reads true for its reader when it is sent, not only when planned.
FOR_JOB_STATUS: Mapping[str, tuple[str, ...] | None] = {
    WORKSHEET: None,
    RECONFIRM: None,
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
    OPERATOR = "operator"  # the coach took them off the list (the dashboard or the admin API)


# What each reason makes of a subscriber, and from which statuses (None: from any). An
# unsubscribe leaves a bounced address bounced; a bounce or a complaint always speaks.
_STOPS: Mapping[str, tuple[str, tuple[str, ...] | None]] = {
    StopReason.UNSUBSCRIBE: (Status.UNSUBSCRIBED, STAYING),
    StopReason.BOUNCE: (Status.BOUNCED, None),
    StopReason.COMPLAINT: (Status.UNSUBSCRIBED, None),
    StopReason.OPERATOR: (Status.UNSUBSCRIBED, STAYING),
}


def stop(subscriber: Subscriber, reason: str, *, now: datetime) -> None:
    """Nothing more goes to this subscriber (idempotent, in the caller's transaction).

    Their status becomes unsubscribed (an unsubscribe or a complaint, which also records
    when, once) or bounced, every delivery not yet sent is cancelled, and every consent
    not yet ended ends now for `reason` (a return they asked for and did not confirm
    too). Suppressing the address is the caller's choice (`suppression.suppress`).
    """
    status, applies_to = _STOPS[reason]
    if applies_to is None or subscriber.status in applies_to:
        subscriber.status = status
        if status == Status.UNSUBSCRIBED and subscriber.unsubscribed_at is None:
            subscriber.unsubscribed_at = now
    cancel_open(subscriber)
    db.session.execute(
        update(Consent)
        .where(Consent.subscriber_id == subscriber.id, Consent.left_at.is_(None))
        .values(left_at=now, left_reason=reason)
        .execution_options(synchronize_session="fetch")
    )


# ---- coming back, and how often a signup may mail an address ---------------------------

# An address that never confirmed gets this many confirmation emails in all, whoever
# types it into the form and however often: no one is list-bombed through us.
CONFIRM_REQUESTS_MAX = 3
# A reader who left gets at most one email asking them to confirm a return per this long.
RETURN_REQUEST_EVERY = timedelta(days=30)

# A consent asked for and neither confirmed nor ended: the return a reader who left asked
# for, waiting for their click.
_ASKED_BACK = (
    select(Consent.id)
    .where(
        Consent.subscriber_id == Subscriber.id,
        Consent.confirmed_at.is_(None),
        Consent.left_at.is_(None),
    )
    .exists()
)
# SQL: whom a click on a confirm link makes active. A pending reader; or one who left
# (unsubscribed, complaint aside: a complaint ends every consent and refuses signups) and
# asked to come back since. Nobody else: a signup by someone else changes nothing, and an
# old link clicked again after leaving does not sign anyone back up.
CONFIRMABLE = or_(
    Subscriber.status == Status.PENDING,
    and_(Subscriber.status == Status.UNSUBSCRIBED, _ASKED_BACK),
)


def asks_to_confirm(subscriber: Subscriber) -> bool:
    """Whether a signup's worksheet email to this subscriber asks them to confirm: to anyone
    not on the list (pending, or left and coming back) it does."""
    return subscriber.status != Status.ACTIVE


def take_signup_email(subscriber: Subscriber, *, now: datetime, resend: timedelta) -> bool:
    """Atomically take the right to send this address one more worksheet email for a
    signup of it; False (nothing changes) when it may not have one now.

    At most one per `resend` (RESEND_MINUTES); to a reader who left, at most one per
    RETURN_REQUEST_EVERY since they left; and an address that never confirmed is asked to
    confirm CONFIRM_REQUESTS_MAX times in all. The count is kept on the subscriber.
    """
    last = Subscriber.worksheet_sent_at
    if subscriber.status == Status.UNSUBSCRIBED:
        due = or_(
            last.is_(None), last < Subscriber.unsubscribed_at, last <= now - RETURN_REQUEST_EVERY
        )
    else:
        due = or_(last.is_(None), last <= now - resend)
    conditions = [Subscriber.id == subscriber.id, Subscriber.status == subscriber.status, due]
    values = {"worksheet_sent_at": now}
    if asks_to_confirm(subscriber):
        conditions.append(
            or_(
                Subscriber.confirmed_at.is_not(None),
                Subscriber.confirm_requests < CONFIRM_REQUESTS_MAX,
            )
        )
        values["confirm_requests"] = Subscriber.confirm_requests + 1
    taken = db.session.execute(
        update(Subscriber)
        .where(*conditions)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return taken.rowcount == 1


# ---- signups that never confirmed --------------------------------------------------------


def _unconfirmed_since(cutoff: datetime):
    """SQL: pending, never confirmed, and neither signed up nor asked to confirm after
    `cutoff` (the last confirm link sent keeps working its full time). The status and
    created_at bound it on their index; an email is only ever claimed after signing up."""
    return and_(
        Subscriber.status == Status.PENDING,
        Subscriber.confirmed_at.is_(None),
        Subscriber.created_at <= cutoff,
        or_(Subscriber.worksheet_sent_at.is_(None), Subscriber.worksheet_sent_at <= cutoff),
    )


def delete_unconfirmed(now: datetime, *, older_than: timedelta, limit: int = 1000) -> int:
    """Delete up to `limit` signups that never confirmed and were last asked to at least
    `older_than` before `now`, with their consents and deliveries (the clock's tick, in the
    caller's transaction); how many were deleted.

    Nothing of them is kept, not even on the suppression list: they never consented, and
    a later signup of the address is a new one. The delete re-checks each row, so a reader
    who confirms meanwhile stays.
    """
    stale = _unconfirmed_since(now - older_than)
    ids = list(db.session.scalars(select(Subscriber.id).where(stale).limit(limit)))
    if not ids:
        return 0
    sent = db.session.execute(
        select(Delivery.subscriber_id, Delivery.step, Delivery.sent_at).where(
            Delivery.subscriber_id.in_(ids), Delivery.status == DeliveryStatus.SENT
        )
    ).all()
    gone = set(
        db.session.scalars(
            delete(Subscriber)
            .where(Subscriber.id.in_(ids), stale)
            .returning(Subscriber.id)
            .execution_options(synchronize_session=False)
        )
    )
    if not gone:
        return 0
    # Their sent worksheet emails leave the dashboard's sent counts with them.
    tallies.forget_rows([(step, at) for sid, step, at in sent if sid in gone])
    # Explicit deletes: the same on PostgreSQL (where the keys cascade) and on SQLite.
    detach_audit(gone)
    for model in (Delivery, Consent):
        db.session.execute(
            delete(model)
            .where(model.subscriber_id.in_(gone))
            .execution_options(synchronize_session=False)
        )
    return len(gone)


def detach_audit(subscriber_ids: Iterable[int]) -> None:
    """The coach's audit events about these subscribers, about to be deleted, stay in the
    log but name nobody (PostgreSQL's key does the same; SQLite enforces no keys, and a
    new subscriber could be given a deleted one's id)."""
    db.session.execute(
        update(AuditEvent)
        .where(AuditEvent.subscriber_id.in_(list(subscriber_ids)))
        .values(subscriber_id=None)
        .execution_options(synchronize_session=False)
    )
