"""The ledger: the statements that record how each claimed delivery ended (sent, retry,
maybe sent, held, failed, bounced). Each write checks the row is still this job's, so an
unsubscribe or a dispatcher taking the batch back meanwhile is never overwritten."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, exists, or_, select, update

from campaigns import gate
from campaigns.schedule import WORKSHEET_KINDS, restore_gap
from campaigns.timing import backoff
from models import Delivery, DeliveryStatus, Status, Subscriber, UTCDateTime, db, utcnow
from subscribers import lifecycle
from workers.send.outcomes import RowOutcome

MAYBE_SENT_RETRY = timedelta(minutes=30)  # the one later retry of a "maybe sent" email

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
    == select(_SENT_ROW.c.subscriber_id)
    .where(_SENT_ROW.c.kind.not_in(WORKSHEET_KINDS))
    .scalar_subquery(),
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


class SentLedger:
    """Records each sent email, committed on its own before the next one is sent.

    On PostgreSQL it holds one autocommit connection for the batch: the re-check before a
    send is one read, and the delivery and the subscriber's drip gap are written in a single
    statement (one round trip, atomic); elsewhere both go through the session and commit.
    """

    def __enter__(self) -> SentLedger:
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
        if row.kind not in WORKSHEET_KINDS:
            db.session.execute(_NOTE_DRIP, {**params, "b_subscriber": row.subscriber_id})
        db.session.commit()


def record(row, now: datetime, status: str, *, attempts: int, error=None, due=None, **extra):
    """Write an outcome other than sent, if the row is still this job's; a drip not sent
    gives its subscriber's gap back (the dispatcher started it when it claimed the row)."""
    values = dict(status=status, attempts=attempts, lease_until=None, last_error=error)
    values.update(updated_at=now, **extra)
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
    if row.kind not in WORKSHEET_KINDS:
        restore_gap(row.subscriber_id)


def retry(row, now: datetime, error: str, *, attempts: int) -> RowOutcome:
    """Back on the schedule with backoff, or failed once its attempts are used up."""
    if attempts >= current_app.config["MAX_SEND_ATTEMPTS"]:
        record(row, now, DeliveryStatus.FAILED, attempts=attempts, error=error[:2000])
        return RowOutcome.FAILED
    due = now + backoff(max(attempts, 1))
    record(row, now, DeliveryStatus.SCHEDULED, attempts=attempts, error=error[:2000], due=due)
    return RowOutcome.RETRY


def bounced(row, now: datetime, reason: str, attempts: int) -> RowOutcome:
    """The relay refused this reader's mailbox, proven: failed, and the reader bounced.
    Counted for the reputation guard only if someone confirmed the address."""
    record(row, now, DeliveryStatus.FAILED, attempts=attempts, error=reason)
    subscriber = db.session.get(Subscriber, row.subscriber_id)
    confirmed = subscriber.status != Status.PENDING or subscriber.confirmed_at is not None
    lifecycle.stop(subscriber, lifecycle.StopReason.BOUNCE, now=now)
    gate.record_reader_event(gate.EventKind.HARD_BOUNCE, now, confirmed=confirmed)
    return RowOutcome.FAILED


def held(row, now: datetime, reason: str, wait: timedelta) -> RowOutcome:
    """Refused, but maybe by the relay's fault: no attempt used, tried again after `wait`.
    The note marks it a held retry, which the run of refused readers does not count."""
    minutes = round(wait.total_seconds() / 60)
    error = (
        f"{reason} ({gate.HELD_NOTE}: no other email is known to have gone through after "
        f"it; tried again in {minutes} minutes)"
    )
    due, error = now + wait, error[:2000]
    record(row, now, DeliveryStatus.SCHEDULED, attempts=row.attempts, error=error, due=due)
    return RowOutcome.HELD


def was_held(row) -> bool:
    """Whether this row comes back after a hold (a refusal proven against no one)."""
    return bool(row.last_error) and gate.HELD_NOTE in row.last_error


def maybe_sent(row, now: datetime, reason: str, attempts: int) -> RowOutcome:
    """The relay may have it: once, it is tried again later with the same Message-ID;
    the second time it is marked failed, so no reader ever gets more than two copies."""
    if row.maybe_sent_at is not None:
        error = f"{reason} (the second time: not sent again, it may have arrived)"
        record(row, now, DeliveryStatus.FAILED, attempts=attempts, error=error)
        return RowOutcome.FAILED
    due = now + MAYBE_SENT_RETRY
    record(
        row,
        now,
        DeliveryStatus.SCHEDULED,
        attempts=attempts,
        error=reason,
        due=due,
        maybe_sent_at=now,
    )
    return RowOutcome.RETRY
