"""Writing the schedule: delivery rows for the worksheet, the drip and the check-ins, and
keeping them in step with the reader's answers and the sequence file."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from campaigns.conveyor import Batch, batches_of
from campaigns.plan import Forecast, Note, Reader, Rules, forecast, intended
from campaigns.sequence import (
    CHECKIN,
    DRIP,
    NOTE_KINDS,
    WORKSHEET,
    WORKSHEET_KINDS,
    Sequence,
    Step,
)
from campaigns.timing import due_at, zone_or_default
from models import (
    Delivery,
    DeliveryStatus,
    JobStatus,
    Setting,
    Status,
    Subscriber,
    UTCDateTime,
    db,
)


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


def worksheet_row(*, now: datetime, domain: str, kind: str = WORKSHEET, **extra) -> dict[str, Any]:
    """The columns of a worksheet email due now (see `delivery_row`); `kind` RECONFIRM for
    the one to a reader who left and asks to come back."""
    if kind not in WORKSHEET_KINDS:
        raise ValueError(f"not a kind of worksheet email: {kind!r}")
    return delivery_row(WORKSHEET, kind, now, domain=domain, now=now, **extra)


def add_worksheet(
    subscriber: Subscriber, *, now: datetime, domain: str, kind: str = WORKSHEET
) -> Delivery:
    """A worksheet email due now, written in the caller's transaction (`kind` RECONFIRM: to
    a reader who left, asking them to confirm their return)."""
    delivery = Delivery(subscriber=subscriber, **worksheet_row(now=now, domain=domain, kind=kind))
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


# Unsent rows whose status follows the reader's answers; sent, failed and sending ones stay.
_REPLANNED = (
    DeliveryStatus.SCHEDULED,
    DeliveryStatus.QUEUED,
    DeliveryStatus.HELD,
    DeliveryStatus.SKIPPED,
    DeliveryStatus.CANCELLED,
)


def follow(
    subscriber: Subscriber,
    sequence: Sequence,
    *,
    now: datetime,
    domain: str,
    answered: bool = False,
    default_zone: str = "UTC",
) -> None:
    """Make an active subscriber's notes what they told us of their job calls for.

    Each after-hire step and check-in gets the status and due time `plan.intended` gives
    it at `now` (`answered`: the reader has just answered). Missing rows are written (a
    skipped one too, so both pages can show it); unsent ones are moved, held, skipped,
    cancelled or brought back. Sent notes never change and are never sent again; one a
    worker is sending now finishes, and is re-checked against the reader just before.
    In the caller's transaction.
    """
    reader = Reader(
        subscriber.job_status,
        subscriber.anchor_at,
        subscriber.confirmed_at,
        zone_or_default(subscriber.timezone, default_zone),
    )
    existing = {(d.kind, d.step): d for d in subscriber.deliveries if d.kind in NOTE_KINDS}
    gap_back = False
    for note in intended(sequence, reader, now=now, answered=answered):
        row = existing.get((note.kind, note.key))
        if row is None:
            if note.status in (DeliveryStatus.SCHEDULED, DeliveryStatus.SKIPPED):
                fresh = delivery_row(
                    note.key, note.kind, note.due_at, domain=domain, now=now, status=note.status
                )
                db.session.add(Delivery(subscriber=subscriber, **fresh))
            continue
        if row.status not in _REPLANNED:
            continue
        if row.status == DeliveryStatus.QUEUED:
            if note.status == DeliveryStatus.SCHEDULED and note.due_at <= now:
                continue  # due, and still wanted: it may go
            gap_back = True  # the dispatcher started the gap when it queued this one
        retrying = row.attempts and row.status == note.status == DeliveryStatus.SCHEDULED
        if note.due_at is not None and not (retrying and note.due_at <= now < row.due_at):
            row.due_at = note.due_at  # a retry waiting out its backoff keeps waiting
        row.status = note.status
        row.lease_until = row.job_id = None
    if gap_back:
        db.session.flush()
        restore_gap(subscriber.id)


def restore_gap(subscriber_id: int) -> None:
    """The subscriber's gap counts from the last note really sent (one claimed was not)."""
    last_sent = (
        select(func.max(Delivery.sent_at))
        .where(
            Delivery.subscriber_id == subscriber_id,
            Delivery.kind.not_in(WORKSHEET_KINDS),
            Delivery.status == DeliveryStatus.SENT,
        )
        .scalar_subquery()
    )
    db.session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id)
        .values(last_drip_at=last_sent)
        .execution_options(synchronize_session="fetch")
    )


