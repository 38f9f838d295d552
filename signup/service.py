"""Signing up: subscribe, confirm, unsubscribe, and what the reader tells us of their job.

Each function runs one transaction, takes `now`, and hands fresh deliveries to the
conveyor only after commit. Every signup gets the same answer, whoever it was. The rules
about a subscriber as such (finding one, stopping one, suppression, their rows) are
`subscribers`'.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache

from dateutil.relativedelta import relativedelta
from flask import current_app
from sqlalchemy import String, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from campaigns import schedule
from campaigns.content import emails as content_emails
from campaigns.conveyor import Batch, enqueue_after_commit
from campaigns.render import Sender
from campaigns.sequence import RECONFIRM, WORKSHEET, Sequence
from campaigns.timing import start_anchor, zone_or_default
from models import Consent, Delivery, DeliveryStatus, JobStatus, Status, Subscriber, db
from signup import effort, mailbox
from signup.mailbox import Asking
from subscribers import rows
from subscribers.lifecycle import (
    CONFIRMABLE,
    StopReason,
    asks_to_confirm,
    find_by_address,
    stop,
    take_signup_email,
)
from subscribers.suppression import is_suppressed, refuses_signup, refusing, suppression_hash


@dataclass(frozen=True)
class Entry:
    """A signup that passed validation: clean name, normalized email, known zone."""

    name: str
    email: str
    email_key: str
    timezone: str


@dataclass(frozen=True)
class Context:
    """Where the signup came from, for the consent record."""

    ip: str | None
    user_agent: str | None
    page_url: str | None
    form_version: str
    source: str = "form"


def sequence() -> Sequence:
    return content_emails.sequence()


def _hand_over(deliveries: list[Delivery], now: datetime) -> list[Batch]:
    cfg = current_app.config
    db.session.flush()
    return schedule.claim(
        deliveries,
        now=now,
        lease=timedelta(seconds=cfg["SEND_LEASE_SECONDS"]),
        batch_size=cfg["SEND_BATCH_SIZE"],
    )


def _activate(subscriber: Subscriber, now: datetime, ip: str | None) -> None:
    # Confirming is never the anchor: the after-hire notes wait for a start date, and
    # the check-ins (counted from now) ask for one.
    subscriber.status = Status.ACTIVE
    subscriber.confirmed_at = now
    subscriber.unsubscribed_at = None  # a return: when they left stays in the consents
    asked = [c for c in subscriber.consents if c.confirmed_at is None and c.left_at is None]
    if asked or subscriber.consents:
        consent = (asked or subscriber.consents)[-1]
        consent.confirmed_at, consent.confirmed_ip = now, ip
    schedule.follow(
        subscriber,
        sequence(),
        now=now,
        domain=Sender.current().domain,
        default_zone=current_app.config["DEFAULT_TIMEZONE"],
    )


def subscribe(entry: Entry, context: Context, *, now: datetime) -> None:
    """Store a signup and queue its worksheet email; the same outcome is reported for all,
    and counted alike (`tend_signups_total`), known address or new. See `_subscribe`."""
    # A request to confirm takes one of its mailbox's share (`signup.mailbox`); when the
    # share is spent, an address that would be asked is left as it is, with the same answer.
    with mailbox.share(entry.email_key) as ask:
        _subscribe(entry, context, now=now, ask=ask)
    effort.tally(context.source, context.ip)


def _subscribe(entry: Entry, context: Context, *, now: datetime, ask: Asking) -> None:
    """Store a signup and queue its worksheet email.

    New address: subscriber, consent and worksheet delivery in one transaction. An address
    already pending or active gets the worksheet email again, at most once per
    RESEND_MINUTES, and one that never confirmed is asked three times in all. One that
    unsubscribed, or asked to be forgotten, must confirm again, in either opt-in mode: a
    reader who left stays unsubscribed, with nothing rescheduled, until their own click,
    and is asked at most once per 30 days. A bounced or complained address gets nothing.
    """
    if (
        ask.may
        and current_app.config["DOUBLE_OPT_IN"]
        and db.engine.dialect.name in _ONE_STEP_DIALECTS
    ):
        batch = _insert_pending(entry, context, now=now)
        if batch is not None:
            ask.asked = True
            enqueue_after_commit([batch])
            return
    batches: list[Batch] = []
    existing = find_by_address(entry.email)
    if existing is None:
        try:
            batches = _create(entry, context, now=now, ask=ask)
            db.session.commit()
        except IntegrityError:
            # A parallel signup of the same address won the unique index; continue as theirs.
            db.session.rollback()
            existing = find_by_address(entry.email)
            if existing is None:
                raise
    if existing is not None:
        batches = _again(existing, entry, context, now=now, ask=ask)
        db.session.commit()
    enqueue_after_commit(batches)


def _consent_row(context: Context, now: datetime) -> dict:
    return rows.consent_row(
        now=now,
        ip=context.ip,
        user_agent=context.user_agent,
        page_url=context.page_url,
        form_version=context.form_version,
        source=context.source,
    )


# The databases whose INSERT knows ON CONFLICT DO NOTHING and RETURNING; others take the ORM.
_ONE_STEP_DIALECTS = ("postgresql", "sqlite")
_SUBSCRIBERS, _CONSENTS, _DELIVERIES = Subscriber.__table__, Consent.__table__, Delivery.__table__
# SQLite has no INSERT inside WITH: three inserts in one transaction, each taking its
# columns from the row it is given. Nothing is written when the address is already there.
_NEW_SUBSCRIBER = (
    sqlite.insert(_SUBSCRIBERS)
    .on_conflict_do_nothing(index_elements=["email_key"])
    .returning(_SUBSCRIBERS.c.id)
)
_NEW_CONSENT = insert(_CONSENTS)
_NEW_DELIVERY = insert(_DELIVERIES).returning(_DELIVERIES.c.id)


def _bound(table, prefix: str, columns: tuple[str, ...]) -> list:
    return [bindparam(prefix + c, type_=table.c[c].type) for c in columns]


@cache
def _pending_signup_pg(shape: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]):
    """On PostgreSQL the three inserts are one statement, built once from the rows' own
    columns and sent on an autocommit connection: one round trip and one commit. Nothing
    is written when the address is already there, or refuses signups (no row back)."""
    subscriber, consent, delivery = shape
    new_subscriber = (
        postgresql.insert(_SUBSCRIBERS)
        .from_select(
            list(subscriber),
            select(*_bound(_SUBSCRIBERS, "s_", subscriber)).where(
                ~refusing(bindparam("x_hash", type_=String()))
            ),
            include_defaults=False,
        )
        .on_conflict_do_nothing(index_elements=["email_key"])
        .returning(_SUBSCRIBERS.c.id)
        .cte("new_subscriber")
    )

    def for_new_subscriber(table, prefix: str, columns: tuple[str, ...]):
        return insert(table).from_select(
            ["subscriber_id", *columns],
            select(new_subscriber.c.id, *_bound(table, prefix, columns)),
            include_defaults=False,
        )

    new_consent = for_new_subscriber(_CONSENTS, "c_", consent).cte("new_consent")
    return (
        for_new_subscriber(_DELIVERIES, "d_", delivery)
        .returning(_DELIVERIES.c.id)
        .add_cte(new_consent)
    )


def _insert_pending(entry: Entry, context: Context, *, now: datetime) -> Batch | None:
    """A new address under double opt-in, written by plain inserts and one commit.

    The same rows the ORM path writes (pending subscriber, consent, worksheet delivery
    already queued under its job id), without its bookkeeping: this is the path every
    first signup takes. None, with nothing written, when the address is already on the
    list or refuses signups (the ORM path then decides); a parallel signup of the same
    address waits here for the other to commit.
    """
    job_id = uuid.uuid4().hex
    subscriber = rows.subscriber_row(
        email=entry.email,
        name=entry.name,
        timezone=entry.timezone,
        now=now,
        worksheet_sent_at=now,
    )
    consent = _consent_row(context, now)
    delivery = schedule.worksheet_row(
        now=now,
        domain=Sender.current().domain,
        status=DeliveryStatus.QUEUED,
        job_id=job_id,
        lease_until=now + timedelta(seconds=current_app.config["SEND_LEASE_SECONDS"]),
    )
    if db.engine.dialect.name == "postgresql":
        statement = _pending_signup_pg((tuple(subscriber), tuple(consent), tuple(delivery)))
        params = {
            **{"s_" + k: v for k, v in subscriber.items()},
            **{"c_" + k: v for k, v in consent.items()},
            **{"d_" + k: v for k, v in delivery.items()},
            "x_hash": suppression_hash(entry.email_key),
        }
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            delivery_id = conn.execute(statement, params).scalar()
        return None if delivery_id is None else (job_id, [delivery_id])

    if refuses_signup(entry.email_key):
        db.session.rollback()
        return None
    conn = db.session.connection()
    subscriber_id = conn.execute(_NEW_SUBSCRIBER, subscriber).scalar()
    if subscriber_id is None:
        db.session.rollback()
        return None
    conn.execute(_NEW_CONSENT, consent | {"subscriber_id": subscriber_id})
    delivery_id = conn.execute(
        _NEW_DELIVERY, delivery | {"subscriber_id": subscriber_id}
    ).scalar_one()
    db.session.commit()
    return job_id, [delivery_id]


def _create(entry: Entry, context: Context, *, now: datetime, ask: Asking) -> list[Batch]:
    if refuses_signup(entry.email_key):
        return []  # a complaint or a bounce: nothing is stored or sent
    # Forgotten, or unsubscribed in a list we imported: back only by confirming.
    double_opt_in = current_app.config["DOUBLE_OPT_IN"] or is_suppressed(entry.email_key)
    if double_opt_in and not ask.may:
        return []
    subscriber = Subscriber(
        **rows.subscriber_row(
            email=entry.email,
            name=entry.name,
            timezone=entry.timezone,
            now=now,
            confirm_requests=1 if double_opt_in else 0,
        )
    )
    db.session.add(subscriber)
    subscriber.consents.append(Consent(**_consent_row(context, now)))
    db.session.flush()  # the unique index speaks here, before anything else is written
    if not double_opt_in:
        _activate(subscriber, now, context.ip)
    delivery = schedule.add_worksheet(subscriber, now=now, domain=Sender.current().domain)
    ask.asked = double_opt_in
    return _hand_over([delivery], now)


def _again(
    subscriber: Subscriber, entry: Entry, context: Context, *, now: datetime, ask: Asking
) -> list[Batch]:
    if subscriber.status == Status.BOUNCED:
        return []
    asking = asks_to_confirm(subscriber)
    if asking and (not ask.may or refuses_signup(subscriber.email_key)):
        return []  # a complaint (never mailed again by a signup), or the mailbox's share is spent
    resend = timedelta(minutes=current_app.config["RESEND_MINUTES"])
    if not take_signup_email(subscriber, now=now, resend=resend):
        return []
    kind = WORKSHEET
    if subscriber.status == Status.UNSUBSCRIBED:
        # Coming back is a new consent, confirmed by the reader's own click in either
        # opt-in mode (anyone can type an address). Until then they stay unsubscribed,
        # their unsubscribe time stays, and nothing but this request is scheduled.
        subscriber.consents.append(Consent(**_consent_row(context, now)))
        kind = RECONFIRM
    delivery = schedule.add_worksheet(
        subscriber, now=now, domain=Sender.current().domain, kind=kind
    )
    ask.asked = asking
    return _hand_over([delivery], now)


def confirm(subscriber: Subscriber, *, now: datetime, ip: str | None) -> None:
    """Confirm a pending subscriber, or a reader who left and asked to come back
    (idempotent): active, consent confirmed, drip scheduled. Anyone else is left as they are.

    The switch is a conditional update, so of two confirms at once (a double click, a
    scanner and the reader) exactly one schedules the drip.
    """
    won = db.session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber.id, CONFIRMABLE)
        .values(status=Status.ACTIVE)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won == 1:
        db.session.refresh(subscriber)
        _activate(subscriber, now, ip)
    db.session.commit()


def unsubscribe(subscriber: Subscriber, *, now: datetime) -> None:
    """Stop everything for this subscriber (idempotent): status and every unsent delivery."""
    stop(subscriber, StopReason.UNSUBSCRIBE, now=now)
    db.session.commit()


def reader_today(subscriber: Subscriber, now: datetime) -> date:
    """Today in the reader's own zone."""
    zone = zone_or_default(subscriber.timezone, current_app.config["DEFAULT_TIMEZONE"])
    return now.astimezone(zone).date()


