"""Writing the schedule: delivery rows for the worksheet and the drip, and moving them."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from campaigns.conveyor import Batch, batches_of
from campaigns.sequence import Sequence
from campaigns.timing import due_at
from models import (
    Delivery,
    DeliveryStatus,
    Setting,
    Status,
    Subscriber,
    UTCDateTime,
    db,
    utcnow,
)

WORKSHEET = "worksheet"
DRIP = "drip"


def new_message_id(domain: str) -> str:
    """A Message-ID fixed at the row's birth, so every retry of a delivery carries the same."""
    return f"<{secrets.token_hex(12)}.tend@{domain}>"


def delivery_row(
    step: str, kind: str, due: datetime, *, domain: str, now: datetime, **extra
) -> dict[str, Any]:
    """The columns of one new delivery, scheduled unless `extra` says otherwise.

    The one shape of a delivery row, whoever writes it: the ORM here, the bulk inserts of
    sync and import, signup's one-statement insert. `extra` adds or overrides columns
    (its subscriber, a status, a job).
    """
    return {
        "step": step,
        "kind": kind,
        "status": DeliveryStatus.SCHEDULED,
        "due_at": due,
        "message_id": new_message_id(domain),
        "attempts": 0,
        "last_error": None,
        "created_at": now,
        "updated_at": now,
    } | extra


def worksheet_row(*, now: datetime, domain: str, **extra) -> dict[str, Any]:
    """The columns of a worksheet email due now (see `delivery_row`)."""
    return delivery_row(WORKSHEET, WORKSHEET, now, domain=domain, now=now, **extra)


def add_worksheet(subscriber: Subscriber, *, now: datetime, domain: str) -> Delivery:
    """A worksheet email due now, written in the caller's transaction."""
    delivery = Delivery(subscriber=subscriber, **worksheet_row(now=now, domain=domain))
    db.session.add(delivery)
    subscriber.worksheet_sent_at = now
    return delivery


def claim(
    deliveries: list[Delivery], *, now: datetime, lease: timedelta, batch_size: int
) -> list[Batch]:
    """Mark rows queued under fresh job ids (in the caller's transaction) and return the batches."""
    batches = batches_of([d.id for d in deliveries], batch_size)
    by_id = {d.id: d for d in deliveries}
    for job_id, ids in batches:
        for i in ids:
            row = by_id[i]
            row.status, row.job_id, row.lease_until = DeliveryStatus.QUEUED, job_id, now + lease
    return batches


def schedule_drip(
    subscriber: Subscriber, sequence: Sequence, *, domain: str, now: datetime | None = None
) -> None:
    """Give an active subscriber one row per step; steps already sent are never touched.

    Rows that were cancelled (the subscriber left and came back) are scheduled again.
    New rows are written at `now` (the clock unless given).
    """
    assert subscriber.anchor_at is not None
    written = now or utcnow()
    existing = {d.step: d for d in subscriber.deliveries if d.kind == DRIP}
    for step in sequence.steps:
        due = due_at(subscriber.anchor_at, step.offset)
        row = existing.get(step.key)
        if row is None:
            fresh = delivery_row(step.key, DRIP, due, domain=domain, now=written)
            db.session.add(Delivery(subscriber=subscriber, **fresh))
        elif row.status in (DeliveryStatus.SCHEDULED, DeliveryStatus.CANCELLED):
            row.status, row.due_at, row.lease_until, row.job_id = (
                DeliveryStatus.SCHEDULED,
                due,
                None,
                None,
            )


def move_anchor(subscriber: Subscriber, anchor: datetime, sequence: Sequence) -> None:
    """Time the rest of the drip from a new anchor: unsent steps move, sent ones stay sent."""
    subscriber.anchor_at = anchor
    for row in subscriber.deliveries:
        step = sequence.step(row.step)
        if row.kind == DRIP and step and row.status == DeliveryStatus.SCHEDULED:
            row.due_at = due_at(anchor, step.offset)


def cancel_open(subscriber: Subscriber) -> None:
    """Nothing more goes to this subscriber: every unsent delivery is cancelled."""
    db.session.execute(
        update(Delivery)
        .where(
            Delivery.subscriber_id == subscriber.id,
            Delivery.status.in_(DeliveryStatus.OPEN),
        )
        .values(status=DeliveryStatus.CANCELLED, lease_until=None)
        .execution_options(synchronize_session="fetch")
    )