def upcoming(
    subscriber: Subscriber, sequence: Sequence, *, now: datetime, rules: Rules
) -> list[Forecast]:
    """When each of the subscriber's notes leaves, or why it won't (`plan.forecast`).

    From their rows once they are active; before that (pending), from what confirming now
    would write. Only notes of the sequence are shown.
    """
    if subscriber.status == Status.PENDING:
        zone = rules.zone(subscriber.timezone)
        reader = Reader(subscriber.job_status, subscriber.anchor_at, now, zone)
        notes = [n for n in intended(sequence, reader, now=now) if n.due_at is not None]
    else:
        known = {(DRIP, s.key) for s in sequence.steps} | {
            (CHECKIN, s.key) for s in sequence.checkins
        }
        notes = [
            Note(d.kind, d.step, d.due_at, d.status, d.sent_at)
            for d in subscriber.deliveries
            if (d.kind, d.step) in known
        ]
    return forecast(
        notes, now=now, zone=subscriber.timezone, rules=rules, last_sent=subscriber.last_drip_at
    )


def cancel_open(subscriber: Subscriber) -> None:
    """Nothing more goes to this subscriber: every unsent delivery is cancelled."""
    db.session.execute(
        update(Delivery)
        .where(
            Delivery.subscriber_id == subscriber.id,
            # Held notes too: nothing waits for a start date from someone who has left.
            Delivery.status.in_((*DeliveryStatus.OPEN, DeliveryStatus.HELD)),
        )
        .values(status=DeliveryStatus.CANCELLED, lease_until=None)
        .execution_options(synchronize_session="fetch")
    )


SYNC_KEY = "sequence.offsets"  # the drip steps' offsets the schedule was written from
CHECKIN_SYNC_KEY = "sequence.checkins"  # ...and the check-ins'


@dataclass(frozen=True)
class _Track:
    """One kind of note as sync sees it: its steps, what they count from, who gets them."""

    kind: str
    setting: str
    steps: tuple[Step, ...]
    anchor: Any  # the subscriber column the offsets count from
    audience: tuple  # SQL conditions on the subscriber, besides being active
    # With no record yet, add every step to whoever lacks it (check-ins: a database from
    # before they existed), or only record the file (drip: its rows were written from it).
    adds_when_new: bool

    @property
    def offsets(self) -> dict[str, str]:
        return {s.key: s.offset_text for s in self.steps}


def _tracks(sequence: Sequence) -> tuple[_Track, _Track]:
    return (
        _Track(
            DRIP,
            SYNC_KEY,
            sequence.steps,
            Subscriber.anchor_at,
            (Subscriber.job_status == JobStatus.STARTED, Subscriber.anchor_at.is_not(None)),
            adds_when_new=False,
        ),
        _Track(
            CHECKIN,
            CHECKIN_SYNC_KEY,
            sequence.checkins,
            Subscriber.confirmed_at,
            (Subscriber.job_status.in_(JobStatus.ASKED), Subscriber.confirmed_at.is_not(None)),
            adds_when_new=True,
        ),
    )