def start_date_range(today: date) -> tuple[date, date]:
    """The start dates a reader may give: from two years ago to six months ahead."""
    return today - relativedelta(years=2), today + relativedelta(months=6)


def parse_start_date(raw: object, *, today: date) -> date | None:
    """A job start date from the form: ISO `YYYY-MM-DD`, in `start_date_range(today)`."""
    if not isinstance(raw, str):
        return None
    try:
        value = date.fromisoformat(raw.strip())
    except ValueError:
        return None
    earliest, latest = start_date_range(today)
    if not (earliest <= value <= latest):
        return None
    return value


def answer(
    subscriber: Subscriber, job_status: str, *, now: datetime, started_on: date | None = None
) -> None:
    """Record what the reader told us of their job, and make their notes follow it.

    `started`, with `started_on`: the after-hire notes count from midnight of that day in
    the reader's zone, and the check-ins stop. `looking`: no after-hire note; the next
    check-in still comes (one due by now counts as answered). `not_changing`: nothing
    more is asked or sent. The answer can be changed at any time; notes already sent stay
    sent. A pending reader's answer waits for their confirmation. One transaction.
    """
    if job_status not in JobStatus.ALL or job_status == JobStatus.UNKNOWN:
        raise ValueError(f"not an answer: {job_status!r}")
    if (job_status == JobStatus.STARTED) != (started_on is not None):
        raise ValueError("a start date goes with the answer 'started', and only with it")
    subscriber.job_status = job_status
    if started_on is not None:
        zone = zone_or_default(subscriber.timezone, current_app.config["DEFAULT_TIMEZONE"])
        subscriber.started_job_on = started_on
        subscriber.anchor_at = start_anchor(started_on, zone)
    else:
        subscriber.started_job_on = None
        subscriber.anchor_at = None
    if subscriber.status == Status.ACTIVE:
        schedule.follow(
            subscriber,
            sequence(),
            now=now,
            domain=Sender.current().domain,
            answered=True,
            default_zone=current_app.config["DEFAULT_TIMEZONE"],
        )
    db.session.commit()
