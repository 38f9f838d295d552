"""The dispatcher: one pass claims what is due and hands it to the conveyor in batches.

It reads, claims and writes; what goes now and what waits is decided by `campaigns.plan`.
The database holds the schedule; Redis holds only what a pass queued. Rows whose job is
gone from Redis (a flush, a crash before enqueue) or whose lease ran out (a killed worker)
are claimed again, so nothing is lost. Claims are conditional updates, and on PostgreSQL
the candidate rows are read with FOR UPDATE SKIP LOCKED, so two dispatchers never claim
one row twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Integer, String, any_, bindparam, select, update
from sqlalchemy.dialects.postgresql import ARRAY

import logs
from campaigns import gate, schedule
from campaigns.content import emails as content_emails
from campaigns.conveyor import Batch, batches_of, current, enqueue_after_commit
from campaigns.plan import Rules, SubscriberFacts, decide
from campaigns.render import Sender
from models import Delivery, DeliveryStatus, Subscriber, UTCDateTime, db
from subscribers.lifecycle import delete_unconfirmed


@dataclass
class TickResult:
    queued: int = 0
    deferred: int = 0
    reclaimed: int = 0
    batches: list[Batch] = field(default_factory=list)
    sync: dict[str, int] = field(default_factory=dict)
    handed_over: bool = True
    paused: str = ""  # why sending is paused ("" when it is not)
    probe: bool = False  # this pass queued a probe of the paused relay
    # How long the oldest email this pass queued had waited past its due time: how far
    # behind the clock and the workers are.
    lag_seconds: float = 0.0
    unconfirmed_deleted: int = 0  # signups that never confirmed, deleted after UNCONFIRMED_DAYS

    def describe(self) -> str:
        """One line for the tick command and the clock's log: queued, deferred, the lag,
        and whether sending is paused."""
        return (
            f"queued {self.queued} in {len(self.batches)} batch(es), deferred {self.deferred}, "
            f"reclaimed {self.reclaimed}, lag {logs.duration(self.lag_seconds)}"
            + ("" if self.handed_over else " (Redis unavailable: will retry next tick)")
            + (f"; sending paused: {self.paused}" if self.paused else "")
            + (" (a probe is queued)" if self.probe else "")
            + (
                f"; deleted {self.unconfirmed_deleted} unconfirmed signup(s)"
                if self.unconfirmed_deleted
                else ""
            )
        )


def _lost_job_ids(now: datetime) -> list[str]:
    """Job ids of queued rows whose job no longer exists on the conveyor."""
    job_ids = db.session.scalars(
        select(Delivery.job_id)
        .where(Delivery.status == DeliveryStatus.QUEUED, Delivery.lease_until > now)
        .distinct()
    ).all()
    if not job_ids:
        return []
    try:
        present = current().existing([j for j in job_ids if j])
    except Exception as err:
        quiet = getattr(err, "already_logged", False)  # logged once by the conveyor
        (current_app.logger.debug if quiet else current_app.logger.warning)(
            "conveyor unavailable; cannot check queued jobs", exc_info=not quiet
        )
        return []
    return [j for j in job_ids if j and j not in present]


def _candidates(query, limit: int):
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Delivery)
    return db.session.execute(query.limit(limit)).all()


# Ids go to the database in chunks: each statement then names few enough rows that the
# planner reads them by key however large the table is.
_CHUNK = 1000


def _in(column, name: str, item_type=Integer):
    """`column` is one of the list bound as `name` (one array parameter on PostgreSQL)."""
    if db.engine.dialect.name == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(item_type)))
    return column.in_(bindparam(name, expanding=True))


def _chunks(ids: list) -> list[list]:
    return [ids[start : start + _CHUNK] for start in range(0, len(ids), _CHUNK)]


def _subscriber_facts(rows) -> dict[int, SubscriberFacts]:
    """Zone and last drip of the candidates' subscribers, read by primary key.

    A second query rather than a join: the join let the planner hash the whole subscriber
    table, so a tick's cost grew with the list instead of with what is due.
    """
    query = select(Subscriber.id, Subscriber.timezone, Subscriber.last_drip_at).where(
        _in(Subscriber.id, "b_ids")
    )
    facts: dict[int, SubscriberFacts] = {}
    for chunk in _chunks(sorted({row.subscriber_id for row in rows})):
        facts.update(
            (sid, SubscriberFacts(zone=zone, last_drip_at=last))
            for sid, zone, last in db.session.execute(query, {"b_ids": chunk})
        )
    return facts


# The columns of plan.Due: what the planner reads of a delivery.
_ROWS = select(Delivery.id, Delivery.kind, Delivery.subscriber_id, Delivery.due_at)


def _stale(now: datetime, lost: list[str], limit: int) -> list:
    """Queued or sending rows whose lease ran out, or whose job is gone from the conveyor."""
    stale = _candidates(
        _ROWS.where(
            Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING)),
            Delivery.lease_until <= now,
        ).order_by(Delivery.lease_until),
        limit,
    )
    if lost:
        stale += _candidates(
            _ROWS.where(Delivery.status == DeliveryStatus.QUEUED, Delivery.job_id.in_(lost)),
            limit,
        )
    return stale


def _due(now: datetime, limit: int) -> list:
    """Scheduled rows whose time has come, the longest waiting first."""
    return _candidates(
        _ROWS.where(Delivery.status == DeliveryStatus.SCHEDULED, Delivery.due_at <= now).order_by(
            Delivery.due_at
        ),
        limit,
    )


def _defer(deferred: list[tuple[int, datetime]]) -> None:
    """Move what may not leave yet to its time, if it is still scheduled."""
    if not deferred:
        return
    table = Delivery.__table__
    db.session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.status == DeliveryStatus.SCHEDULED)
        .values(due_at=bindparam("b_due", type_=UTCDateTime())),
        [{"b_id": delivery_id, "b_due": when} for delivery_id, when in deferred],
    )


def _claim(ids: list[int], now: datetime, lost: list[str], batch_size: int) -> list[Batch]:
    """Take the rows still in the state they were read in, in batches under fresh job ids."""
    lease = now + timedelta(seconds=current_app.config["SEND_LEASE_SECONDS"])
    claim = (
        update(Delivery)
        .where(
            _in(Delivery.id, "b_ids"),
            # Conditional: only rows still in the state we read them in are ours.
            (Delivery.status == DeliveryStatus.SCHEDULED)
            | (
                Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING))
                & ((Delivery.lease_until <= now) | _in(Delivery.job_id, "b_lost", String))
            ),
        )
        .values(status=DeliveryStatus.QUEUED, job_id=bindparam("b_job"), lease_until=lease)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )
    claimed: list[Batch] = []
    for job_id, batch in batches_of(ids, batch_size):
        got = db.session.scalars(
            claim, {"b_ids": batch, "b_job": job_id, "b_lost": lost or [""]}
        ).all()
        if got:
            claimed.append((job_id, sorted(got)))
    return claimed


def _start_gaps(subscriber_ids: list[int], now: datetime) -> None:
    """Each drip claimed in this pass starts its subscriber's gap at `now`: one statement
    per chunk of ids, not one per subscriber."""
    gap_starts = (
        update(Subscriber.__table__)
        .where(_in(Subscriber.__table__.c.id, "b_ids"))
        .values(last_drip_at=bindparam("b_at", type_=UTCDateTime()))
    )
    for chunk in _chunks(subscriber_ids):
        db.session.execute(gap_starts, {"b_ids": chunk, "b_at": now})


def tick(now: datetime, *, limit: int | None = None, pretend: bool = False) -> TickResult:
    """One pass at `now`: delete signups left unconfirmed for UNCONFIRMED_DAYS, sync the
    sequence, reclaim lost work, claim and queue what is due.

    `pretend` (`drip tick --now`): the jobs of this pass send as if it were `now` too, so a
    demo or a test that travels in time records its sends, and the gap, at that time.
    """
    cfg = current_app.config
    limit = limit or cfg.get("DISPATCH_LIMIT", 10000)
    result = TickResult()
    # Whether or not sending is paused: a signup nobody confirmed is not kept.
    result.unconfirmed_deleted = delete_unconfirmed(
        now, older_than=timedelta(days=cfg["UNCONFIRMED_DAYS"])
    )
    db.session.commit()
    sequence = content_emails.sequence()
    result.sync = schedule.sync(
        sequence,
        now=now,
        domain=Sender.current().domain,
        default_zone=cfg["DEFAULT_TIMEZONE"],
    )
    gate.check_reputation(now)
    current = gate.state(fresh=True)
    if current.paused:
        result.paused = current.reason
        if gate.probe_due(current, now):
            _probe(now, result, pretend)
        return result

    lost = _lost_job_ids(now)
    stale = _stale(now, lost, limit)
    due = _due(now, limit)
    facts = _subscriber_facts([row for row in due if row.kind in schedule.NOTE_KINDS])
    plan = decide(due, facts, now=now, rules=Rules.current())

    _defer(plan.defer)
    stale_ids = [row.id for row in stale]
    result.batches = _claim(stale_ids + plan.send, now, lost, cfg["SEND_BATCH_SIZE"])
    _start_gaps(plan.gap_starts, now)
    db.session.commit()

    claimed = [i for _, ids in result.batches for i in ids]
    result.deferred = len(plan.defer)
    result.reclaimed = len(set(stale_ids).intersection(claimed))
    result.queued = len(claimed)
    due_at = {row.id: row.due_at for row in (*stale, *due)}
    if claimed:
        oldest = min(due_at[i] for i in claimed)
        result.lag_seconds = max(0.0, (now - oldest).total_seconds())
    result.handed_over = enqueue_after_commit(result.batches, now if pretend else None)
    return result


def _probe(now: datetime, result: TickResult, pretend: bool) -> None:
    """While the relay refuses us, one delivery every SENDING_PROBE_MINUTES: the oldest
    due, in a job of its own whose success resumes sending."""
    due = _due(now, 100)
    facts = _subscriber_facts([row for row in due if row.kind == schedule.DRIP])
    plan = decide(due, facts, now=now, rules=Rules.current())
    if not plan.send:  # nothing may leave now (the drip window, the gap): no probe yet
        db.session.commit()
        return
    lease = now + timedelta(seconds=current_app.config["SEND_LEASE_SECONDS"])
    job_id = f"probe-{uuid.uuid4().hex}"
    got = db.session.scalars(
        update(Delivery)
        .where(Delivery.id == plan.send[0], Delivery.status == DeliveryStatus.SCHEDULED)
        .values(status=DeliveryStatus.QUEUED, job_id=job_id, lease_until=lease)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    if got:
        gate.probe_sent(now)
        result.batches = [(job_id, list(got))]
        result.queued = 1
        result.probe = True
        result.handed_over = enqueue_after_commit(result.batches, now if pretend else None)
