"""The send job: claim a batch of deliveries, re-check, render, send, record. Ids in, never objects."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, exists, or_, select, update

from campaigns.compose import Recipient, compose, email_for
from campaigns.mime import Outgoing
from campaigns.render import Sender
from campaigns.schedule import WORKSHEET, restore_gap
from campaigns.sequence import Sequence
from campaigns.timing import backoff
from models import Delivery, DeliveryStatus, Subscriber, UTCDateTime, db, utcnow
from subscribers import lifecycle
from workers.transport import (
    ConnectionLost,
    PermanentFailure,
    TemporaryFailure,
    Undeliverable,
    envelope_address,
    open_transport,
)

log = logging.getLogger("tend.send")


def _claim(job_id: str, ids: list[int], now: datetime) -> list[int]:
    """Take the rows this job was given, if they are still waiting for it."""
    lease = timedelta(seconds=current_app.config["SEND_LEASE_SECONDS"])
    claimed = db.session.scalars(
        update(Delivery)
        .where(
            Delivery.id.in_(ids),
            Delivery.status == DeliveryStatus.QUEUED,
            Delivery.job_id == job_id,
        )
        .values(status=DeliveryStatus.SENDING, lease_until=now + lease)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    return sorted(claimed)


def _message(row, sequence: Sequence, sender: Sender, now: datetime) -> Outgoing | None:
    """The message for one claimed row, or None when its step left the sequence."""
    email = email_for(sequence, row.kind, row.step)
    if email is None:
        return None
    recipient = Recipient(
        name=row.name,
        address=row.email,
        public_id=row.public_id,
        status=row.sub_status,
        message_id=row.message_id,
        job_status=row.job_status,
        started_on=row.started_job_on,
    )
    return compose(recipient, email, sender, now)


def send_batch(job_id: str, ids: Iterable[int], now: str | None = None) -> dict[str, int]:
    """Send the deliveries of one batch over one connection; safe to run twice (sends once)."""
    try:
        return _send_batch(job_id, list(ids), datetime.fromisoformat(now) if now else None)
    finally:
        db.session.remove()


def _send_batch(job_id: str, ids: list[int], fixed_now: datetime | None) -> dict[str, int]:
    clock = (lambda: fixed_now) if fixed_now else utcnow
    counts = {"sent": 0, "retry": 0, "failed": 0, "skipped": 0}
    # The lease is real time even when the job sends at a pretended one (`drip tick --now`):
    # a dispatcher on the real clock must not take back a batch that is still sending.
    claimed = _claim(job_id, ids, max(clock(), utcnow()))
    if not claimed:
        return counts
    sender = Sender.current()
    sequence = current_app.extensions["tend.sequence"]
    rows = db.session.execute(
        select(
            Delivery.id,
            Delivery.job_id,
            Delivery.step,
            Delivery.kind,
            Delivery.message_id,
            Delivery.attempts,
            Subscriber.id.label("subscriber_id"),
            Subscriber.name,
            Subscriber.email,
            Subscriber.public_id,
            Subscriber.status.label("sub_status"),
            Subscriber.job_status,
            Subscriber.started_job_on,
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.id.in_(claimed))
        .order_by(Delivery.id)
    ).all()
    db.session.commit()
    transport_down: str | None = None
    bounced: set[int] = set()
    envelope_from = sender.envelope_from
    with (
        open_transport(current_app.config, current_app.instance_path) as transport,
        _SentLedger() as ledger,
    ):
        for position, row in enumerate(rows):
            upcoming = rows[position + 1] if position + 1 < len(rows) else None
            now = clock()
            allowed = lifecycle.may_receive(row.kind, row.sub_status, row.job_status)
            if not allowed or row.subscriber_id in bounced:
                _record(row, now, DeliveryStatus.CANCELLED, attempts=row.attempts)
                counts["skipped"] += 1
            elif transport_down:
                # The server is gone for this batch: the rest waits without spending attempts.
                counts[_retry(row, now, transport_down, attempts=row.attempts)] += 1
            elif (message := _message(row, sequence, sender, now)) is None:
                _record(
                    row,
                    now,
                    DeliveryStatus.CANCELLED,
                    attempts=row.attempts,
                    error="step left the sequence",
                )
                counts["skipped"] += 1
            elif not ledger.still_ours(row):
                # Unsubscribed (or taken back) since the batch started: not sent, not touched.
                counts["skipped"] += 1
            else:
                attempts = row.attempts + 1
                try:
                    transport.deliver(message, envelope_from, envelope_address(row.email))
                except ConnectionLost as err:
                    transport_down = str(err)
                    counts[_retry(row, now, transport_down, attempts=attempts)] += 1
                except TemporaryFailure as err:
                    counts[_retry(row, now, str(err), attempts=attempts)] += 1
                except PermanentFailure as err:
                    _record(row, now, DeliveryStatus.FAILED, attempts=attempts, error=str(err))
                    _bounce(row.subscriber_id, now)
                    bounced.add(row.subscriber_id)
                    counts["failed"] += 1
                except Undeliverable as err:
                    _record(row, now, DeliveryStatus.FAILED, attempts=attempts, error=str(err))
                    counts["failed"] += 1
                else:
                    ledger.sent(row, now, attempts, upcoming)
                    counts["sent"] += 1
                    continue  # the ledger has committed it
            # One commit per email: a worker killed mid-batch re-sends at most the one in flight.
            db.session.commit()
    log.info("batch %s: %s", job_id, counts)
    return counts


_DELIVERIES = Delivery.__table__
_SUBSCRIBERS = Subscriber.__table__
# A sent delivery, and the drip gap it starts; built once, executed with parameters.
_MARK_SENT = (
    update(_DELIVERIES)
    .where(
        _DELIVERIES.c.id == bindparam("b_id"),
        # Still this job's: an unsubscribe meanwhile (cancelled) is never overwritten.
        _DELIVERIES.c.status == DeliveryStatus.SENDING,
        _DELIVERIES.c.job_id == bindparam("b_job"),
    )
    .values(
        status=DeliveryStatus.SENT,
        attempts=bindparam("b_attempts"),
        lease_until=None,
        last_error=None,
        updated_at=bindparam("b_now", type_=UTCDateTime()),
        sent_at=bindparam("b_now", type_=UTCDateTime()),
    )
)
_GAP_OPEN = or_(
    _SUBSCRIBERS.c.last_drip_at.is_(None),
    _SUBSCRIBERS.c.last_drip_at < bindparam("b_now", type_=UTCDateTime()),
)
_GAP_VALUES = {
    "last_drip_at": bindparam("b_now", type_=UTCDateTime()),
    "updated_at": bindparam("b_clock", type_=UTCDateTime()),
}
_NOTE_DRIP = (
    update(_SUBSCRIBERS)
    .where(_SUBSCRIBERS.c.id == bindparam("b_subscriber"), _GAP_OPEN)
    .values(**_GAP_VALUES)
)


def _still_ours_query(kind: str, row_param: str = "b_id"):
    """Still this job's, and the subscriber may still receive it (their status, and what
    they told us of their job): read just before sending."""
    conditions = [or_(*(_SUBSCRIBERS.c.status == s for s in lifecycle.MAY_RECEIVE[kind]))]
    answers = lifecycle.FOR_JOB_STATUS[kind]
    if answers is not None:
        conditions.append(or_(*(_SUBSCRIBERS.c.job_status == a for a in answers)))
    return (
        select(_DELIVERIES.c.id)
        .join(_SUBSCRIBERS, _SUBSCRIBERS.c.id == _DELIVERIES.c.subscriber_id)
        .where(
            _DELIVERIES.c.id == bindparam(row_param),
            _DELIVERIES.c.status == DeliveryStatus.SENDING,
            _DELIVERIES.c.job_id == bindparam("b_job"),
            *conditions,
        )
    )


# Plain parameters only (no expanded IN list), so each execution is a cache hit.
_STILL_OURS = {kind: _still_ours_query(kind) for kind in lifecycle.MAY_RECEIVE}
# PostgreSQL: both in one statement, so recording a sent email costs one round trip.
_SENT_ROW = _MARK_SENT.returning(_DELIVERIES.c.subscriber_id, _DELIVERIES.c.kind).cte("sent_row")
_DRIP_GAP = update(_SUBSCRIBERS).where(
    _SUBSCRIBERS.c.id
    == select(_SENT_ROW.c.subscriber_id).where(_SENT_ROW.c.kind != WORKSHEET).scalar_subquery(),
    _GAP_OPEN,
)
_MARK_SENT_AND_NOTE_DRIP = _DRIP_GAP.values(**_GAP_VALUES)
# ...and, in the same round trip, the re-check of the batch's next email (its id as
# `b_next`). The read sees the snapshot the statement started with, taken after this
# email went out. If the update had to wait for a lock on this row, that snapshot may be
# older than what the lock's holder committed (a dispatcher taking the batch back, an
# unsubscribe): then this row is no longer ours, `recorded` is false, and the next row is
# read again on its own before it is sent.
_GAP_CTE = _MARK_SENT_AND_NOTE_DRIP.cte("drip_gap")
_MARK_SENT_AND_CHECK_NEXT = {
    kind: select(
        exists(select(_SENT_ROW.c.kind)).label("recorded"),
        _still_ours_query(kind, row_param="b_next").exists().label("ours"),
    ).add_cte(_SENT_ROW, _GAP_CTE)
    for kind in lifecycle.MAY_RECEIVE
}


class _SentLedger:
    """Records each sent email, committed on its own before the next one is sent.

    On PostgreSQL it holds one autocommit connection for the batch: the re-check before a
    send is one read, and the delivery and the subscriber's drip gap are written in a single
    statement (one round trip, atomic); elsewhere both go through the session and commit.
    """

    def __enter__(self) -> _SentLedger:
        self._conn = None
        self._checked: dict[int, bool] = {}
        if db.engine.dialect.name == "postgresql":
            self._conn = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self

    def __exit__(self, *exc) -> None:
        if self._conn is not None:
            self._conn.close()

    def still_ours(self, row) -> bool:
        """Re-read just before sending: still this job's, and the subscriber may receive it."""
        if row.id in self._checked:  # read with the previous email's record, just now
            return self._checked.pop(row.id)
        query = _STILL_OURS[lifecycle.audience(row.kind)]
        params = {"b_id": row.id, "b_job": row.job_id}
        if self._conn is not None:
            return self._conn.execute(query, params).first() is not None
        found = db.session.execute(query, params).first()
        db.session.commit()  # end the read, so SQLite holds no lock while the email is sent
        return found is not None

    def sent(self, row, now: datetime, attempts: int, upcoming=None) -> None:
        """Record a sent email (committed); on PostgreSQL also re-check `upcoming`, the
        batch's next row, in the same round trip, for `still_ours` to answer."""
        # updated_at on the subscriber is the wall clock, as the ORM's onupdate would set it.
        params = {
            "b_id": row.id,
            "b_job": row.job_id,
            "b_attempts": attempts,
            "b_now": now,
            "b_clock": utcnow(),
        }
        self._checked.clear()
        if self._conn is not None and upcoming is not None and upcoming.job_id == row.job_id:
            query = _MARK_SENT_AND_CHECK_NEXT[lifecycle.audience(upcoming.kind)]
            recorded, ours = self._conn.execute(query, {**params, "b_next": upcoming.id}).one()
            if recorded:
                self._checked[upcoming.id] = ours
            return
        if self._conn is not None:
            self._conn.execute(_MARK_SENT_AND_NOTE_DRIP, params)
            return
        db.session.execute(_MARK_SENT, params)
        if row.kind != WORKSHEET:
            db.session.execute(_NOTE_DRIP, {**params, "b_subscriber": row.subscriber_id})
        db.session.commit()


