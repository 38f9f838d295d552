"""The send job, as RQ runs it: claim a batch of deliveries, send it over the lanes, then
judge what the relay answered and record it. Ids in, never objects."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from flask import current_app
from redis import Redis
from sqlalchemy import select, update

from campaigns import gate, relay_health
from campaigns.compose import Recipient, compose, email_for
from campaigns.content import emails as content_emails
from campaigns.mime import Outgoing
from campaigns.render import Sender
from models import Delivery, DeliveryStatus, Subscriber, db, utcnow
from web import redis_edge
from workers.rate import MailRate
from workers.send import ledger, verdicts
from workers.send.lanes import Lanes
from workers.send.outcomes import RowOutcome, Stop, StopKind
from workers.send.relay import RunMemory

log = logging.getLogger("tend.send")

PROBE_PREFIX = "probe-"  # the job id of a probe: one delivery sent while sending is paused
CONNECT_FAILURES = 5  # failed connections in a row that pause sending


def send_batch(job_id: str, ids: Iterable[int], now: str | None = None) -> dict[str, int]:
    """Send the deliveries of one batch over SMTP_CONNECTIONS connections; safe to run
    twice (sends once)."""
    try:
        return _send_batch(job_id, list(ids), datetime.fromisoformat(now) if now else None)
    finally:
        db.session.remove()


def _send_batch(job_id: str, ids: list[int], fixed_now: datetime | None) -> dict[str, int]:
    clock = (lambda: fixed_now) if fixed_now else utcnow
    # The lease is real time even when the job sends at a pretended one (`drip tick --now`):
    # a dispatcher on the real clock must not take back a batch that is still sending.
    claimed = _claim(job_id, ids, max(clock(), utcnow()))
    if not claimed:
        return {outcome.value: 0 for outcome in RowOutcome if outcome != RowOutcome.HELD}
    rows = _rows(claimed)
    redis = _redis()
    sequence, sender = content_emails.sequence(), Sender.current()
    batch = Lanes(
        rows,
        clock,
        probe=job_id.startswith(PROBE_PREFIX),
        rate=_mail_rate(redis),
        message=lambda row, now: _message(row, sequence, sender, now),
        envelope_from=sender.envelope_from,
    )
    current = gate.state(fresh=True)
    if current.paused and not batch.probe:
        batch.stop = Stop(StopKind.PAUSE, f"sending paused: {current.reason}")
    # A probe is one email; a paused batch only goes back on the schedule: one lane each.
    lanes = 1 if batch.probe or batch.stop else current_app.config["SMTP_CONNECTIONS"]
    batch.run_all(min(lanes, len(rows)))
    _settle(batch, RunMemory(redis, _prefix(), gate.state().resumed_at))
    counts = {outcome.value: batch.counts[outcome] for outcome in RowOutcome}
    log.info("batch %s: %s", job_id, counts)
    return counts


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


def _rows(claimed: list[int]) -> list:
    """What the lanes need of each claimed row and its subscriber, read once."""
    rows = db.session.execute(
        select(
            Delivery.id,
            Delivery.job_id,
            Delivery.step,
            Delivery.kind,
            Delivery.message_id,
            Delivery.attempts,
            Delivery.maybe_sent_at,
            Delivery.last_error,
            Subscriber.id.label("subscriber_id"),
            Subscriber.name,
            Subscriber.email,
            Subscriber.public_id,
            Subscriber.status.label("sub_status"),
            Subscriber.job_status,
            Subscriber.started_job_on,
            Subscriber.called_name,
            Subscriber.timezone,
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.id.in_(claimed))
        .order_by(Delivery.id)
    ).all()
    db.session.commit()
    return rows


def _settle(batch: Lanes, memory: RunMemory) -> None:
    """Once every lane is done: judge the refusals (workers/send/verdicts.py) and record
    them; a run of failed connections pauses; a probe that went through resumes; the
    relay's health follows what it did."""
    now = batch.clock()
    unproven = [r for r in batch.refusals if r.answer > batch.last_accepted]
    run, refused_before = memory.note(
        accepted=batch.counts[RowOutcome.SENT] > 0,
        fresh=sorted({r.subscriber_id for r in unproven if r.fresh}),
        held=sorted({r.subscriber_id for r in unproven if not r.fresh}),
    )
    verdict = verdicts.judge(
        verdicts.Batch(
            refusals=tuple(batch.refusals),
            attempted=batch.answers,
            last_accepted=batch.last_accepted,
            paused=batch.paused,
        ),
        verdicts.Proven(run=run, refused_before=frozenset(refused_before)),
    )
    if verdict.pause:
        batch.pause(verdict.pause, now)
    for refusal in verdict.bounce:
        row, attempts = batch.refused_rows[refusal.answer]
        batch.count(ledger.bounced(row, now, refusal.reason, attempts))
        db.session.commit()
    for refusal, wait in verdict.hold:
        row, _ = batch.refused_rows[refusal.answer]
        batch.count(ledger.held(row, now, refusal.reason, wait))
        db.session.commit()
    _connections(batch, memory, now)
    if batch.probe and batch.counts[RowOutcome.SENT]:
        gate.resume(by="a probe that went through")


def _connections(batch: Lanes, memory: RunMemory, now: datetime) -> None:
    """Count failed connections in a row (many pause sending), and mark the relay failing
    or ok for `/healthz` and the dashboard."""
    if batch.connection_failed:
        failures = memory.connection_failed()
        if failures >= CONNECT_FAILURES:
            reason = batch.stop.reason if batch.stop else "cannot reach the SMTP server"
            gate.pause(
                f"{failures} connections in a row failed; the last: {reason}",
                kind=gate.PauseKind.RELAY,
                now=now,
            )
    elif batch.connected:
        memory.connected()
    # The relay's health is the real world's: real time, even for `drip tick --now`.
    if batch.counts[RowOutcome.SENT]:
        relay_health.ok(utcnow())
    elif batch.failure is not None:
        relay_health.failing(*batch.failure, utcnow())


def _redis() -> Redis:
    """The Redis edge's client (`web.redis_edge`): the run memory and MAIL_RATE live there."""
    return redis_edge.current().client


def _prefix() -> str:
    """`tend:{RQ_QUEUE}`, as the edge names every key."""
    return redis_edge.current().key()


def _mail_rate(redis: Redis) -> MailRate | None:
    limits = current_app.config["MAIL_RATE"]
    return MailRate(redis, _prefix(), limits) if limits else None


def _message(row, sequence, sender: Sender, now: datetime) -> Outgoing | None:
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
        called=row.called_name,
        zone=row.timezone,
    )
    return compose(recipient, email, sender, now)
