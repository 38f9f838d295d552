"""The send job: claim a batch of deliveries, re-check, render, send, record. Ids in, never objects."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import bindparam, exists, or_, select, update

from campaigns import sending
from campaigns.compose import Recipient, compose, email_for
from campaigns.mime import Outgoing
from campaigns.render import Sender
from campaigns.schedule import WORKSHEET_KINDS, restore_gap
from campaigns.sequence import Sequence
from campaigns.timing import backoff
from models import Delivery, DeliveryStatus, Subscriber, UTCDateTime, db, utcnow
from subscribers import lifecycle
from workers.answers import Outcome, Verdict
from workers.rate import MailRate
from workers.transport import SendError, envelope_address, open_transport

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
        called=row.called_name,
        zone=row.timezone,
    )
    return compose(recipient, email, sender, now)


PROBE_PREFIX = "probe-"  # the job id of a probe: one delivery sent while sending is paused
REFUSAL_RUN = 5  # different recipients refused in a row: the relay, not the readers, is wrong
REFUSED_WAIT = timedelta(minutes=15)  # a refused reader the relay gave no proof against
CONNECT_FAILURES = 5  # failed connections in a row that pause sending
MAYBE_SENT_RETRY = timedelta(minutes=30)  # the one later retry of a "maybe sent" email
THROTTLE_WAIT = timedelta(minutes=1)


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
        return dict.fromkeys(("sent", "retry", "failed", "skipped"), 0)
    rows = db.session.execute(
        select(
            Delivery.id,
            Delivery.job_id,
            Delivery.step,
            Delivery.kind,
            Delivery.message_id,
            Delivery.attempts,
            Delivery.maybe_sent_at,
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
    batch = _Batch(rows, clock, probe=job_id.startswith(PROBE_PREFIX))
    current = sending.state(fresh=True)
    if current.paused and not batch.probe:
        batch.stop = _Stop("pause", f"sending paused: {current.reason}")
    # A probe is one email; a paused batch only goes back on the schedule: one lane each.
    lanes = (
        1 if batch.probe or batch.stop else min(current_app.config["SMTP_CONNECTIONS"], len(rows))
    )
    if lanes == 1:
        batch.lane()
    else:
        app = current_app._get_current_object()
        for lane in [_lanes(lanes).submit(batch.lane_in, app) for _ in range(lanes)]:
            lane.result()
        if batch.errors:
            raise batch.errors[0]
    batch.finish()
    log.info("batch %s: %s", job_id, batch.counts)
    return batch.counts


_POOL: list[ThreadPoolExecutor] = []


def _lanes(size: int) -> ThreadPoolExecutor:
    """The worker process's lane threads, kept from batch to batch (a thread made per
    batch would cost its start-up and, with glibc, a memory arena of its own)."""
    if not _POOL or _POOL[0]._max_workers < size:
        if _POOL:
            _POOL.pop().shutdown(wait=False)
        _POOL.append(ThreadPoolExecutor(max_workers=size, thread_name_prefix="smtp-lane"))
    return _POOL[0]


class _NoSlot(Exception):
    """No MAIL_RATE slot for the email whose data was about to go."""

    def __init__(self, stop):
        super().__init__(stop.reason)
        self.stop = stop


@dataclass
class _Stop:
    """Why the rest of a batch does not go: each row waits without using an attempt."""

    why: str  # pause | throttle | down | wait
    reason: str
    until: datetime | None = None


class _Batch:
    """One job's rows, shared by its lanes (one SMTP connection and one session each)."""

    def __init__(self, rows, clock, *, probe: bool):
        self.rows = rows
        self.clock = clock
        self.probe = probe
        self.counts = {"sent": 0, "retry": 0, "failed": 0, "skipped": 0, "held": 0}
        self.stop: _Stop | None = None
        self.refused: list[_Refusal] = []  # bounced once the batch is over, if proven
        self.run = self.longest_run = 0
        self.answers = 0  # the relay's answers so far, in order: accepted or refused
        self.last_accepted = 0  # the number of the last answer that accepted an email
        self.attempted = 0
        self.connection_failed = False
        self.connected = False
        self.errors: list[BaseException] = []
        self._next = 0
        self._lock = threading.Lock()
        self._pausing = threading.Lock()
        self.sender = Sender.current()
        self.sequence = current_app.extensions["tend.sequence"]
        self.rate = _mail_rate()

    def take(self):
        with self._lock:
            if self._next >= len(self.rows):
                return None
            self._next += 1
            return self.rows[self._next - 1]

    def count(self, outcome: str) -> None:
        with self._lock:
            self.counts[outcome] += 1

    def lane_in(self, app) -> None:
        with app.app_context():
            try:
                self.lane()
            except BaseException as err:  # re-raised by the job once every lane is done
                self.errors.append(err)
            finally:
                db.session.remove()

    def lane(self) -> None:
        with (
            open_transport(current_app.config, current_app.instance_path) as transport,
            _SentLedger() as ledger,
        ):
            try:
                row = self.take()
                while row is not None:
                    row = self._one(row, transport, ledger)
            finally:
                if getattr(transport, "connected", 0):
                    self.connected = True

    def _one(self, row, transport, ledger):
        """Send or settle one row; the next row this lane takes."""
        now = self.clock()
        if not lifecycle.may_receive(row.kind, row.sub_status, row.job_status):
            _record(row, now, DeliveryStatus.CANCELLED, attempts=row.attempts)
            self.count("skipped")
        elif self.stop is not None:
            self._wait(row, now, self.stop)
        elif (message := _message(row, self.sequence, self.sender, now)) is None:
            _record(
                row,
                now,
                DeliveryStatus.CANCELLED,
                attempts=row.attempts,
                error="step left the sequence",
            )
            self.count("skipped")
        elif not ledger.still_ours(row):
            # Unsubscribed (or taken back) since the batch started: not sent, not touched.
            self.count("skipped")
        elif (held := self._held_back(now)) is not None:
            self._wait(row, now, held)
        else:
            attempts = row.attempts + 1
            pace = (lambda: self._pace(now)) if self.rate is not None else None
            try:
                transport.deliver(
                    message, self.sender.envelope_from, envelope_address(row.email), pace
                )
            except _NoSlot as held:
                self._wait(row, now, held.stop)
            except SendError as err:
                self._refused(row, now, err.verdict, attempts)
            else:
                upcoming = self.take()
                ledger.sent(row, now, attempts, upcoming)
                with self._lock:
                    self.counts["sent"] += 1
                    self.attempted += 1
                    self.run = 0
                    self.answers += 1
                    self.last_accepted = self.answers
                return upcoming  # the ledger has committed it
        # One commit per email: a worker killed mid-batch re-sends at most the one in flight.
        db.session.commit()
        return self.take()

    def _held_back(self, now: datetime) -> _Stop | None:
        """Whether this email must wait: sending paused meanwhile, or no MAIL_RATE slot."""
        if not self.probe:
            current = sending.state()
            if current.paused:
                self.stop = _Stop("pause", f"sending paused: {current.reason}")
                return self.stop
        if self.rate is None:
            return None
        try:
            slot = self.rate.peek(now)
        except RedisError as err:
            return _Stop("wait", f"MAIL_RATE: Redis unavailable ({err})", now + THROTTLE_WAIT)
        if slot.until is not None:
            self.stop = _Stop("wait", slot.reason, slot.until)
            return self.stop
        return None

    def _pace(self, now: datetime) -> None:
        """Take this email's MAIL_RATE slot, right before its data goes to the relay."""
        try:
            slot = self.rate.take(now)
        except RedisError as err:
            raise _NoSlot(
                _Stop("wait", f"MAIL_RATE: Redis unavailable ({err})", now + THROTTLE_WAIT)
            ) from err
        if slot.until is not None:  # spent between the look and the take
            self.stop = _Stop("wait", slot.reason, slot.until)
            raise _NoSlot(self.stop)

    def _wait(self, row, now: datetime, stop: _Stop) -> None:
        if stop.why == "down":
            # The server is gone for this batch: the rest waits without spending attempts.
            self.count(_retry(row, now, stop.reason, attempts=row.attempts))
            return
        due = stop.until or (now + THROTTLE_WAIT if stop.why == "throttle" else None)
        _record(
            row, now, DeliveryStatus.SCHEDULED, attempts=row.attempts, error=stop.reason, due=due
        )
        self.count("held")

    def _refused(self, row, now: datetime, verdict: Verdict, attempts: int) -> None:
        outcome = verdict.outcome
        if outcome == Outcome.BOUNCED:
            with self._lock:
                self.answers += 1
                self.refused.append(_Refusal(row, verdict.reason, attempts, self.answers))
                self.attempted += 1
                self.run += 1
                self.longest_run = max(self.longest_run, self.run)
                run = self.run
            if run >= REFUSAL_RUN:
                self._pause(f"{run} recipients in a row refused; the last: {verdict.reason}", now)
            return  # recorded once the batch is over: bounced if proven, else held
        if outcome == Outcome.PAUSE:
            self._pause(verdict.reason, now)
            self._wait(row, now, self.stop)
            return
        if outcome == Outcome.THROTTLED:
            self.stop = _Stop("throttle", verdict.reason)
            self._wait(row, now, self.stop)
            return
        if outcome == Outcome.MAYBE_SENT:
            self.stop = _Stop("down", verdict.reason)
            self.count(_maybe_sent(row, now, verdict.reason, attempts))
            return
        if outcome == Outcome.FAILED:
            _record(row, now, DeliveryStatus.FAILED, attempts=attempts, error=verdict.reason)
            self.count("failed")
            return
        if outcome == Outcome.RETRY_BATCH:
            self.stop = _Stop("down", verdict.reason)
            self.connection_failed = self.connection_failed or verdict.connection
        self.count(_retry(row, now, verdict.reason, attempts=attempts))

    def _pause(self, reason: str, now: datetime) -> None:
        with self._pausing:  # the lanes of one batch write the pause once
            if self.stop is not None and self.stop.why == "pause":
                return
            current = sending.pause(reason, kind=sending.PauseKind.RELAY, now=now)
            self.stop = _Stop("pause", f"sending paused: {current.reason}")

    def finish(self) -> None:
        """Once every lane is done: a refused recipient bounces only once the relay took
        someone else's email after refusing them (later in this batch, or since an earlier
        refusal of theirs); the others are held. Refusals say the relay is wrong, and pause
        sending, when they are most of the batch, or when different recipients are refused
        in a row across batches. A run of failed connections pauses; a probe that went
        through resumes."""
        now = self.clock()
        runs = _Runs(sending.state().resumed_at)
        unproven = [r for r in self.refused if r.answer > self.last_accepted]
        run, proven_before = runs.note(
            accepted=self.counts["sent"] > 0,
            refused=sorted({r.row.subscriber_id for r in unproven}),
        )
        paused = self.stop is not None and self.stop.why == "pause"
        if self.refused and not paused:
            most = self.attempted >= 4 and 2 * len(self.refused) > self.attempted
            if most or run >= REFUSAL_RUN:
                last = self.refused[-1].reason
                count = len(self.refused) if most else run
                self._pause(f"{count} recipients refused in a row; the last: {last}", now)
        paused = self.stop is not None and self.stop.why == "pause"
        wait = int(REFUSED_WAIT.total_seconds() // 60)
        for refusal in self.refused:
            row = refusal.row
            proven = refusal.answer < self.last_accepted or row.subscriber_id in proven_before
            if proven and not paused:
                _record(
                    row, now, DeliveryStatus.FAILED, attempts=refusal.attempts, error=refusal.reason
                )
                _bounce(row.subscriber_id, now)
                sending.record_event(sending.EventKind.HARD_BOUNCE, now)
                self.count("failed")
            else:
                # Maybe the relay's fault: no attempt used, tried again a little later.
                _record(
                    row,
                    now,
                    DeliveryStatus.SCHEDULED,
                    attempts=row.attempts,
                    error=f"{refusal.reason} (held, not bounced: no other email is known "
                    f"to have gone through after it; tried again in {wait} minutes)"[:2000],
                    due=now + REFUSED_WAIT,
                )
                self.count("held")
            db.session.commit()
        if self.connection_failed:
            failures = runs.connection_failed()
            if failures >= CONNECT_FAILURES:
                reason = self.stop.reason if self.stop else "cannot reach the SMTP server"
                sending.pause(
                    f"{failures} connections in a row failed; the last: {reason}",
                    kind=sending.PauseKind.RELAY,
                    now=now,
                )
        elif self.connected:
            runs.connected()
        if self.probe and self.counts["sent"]:
            sending.resume(by="a probe that went through")


def _mail_rate() -> MailRate | None:
    limits = current_app.config["MAIL_RATE"]
    if not limits:
        return None
    conveyor = current_app.extensions["tend.conveyor"]
    return MailRate(conveyor.redis, f"tend:{current_app.config['RQ_QUEUE']}", limits)


@dataclass
class _Refusal:
    row: object
    reason: str
    attempts: int  # with this one
    answer: int  # its place among the batch's answers (_Batch.answers)


RUN_TTL = 86400  # seconds the run and the refusals kept in Redis outlive their last change
# One batch, atomically. KEYS: the "taken" counter, the run (a set), then each refused
# subscriber's mark. ARGV: 1 if the batch sent an email, the TTL, then the subscriber ids.
# Returns the run's size and the ids whose mark is older than the counter.
_NOTE = """
local taken = tonumber(redis.call('GET', KEYS[1]) or '0')
local proven = {}
for i = 3, #KEYS do
  local mark = redis.call('GET', KEYS[i])
  if mark and tonumber(mark) < taken then table.insert(proven, ARGV[i]) end
end
if ARGV[1] == '1' then
  taken = redis.call('INCR', KEYS[1])
  redis.call('DEL', KEYS[2])
end
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], taken, 'EX', ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[i])
end
if #KEYS > 2 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return {redis.call('SCARD', KEYS[2]), proven}
"""


class _Runs:
    """What is kept in Redis across batches and workers: whether the relay took anyone's
    email since a reader was refused, the different recipients refused in a row, and the
    connections failed in a row. A Redis that does not answer proves nothing and counts
    only the batch at hand."""

    def __init__(self, resumed_at: datetime | None = None):
        self.redis = current_app.extensions["tend.conveyor"].redis
        self.prefix = f"tend:{current_app.config['RQ_QUEUE']}:sending"
        # The run starts afresh at each resume, as the reputation guard does.
        self.run_key = f"{self.prefix}:refused-run:{resumed_at.isoformat() if resumed_at else ''}"

    def _do(self, call, default: int = 0) -> int:
        try:
            return int(call() or 0)
        except RedisError:
            return default

    def note(self, *, accepted: bool, refused: list[int]) -> tuple[int, set[int]]:
        """Record a batch: whether the relay took any email, and the subscribers it refused
        after the last one it took. Returns how many different recipients were refused
        since an email last went through, and which of `refused` the relay had refused
        before and has taken someone else's email since: the proof their address is wrong.

        "Taken" is a counter (`sending:taken`, one more per batch that sent), not a time,
        so no clock (nor `drip tick --now`) enters the proof; a refused subscriber keeps
        the count they were refused at. A count that is missing (a flush, an expiry,
        Redis down) proves nothing: the reader is held, never bounced on a guess. One
        script, one round trip per batch, as the run's single command was before.
        """
        if not (accepted or refused):
            return 0, set()
        keys = [f"{self.prefix}:taken", self.run_key]
        keys += [f"{self.prefix}:refused:{sid}" for sid in refused]
        try:
            run, proven = self.redis.register_script(_NOTE)(
                keys=keys, args=[int(accepted), RUN_TTL, *refused]
            )
        except RedisError:
            return len(refused), set()
        return int(run), {int(sid) for sid in proven}

    def connection_failed(self) -> int:
        key = f"{self.prefix}:connections-failed"
        return self._do(lambda: self.redis.incr(key), 1)

    def connected(self) -> None:
        self._do(lambda: self.redis.delete(f"{self.prefix}:connections-failed"))


def _maybe_sent(row, now: datetime, reason: str, attempts: int) -> str:
    """The relay may have it: once, it is tried again later with the same Message-ID;
    the second time it is marked failed, so no reader ever gets more than two copies."""
    if row.maybe_sent_at is not None:
        _record(
            row,
            now,
            DeliveryStatus.FAILED,
            attempts=attempts,
            error=f"{reason} (the second time: not sent again, it may have arrived)",
        )
        return "failed"
    _record(
        row,
        now,
        DeliveryStatus.SCHEDULED,
        attempts=attempts,
        error=reason,
        due=now + MAYBE_SENT_RETRY,
        maybe_sent_at=now,
    )
    return "retry"


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
        if row.kind not in WORKSHEET_KINDS:
            db.session.execute(_NOTE_DRIP, {**params, "b_subscriber": row.subscriber_id})
        db.session.commit()


def _record(
    row,
    now: datetime,
    status: str,
    *,
    attempts: int,
    error: str | None = None,
    due=None,
    **extra,
):
    """Write an outcome other than sent, if the row is still this job's; a drip not sent
    gives its subscriber's gap back (the dispatcher started it when it claimed the row)."""
    values = {
        "status": status,
        "attempts": attempts,
        "lease_until": None,
        "last_error": error,
        "updated_at": now,
        **extra,
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
    if row.kind not in WORKSHEET_KINDS:
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