def _record(row, now: datetime, status: str, *, attempts: int, error: str | None = None, due=None):
    """Write an outcome other than sent, if the row is still this job's; a drip not sent
    gives its subscriber's gap back (the dispatcher started it when it claimed the row)."""
    values = {
        "status": status,
        "attempts": attempts,
        "lease_until": None,
        "last_error": error,
        "updated_at": now,
    }
    if due is not None:
        values["due_at"] = due
    db.session.execute(
        update(Delivery)
        .where(
            Delivery.id == row.id,
            Delivery.status == DeliveryStatus.SENDING,
            Delivery.job_id == row.job_id,
        )
        .values(**values)
    )
    if row.kind != WORKSHEET:
        restore_gap(row.subscriber_id)


def _retry(row, now: datetime, error: str, *, attempts: int) -> str:
    """Back on the schedule with backoff, or failed once its attempts are used up."""
    if attempts >= current_app.config["MAX_SEND_ATTEMPTS"]:
        _record(row, now, DeliveryStatus.FAILED, attempts=attempts, error=error[:2000])
        return "failed"
    due = now + backoff(max(attempts, 1))
    _record(row, now, DeliveryStatus.SCHEDULED, attempts=attempts, error=error[:2000], due=due)
    return "retry"


def _bounce(subscriber_id: int, now: datetime) -> None:
    subscriber = db.session.get(Subscriber, subscriber_id)
    lifecycle.stop(subscriber, lifecycle.StopReason.BOUNCE, now=now)
