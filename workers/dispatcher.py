"""The dispatcher: one pass claims what is due and hands it to the conveyor in batches.

The database holds the schedule; Redis holds only what a pass queued. Rows whose job is
gone from Redis (a flush, a crash before enqueue) or whose lease ran out (a killed worker)
are claimed again, so nothing is lost. Claims are conditional updates, and on PostgreSQL
the candidate rows are read with FOR UPDATE SKIP LOCKED, so two dispatchers never claim
one row twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Integer, String, any_, bindparam, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from campaigns import schedule
from campaigns.conveyor import Batch, batches_of, current, enqueue_after_commit
from campaigns.render import Sender
from campaigns.timing import parse_window, send_time, zone_or_default
from models import Delivery, DeliveryStatus, Subscriber, UTCDateTime, db


@dataclass
class TickResult:
    queued: int = 0
    deferred: int = 0
    reclaimed: int = 0
    batches: list[Batch] = field(default_factory=list)
    sync: dict[str, int] = field(default_factory=dict)
    handed_over: bool = True


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
    except Exception:
        current_app.logger.warning("conveyor unavailable; cannot check queued jobs", exc_info=True)
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


def _subscriber_facts(rows) -> dict[int, tuple[str | None, datetime | None]]:
    """Zone and last drip of the candidates' subscribers, read by primary key.

    A second query rather than a join: the join let the planner hash the whole subscriber
    table, so a tick's cost grew with the list instead of with what is due.
    """
    query = select(Subscriber.id, Subscriber.timezone, Subscriber.last_drip_at).where(
        _in(Subscriber.id, "b_ids")
    )
    facts: dict[int, tuple[str | None, datetime | None]] = {}
    for chunk in _chunks(sorted({row.subscriber_id for row in rows})):
        facts.update(
            (sid, (zone, last)) for sid, zone, last in db.session.execute(query, {"b_ids": chunk})
        )
    return facts


def tick(now: datetime, *, limit: int | None = None, pretend: bool = False) -> TickResult:
    """One pass at `now`: sync the sequence, reclaim lost work, claim and queue what is due.

    `pretend` (`drip tick --now`): the jobs of this pass send as if it were `now` too, so a
    demo or a test that travels in time records its sends, and the gap, at that time.
    """
    cfg = current_app.config
    limit = limit or cfg.get("DISPATCH_LIMIT", 10000)
    domain = Sender.current().domain
    result = TickResult()
    result.sync = schedule.sync(current_app.extensions["tend.sequence"], now=now, domain=domain)

    lost = _lost_job_ids(now)
    base = select(
        Delivery.id, Delivery.kind, Delivery.subscriber_id, Delivery.due_at, Delivery.status
    )
    stale = _candidates(
        base.where(
            Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING)),
            Delivery.lease_until <= now,
        ).order_by(Delivery.lease_until),
        limit,
    )
    if lost:
        stale += _candidates(
            base.where(Delivery.status == DeliveryStatus.QUEUED, Delivery.job_id.in_(lost)),
            limit,
        )
    due = _candidates(
        base.where(Delivery.status == DeliveryStatus.SCHEDULED, Delivery.due_at <= now).order_by(
            Delivery.due_at
        ),
        limit,
    )
    facts = _subscriber_facts([row for row in due if row.kind == schedule.DRIP])

    window = parse_window(cfg["DRIP_WINDOW"])
    gap = timedelta(days=cfg["DRIP_MIN_GAP_DAYS"])
    default_zone = cfg["DEFAULT_TIMEZONE"]
    take: list[tuple[int, str]] = [(row.id, row.status) for row in stale]
    deferred: list[dict] = []
    dripped: dict[int, datetime] = {}
    for row in due:
        if row.kind == schedule.DRIP:
            zone_name, last_drip_at = facts[row.subscriber_id]
            last = dripped.get(row.subscriber_id, last_drip_at)
            when = send_time(
                row.due_at,
                now=now,
                zone=zone_or_default(zone_name, default_zone),
                window=window,
                last_drip_at=last,
                min_gap=gap,
            )
            if when > now:
                deferred.append({"b_id": row.id, "b_due": when})
                continue
            dripped[row.subscriber_id] = now
        take.append((row.id, row.status))

    if deferred:
        db.session.execute(
            update(Delivery.__table__)
            .where(
                Delivery.__table__.c.id == bindparam("b_id"),
                Delivery.__table__.c.status == DeliveryStatus.SCHEDULED,
            )
            .values(due_at=bindparam("b_due", type_=UTCDateTime())),
            deferred,
        )
    result.deferred = len(deferred)

    lease = now + timedelta(seconds=cfg["SEND_LEASE_SECONDS"])
    claimed: list[int] = []
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
    for job_id, ids in batches_of([i for i, _ in take], cfg["SEND_BATCH_SIZE"]):
        got = db.session.scalars(
            claim, {"b_ids": ids, "b_job": job_id, "b_lost": lost or [""]}
        ).all()
        if got:
            result.batches.append((job_id, sorted(got)))
            claimed.extend(got)
    # Every drip claimed in this pass starts its subscriber's gap at `now`: one statement
    # per chunk of ids, not one per subscriber.
    gap_starts = (
        update(Subscriber.__table__)
        .where(_in(Subscriber.__table__.c.id, "b_ids"))
        .values(last_drip_at=bindparam("b_at", type_=UTCDateTime()))
    )
    for chunk in _chunks(sorted(dripped)):
        db.session.execute(gap_starts, {"b_ids": chunk, "b_at": now})
    db.session.commit()
    stale_ids = {row.id for row in stale}
    result.reclaimed = sum(1 for i in claimed if i in stale_ids)
    result.queued = len(claimed)
    result.handed_over = enqueue_after_commit(result.batches, now if pretend else None)
    return result