SYNC_KEY = "sequence.offsets"


def sync(sequence: Sequence, *, now: datetime, domain: str, chunk: int = 5000) -> dict[str, int]:
    """Reconcile the schedule with the sequence file; a no-op when the file has not changed.

    A new step is scheduled for active subscribers for whom it is still ahead; a removed
    step cancels its unsent rows; a changed offset moves unsent rows. Sent rows never change.
    """
    counts = {"added": 0, "cancelled": 0, "moved": 0}
    try:
        return _sync(sequence, now=now, domain=domain, chunk=chunk, counts=counts)
    except IntegrityError:
        # Another dispatcher synced the same change at the same moment; theirs stands.
        db.session.rollback()
        return counts


def _sync(
    sequence: Sequence, *, now: datetime, domain: str, chunk: int, counts: dict
) -> dict[str, int]:
    current = sequence.offsets()
    # Nearly every tick finds the file unchanged: that is read without a lock, so
    # dispatchers running side by side do not queue behind one another for the whole tick.
    unchanged = db.session.scalar(select(Setting.value).where(Setting.key == SYNC_KEY))
    if unchanged is not None and json.loads(unchanged) == current:
        return counts
    # FOR UPDATE (PostgreSQL) makes a second dispatcher wait, then see the work done.
    state = db.session.scalar(select(Setting).where(Setting.key == SYNC_KEY).with_for_update())
    previous: dict[str, str] | None = json.loads(state.value) if state else None
    if previous == current:
        return counts
    if previous is None:
        # First sync of this database: the rows were written from this very file.
        db.session.add(Setting(key=SYNC_KEY, value=json.dumps(current)))
        db.session.commit()
        return counts

    removed = [k for k in previous if k not in current]
    if removed:
        result = db.session.execute(
            update(Delivery)
            .where(
                Delivery.kind == DRIP,
                Delivery.step.in_(removed),
                Delivery.status == DeliveryStatus.SCHEDULED,
            )
            .values(status=DeliveryStatus.CANCELLED)
        )
        counts["cancelled"] = result.rowcount or 0

    for step in sequence.steps:
        offset = step.offset
        if step.key not in previous:
            counts["added"] += _add_step(step.key, offset, now=now, domain=domain, chunk=chunk)
        elif previous[step.key] != step.offset_text:
            counts["moved"] += _move_step(step.key, offset, chunk=chunk)

    state.value = json.dumps(current)
    db.session.commit()
    return counts


def _add_step(key: str, offset, *, now: datetime, domain: str, chunk: int) -> int:
    have = select(Delivery.subscriber_id).where(Delivery.kind == DRIP, Delivery.step == key)
    query = (
        select(Subscriber.id, Subscriber.anchor_at)
        .where(
            Subscriber.status == Status.ACTIVE,
            Subscriber.anchor_at.is_not(None),
            Subscriber.id.not_in(have),
        )
        .order_by(Subscriber.id)
    )
    added = 0
    for rows in db.session.execute(query).partitions(chunk):
        fresh = [
            delivery_row(
                key, DRIP, due_at(anchor, offset), domain=domain, now=now, subscriber_id=sid
            )
            for sid, anchor in rows
            if due_at(anchor, offset) >= now
        ]
        if fresh:
            db.session.execute(Delivery.__table__.insert(), fresh)
            added += len(fresh)
    return added


def _move_step(key: str, offset, *, chunk: int) -> int:
    query = (
        select(Delivery.id, Subscriber.anchor_at)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(
            Delivery.kind == DRIP, Delivery.step == key, Delivery.status == DeliveryStatus.SCHEDULED
        )
    )
    moved = 0
    for rows in db.session.execute(query).partitions(chunk):
        params = [{"b_id": did, "b_due": due_at(anchor, offset)} for did, anchor in rows if anchor]
        if params:
            db.session.execute(
                Delivery.__table__.update()
                .where(Delivery.__table__.c.id == bindparam("b_id"))
                .values(due_at=bindparam("b_due", type_=UTCDateTime())),
                params,
            )
            moved += len(params)
    return moved
