"""One reader, as the coach acts on them: find and show them, add one by hand, change their
name, address, start date or job answer, unsubscribe them, resend the worksheet.

The dashboard's reader page and the admin API's subscriber routes call these. Each action
checks everything first and raises `Refused` (nothing changed: each field, as the API
names it, with its messages), then makes its change and writes its audit event in one
transaction; a fresh email goes to the conveyor after the commit. The rules are the
features': `subscribers.lifecycle.stop` stops a reader, `signup.service` activates one and
re-plans their notes as the start-date page does, `subscribers.fields` checks what was
typed, as the signup form does. An audit sentence names no one: the Activity page shows
the reader beside it, and once a reader is deleted, nothing of them stays in the log.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy.exc import IntegrityError

from campaigns import schedule
from campaigns.compose import email_for
from campaigns.content import emails as content_emails
from campaigns.conveyor import enqueue_after_commit
from campaigns.render import Sender
from campaigns.sequence import CHECKIN, DRIP, RECONFIRM, WORKSHEET, Sequence
from models import Consent, Delivery, DeliveryStatus, Status, Subscriber, db
from signup import service
from studio import audit, reader_checks
from studio.audit import Actor
from studio.errors import NotFound, Refused
from studio.reader_checks import ANSWERS, UNCHANGED, Change
from subscribers import rows
from subscribers.fields import clean_email
from subscribers.lifecycle import (
    STAYING,
    StopReason,
    find_by_address,
    find_by_public_id,
    stop,
    take_signup_email,
)
from subscribers.privacy import forget as forget_reader
from subscribers.suppression import Reason

__all__ = [
    "ANSWERS",
    "UNCHANGED",
    "add",
    "by_public_id",
    "change",
    "emails_of",
    "find",
    "forget",
    "resend_worksheet",
    "subject_of",
    "unsubscribe",
    "view",
]


def find(email: str) -> Subscriber:
    """The reader with this address, in any case; `NotFound` when there is none."""
    address = clean_email(email)
    found = find_by_address(address) if address else None
    if found is None:
        raise NotFound("no reader has that address")
    return found


def by_public_id(public_id: str) -> Subscriber:
    """The reader a dashboard URL or an API route names; `NotFound` when there is none."""
    found = find_by_public_id(public_id)
    if found is None:
        raise NotFound("no such reader")
    return found


# ---- what they got and will get ----------------------------------------------------------


def _sequence() -> Sequence:
    """The sequence as readers get it now: its file, with what the coach published."""
    return content_emails.sequence()


# The admin API's kinds of email, by the kind of a delivery that sends one.
_KIND_OF_DELIVERY = {WORKSHEET: "worksheet", DRIP: "step", CHECKIN: "checkin"}
_DELIVERY_OF_KIND = {api: kind for kind, api in _KIND_OF_DELIVERY.items()}


def subject_of(kind: str, step: str) -> str | None:
    """The subject of one email: `kind` as the admin API names it (`worksheet`, `confirm`,
    `step`, `checkin`), `step` its key (`worksheet`, `confirm`, `month-1`, ...). None for
    an email no longer in the sequence. The one place the reader page and the reader
    object read a subject from."""
    sequence = _sequence()
    if kind == "confirm":
        return sequence.worksheet.confirm_subject
    if kind not in _DELIVERY_OF_KIND:
        return None
    email = email_for(sequence, _DELIVERY_OF_KIND[kind], step)
    return email.subject if email is not None else None


def _asked_to_confirm(subscriber: Subscriber, delivery: Delivery) -> bool:
    """Whether a worksheet email asked the reader to confirm: one not sent yet will, if they
    are not on the list when it goes; one sent did, if a consent they had given by then
    was not yet confirmed (`compose` decides by the reader's status when it sends)."""
    if delivery.status != DeliveryStatus.SENT or delivery.sent_at is None:
        return subscriber.status != Status.ACTIVE
    at = delivery.sent_at
    return any(
        c.created_at <= at
        and (c.left_at is None or c.left_at > at)
        and (c.confirmed_at is None or c.confirmed_at > at)
        for c in subscriber.consents
    )


def email_of(subscriber: Subscriber, delivery: Delivery) -> tuple[str, str]:
    """(kind, key) of the email a delivery sends, as the admin API names them: the
    worksheet email that asked to confirm is `confirm`, the one with the worksheet
    `worksheet`, a note its sequence key."""
    if delivery.kind == RECONFIRM or (
        delivery.kind == WORKSHEET and _asked_to_confirm(subscriber, delivery)
    ):
        return "confirm", "confirm"
    if delivery.kind == WORKSHEET:
        return "worksheet", "worksheet"
    return _KIND_OF_DELIVERY.get(delivery.kind, "step"), delivery.step


def emails_of(subscriber: Subscriber) -> list[tuple[Delivery, str, str]]:
    """Each of the reader's deliveries, oldest first, with its email's key and subject."""
    listed = []
    for delivery in sorted(subscriber.deliveries, key=lambda d: d.id):
        kind, key = email_of(subscriber, delivery)
        listed.append((delivery, key, subject_of(kind, key) or key))
    return listed


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def view(subscriber: Subscriber, now: datetime) -> dict[str, Any]:
    """The reader as the admin API answers with them: who, where they stand, what they told
    us of their job (`job_answer` as the start-date page names the answers, None when
    they never said), and their planned and sent emails (by key and subject, in order)."""
    planned: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []
    for delivery, key, subject in emails_of(subscriber):
        if delivery.status in DeliveryStatus.OPEN:
            planned.append({"key": key, "subject": subject, "due_at": delivery.due_at})
        elif delivery.status == DeliveryStatus.SENT and delivery.sent_at is not None:
            sent.append({"key": key, "subject": subject, "sent_at": delivery.sent_at})
    planned.sort(key=lambda e: e["due_at"])
    sent.sort(key=lambda e: e["sent_at"])
    answer = subscriber.job_status
    return {
        "public_id": subscriber.public_id,
        "name": subscriber.name,
        "email": subscriber.email,
        "status": subscriber.status,
        "job_answer": answer if answer in ANSWERS else None,
        "started_on": _iso(subscriber.started_job_on),
        "planned": [e | {"due_at": _iso(e["due_at"])} for e in planned],
        "sent": [e | {"sent_at": _iso(e["sent_at"])} for e in sent],
    }


# ---- actions ------------------------------------------------------------------------------


def _operator_consent(actor: Actor | str, now: datetime, note: str | None) -> Consent:
    """A consent the coach records: source `operator`, by whom (dashboard or API), the note."""
    via = actor.via if isinstance(actor, Actor) else str(actor)
    row = rows.consent_row(
        now=now,
        ip=None,
        user_agent=None,
        page_url=None,
        form_version=f"operator:{via}",
        source="operator",
    )
    return Consent(**row, note=note)


def _commit(batches: list, taken_address: str | None = None) -> None:
    """Commit the change and its event, then hand its fresh email to the conveyor. A parallel
    signup or change that took the same address first: `Refused`, nothing changed."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if taken_address is None:
            raise
        raise Refused({"email": [reader_checks.TAKEN]}) from None
    enqueue_after_commit(batches)


def add(
    name: str, email: str, note: str, *, confirmed: bool, actor: Actor | str, now: datetime
) -> Subscriber:
    """Add one reader by hand, who asked in person (or by phone, or by letter): `note` says
    how, in their consent, whose source is `operator`.

    They get a request to confirm, unless `confirmed` (they confirmed in person): then
    they are on the list at once and get the worksheet email as list mail, as a reader
    gets it under single opt-in. In their zone: DEFAULT_TIMEZONE.
    """
    entry = reader_checks.new_reader(name, email, note, confirmed=confirmed)
    subscriber = Subscriber(
        **rows.subscriber_row(
            email=entry.email,
            name=entry.name,
            timezone=current_app.config["DEFAULT_TIMEZONE"],
            now=now,
            confirm_requests=0 if confirmed else 1,
        )
    )
    db.session.add(subscriber)
    subscriber.consents.append(_operator_consent(actor, now, entry.note))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Refused({"email": [reader_checks.TAKEN]}) from None
    if confirmed:
        service.activate(subscriber, now, None)
    delivery = schedule.add_worksheet(subscriber, now=now, domain=Sender.current().domain)
    batches = service.hand_over([delivery], now)
    summary = (
        "Added by hand, confirmed in person: the worksheet email went to them."
        if confirmed
        else "Added by hand: a request to confirm went to their address."
    )
    audit.record(
        actor,
        "reader.add",
        summary,
        subscriber=subscriber,
        detail={"confirmed": confirmed},
        now=now,
    )
    _commit(batches, entry.email)
    return subscriber


def change(
    subscriber: Subscriber,
    *,
    actor: Actor | str,
    now: datetime,
    name: Any = UNCHANGED,
    email: Any = UNCHANGED,
    started_on: Any = UNCHANGED,
    job_answer: Any = UNCHANGED,
    reconfirm: bool = True,
) -> Subscriber:
    """Change what is given (a field left out, or `UNCHANGED`, stays as it is).

    `name`; `email`, a correction: unique, and the new address confirms again (pending,
    and a request to confirm goes to it) unless `reconfirm` is False (they asked for it
    in person); `started_on` (a date or ISO text; None clears it) and `job_answer`
    (`started`, `looking`, `not_changing`, None for "never said"): their notes are
    re-planned as when they answer on the start-date page. A change that changes nothing
    records nothing.
    """
    wanted = reader_checks.change(
        subscriber,
        now=now,
        name=name,
        email=email,
        started_on=started_on,
        job_answer=job_answer,
        reconfirm=reconfirm,
    )
    if wanted.empty:
        return subscriber
    said: list[str] = []
    batches: list = []
    if wanted.name is not None:
        subscriber.name = wanted.name
        said.append("Changed their name.")
    if wanted.answer is not None:
        job_status, day = wanted.answer
        service.apply_answer(subscriber, job_status, now=now, started_on=day)
        said.append(reader_checks.answer_sentence(job_status, day))
    if wanted.email is not None:
        batches = _new_address(subscriber, wanted, actor=actor, now=now)
        said.append(reader_checks.address_sentence(subscriber, wanted, bool(batches)))
    audit.record(
        actor,
        "reader.change",
        " ".join(said),
        subscriber=subscriber,
        detail={"fields": wanted.fields, "reconfirm": wanted.reconfirm},
        now=now,
    )
    _commit(batches, wanted.email)
    return subscriber


def _new_address(subscriber: Subscriber, wanted: Change, *, actor, now: datetime) -> list:
    """Move the reader to their corrected address; the batches of a request to confirm it.

    A reader on the list (or whose old address bounced) confirms the new one in a new
    consent, unless they asked in person. One who never confirmed is asked again, at the
    new address. One who left stays unsubscribed, and gets nothing.
    """
    was = subscriber.status
    subscriber.email, subscriber.email_key = wanted.email, wanted.email_key
    if not wanted.new_mailbox:
        return []
    subscriber.soft_bounces = 0
    subscriber.confirm_requests = 0
    if was == Status.UNSUBSCRIBED:
        return []
    if was in (Status.ACTIVE, Status.BOUNCED):
        if was == Status.ACTIVE and not wanted.reconfirm:
            return []
        subscriber.consents.append(_operator_consent(actor, now, reader_checks.CORRECTED))
        if not wanted.reconfirm:  # bounced, and the new address given in person
            service.activate(subscriber, now, None)
            return []
    # Nothing more goes until they confirm; confirming plans their notes again.
    schedule.cancel_open(subscriber)
    subscriber.status = Status.PENDING
    subscriber.confirm_requests = 1
    delivery = schedule.add_worksheet(subscriber, now=now, domain=Sender.current().domain)
    return service.hand_over([delivery], now)


def unsubscribe(subscriber: Subscriber, *, actor: Actor | str, now: datetime) -> Subscriber:
    """Take the reader off the list for the coach: nothing more goes to them, and their
    history and consent records stay, the consent ended for the reason `operator`."""
    if subscriber.status not in STAYING:
        raise Refused({"status": [reader_checks.not_on_the_list(subscriber)]})
    stop(subscriber, StopReason.OPERATOR, now=now)
    audit.record(
        actor,
        "reader.unsubscribe",
        "Unsubscribed them: nothing more goes to them; their history and consent are kept.",
        subscriber=subscriber,
        now=now,
    )
    _commit([])
    return subscriber


def resend_worksheet(subscriber: Subscriber, *, actor: Actor | str, now: datetime) -> Subscriber:
    """Send the worksheet email again: with the worksheet to a reader on the list, as a
    request to confirm to one who has not confirmed. The usual limits hold: one per
    RESEND_MINUTES, and three requests to confirm in all."""
    if subscriber.status not in STAYING:
        raise Refused({"worksheet": [reader_checks.not_on_the_list(subscriber)]})
    resend = timedelta(minutes=current_app.config["RESEND_MINUTES"])
    if not take_signup_email(subscriber, now=now, resend=resend):
        db.session.rollback()
        raise Refused({"worksheet": [reader_checks.why_not_now(subscriber, now, resend)]})
    asking = subscriber.status != Status.ACTIVE
    delivery = schedule.add_worksheet(subscriber, now=now, domain=Sender.current().domain)
    batches = service.hand_over([delivery], now)
    audit.record(
        actor,
        "reader.resend_worksheet",
        "Sent the request to confirm again." if asking else "Sent the worksheet email again.",
        subscriber=subscriber,
        now=now,
    )
    _commit(batches)
    return subscriber


def forget(subscriber: Subscriber, *, actor: Actor | str, now: datetime) -> None:
    """Delete the reader and everything of them; their address stays suppressed (reason
    `operator`). The event names no one."""
    audit.record(
        actor,
        "reader.delete",
        "Deleted a reader with their consent records and emails; the address stays suppressed.",
        now=now,
    )
    forget_reader(subscriber, now=now, reason=Reason.OPERATOR)