def sync(
    sequence: Sequence,
    *,
    now: datetime,
    domain: str,
    chunk: int = 5000,
    default_zone: str = "UTC",
) -> dict[str, int]:
    """Reconcile the schedule with the sequence file; a no-op when the file has not changed.

    For the drip steps and the check-ins alike: a new step is scheduled for the active
    subscribers it is meant for, when it is still ahead; a removed step cancels its unsent
    rows; a changed offset moves unsent rows. Sent rows never change.
    """
    counts = {"added": 0, "cancelled": 0, "moved": 0}
    tracks = _tracks(sequence)
    # Nearly every tick finds the file unchanged: that is read without a lock, so
    # dispatchers running side by side do not queue behind one another for the whole tick.
    stored = dict(
        db.session.execute(
            select(Setting.key, Setting.value).where(Setting.key.in_([t.setting for t in tracks]))
        ).all()
    )
    changed = [
        t for t in tracks if t.setting not in stored or json.loads(stored[t.setting]) != t.offsets
    ]
    if not changed:
        return counts
    try:
        for track in changed:
            _sync(track, now=now, domain=domain, chunk=chunk, counts=counts, zone=default_zone)
        db.session.commit()
    except IntegrityError:
        # Another dispatcher synced the same change at the same moment; theirs stands.
        db.session.rollback()
    return counts


def _sync(
    track: _Track, *, now: datetime, domain: str, chunk: int, counts: dict, zone: str
) -> None:
    current = track.offsets
    # FOR UPDATE (PostgreSQL) makes a second dispatcher wait, then see the work done.
    state = db.session.scalar(select(Setting).where(Setting.key == track.setting).with_for_update())
    previous: dict[str, str] | None = json.loads(state.value) if state else None
    if previous == current:
        return
    if state is None:
        state = Setting(key=track.setting, value=json.dumps(current))
        db.session.add(state)
    if previous is None and not track.adds_when_new:
        # First sync of this database: the rows were written from this very file.
        return
    previous = previous or {}

    removed = [k for k in previous if k not in current]
    if removed:
        result = db.session.execute(
            update(Delivery)
            .where(
                Delivery.kind == track.kind,
                Delivery.step.in_(removed),
                Delivery.status.in_((DeliveryStatus.SCHEDULED, DeliveryStatus.HELD)),
            )
            .values(status=DeliveryStatus.CANCELLED)
        )
        counts["cancelled"] += result.rowcount or 0

    for step in track.steps:
        if step.key not in previous:
            counts["added"] += _add_step(
                track, step, now=now, domain=domain, chunk=chunk, zone=zone
            )
        elif previous[step.key] != step.offset_text:
            counts["moved"] += _move_step(track, step, chunk=chunk, zone=zone)
    state.value = json.dumps(current)


def _due(anchor: datetime, offset, zone_name: str | None, default_zone: str) -> datetime:
    return due_at(anchor, offset, zone_or_default(zone_name, default_zone))


def _add_step(
    track: _Track, step: Step, *, now: datetime, domain: str, chunk: int, zone: str
) -> int:
    have = select(Delivery.subscriber_id).where(
        Delivery.kind == track.kind, Delivery.step == step.key
    )
    query = (
        select(Subscriber.id, track.anchor, Subscriber.timezone)
        .where(Subscriber.status == Status.ACTIVE, *track.audience, Subscriber.id.not_in(have))
        .order_by(Subscriber.id)
    )
    offset = step.offset
    added = 0
    for rows in db.session.execute(query).partitions(chunk):
        dues = [(sid, _due(anchor, offset, tz, zone)) for sid, anchor, tz in rows]
        fresh = [
            delivery_row(step.key, track.kind, due, domain=domain, now=now, subscriber_id=sid)
            for sid, due in dues
            if due >= now
        ]
        if fresh:
            db.session.execute(Delivery.__table__.insert(), fresh)
            added += len(fresh)
    return added


def _move_step(track: _Track, step: Step, *, chunk: int, zone: str) -> int:
    query = (
        select(Delivery.id, track.anchor, Subscriber.timezone)
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(
            Delivery.kind == track.kind,
            Delivery.step == step.key,
            Delivery.status == DeliveryStatus.SCHEDULED,
        )
    )
    offset = step.offset
    moved = 0
    for rows in db.session.execute(query).partitions(chunk):
        params = [
            {"b_id": did, "b_due": _due(anchor, offset, tz, zone)}
            for did, anchor, tz in rows
            if anchor
        ]
        if params:
            db.session.execute(
                Delivery.__table__.update()
                .where(Delivery.__table__.c.id == bindparam("b_id"))
                .values(due_at=bindparam("b_due", type_=UTCDateTime())),
                params,
            )
            moved += len(params)
    return moved
