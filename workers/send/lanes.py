"""The lanes: SMTP_CONNECTIONS connections kept busy with one batch's rows. Each lane holds
one connection and one database session, takes the next row, re-checks it, sends it and
records it; what the relay answered is gathered for the verdict (workers/send/job.py)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from flask import current_app
from redis.exceptions import RedisError

from campaigns import gate
from campaigns.mime import Outgoing
from models import DeliveryStatus, db
from subscribers import lifecycle
from workers.rate import MailRate
from workers.send import ledger
from workers.send.outcomes import NoSlot, RowOutcome, Stop, StopKind
from workers.send.replies import Action, Failure, Meaning
from workers.send.verdicts import REFUSAL_RUN, Refusal
from workers.transport import SendError, envelope_address, open_transport

THROTTLE_WAIT = timedelta(minutes=1)


_POOL: dict[int, ThreadPoolExecutor] = {}  # its size -> the worker process's lane threads


def _pool(size: int) -> ThreadPoolExecutor:
    """The lane threads, kept from batch to batch (a thread made per batch would cost its
    start-up and, with glibc, a memory arena of its own); grown when a batch needs more."""
    if max(_POOL, default=0) < size:
        for old in _POOL.values():
            old.shutdown(wait=False)
        _POOL.clear()
        _POOL[size] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="smtp-lane")
    return _POOL[max(_POOL)]


class Lanes:
    """One job's rows, shared by its lanes (one SMTP connection and one session each)."""

    def __init__(
        self,
        rows,
        clock: Callable[[], datetime],
        *,
        probe: bool,
        rate: MailRate | None,
        message: Callable[[object, datetime], Outgoing | None],
        envelope_from: str,
    ):
        self.rows = rows
        self.message = message  # a row's email at a time; None when its step left
        self.envelope_from = envelope_from
        self.clock = clock
        self.probe = probe
        self.rate = rate
        self.counts: Counter[RowOutcome] = Counter()
        self.stop: Stop | None = None
        self.refusals: list[Refusal] = []  # judged once the batch is over
        self.refused_rows: dict[int, tuple[object, int]] = {}  # answer -> (row, attempts)
        self.run = 0  # fresh readers refused in a row in this batch
        self.answers = 0  # the relay's answers so far, in order: accepted or refused
        self.last_accepted = 0  # the number of the last answer that accepted an email
        self.connection_failed = False
        self.connected = False
        self.failure: tuple[Failure, str] | None = None  # the relay failed us: how, and why
        self.errors: list[BaseException] = []
        self._next = 0
        self._lock = threading.Lock()
        self._pausing = threading.Lock()

    @property
    def paused(self) -> bool:
        return self.stop is not None and self.stop.kind == StopKind.PAUSE

    def run_all(self, lanes: int) -> None:
        """Send every row over `lanes` connections; a lane's error is raised once all end."""
        if lanes == 1:
            self.lane()
            return
        app = current_app._get_current_object()
        for lane in [_pool(lanes).submit(self._lane_in, app) for _ in range(lanes)]:
            lane.result()
        if self.errors:
            raise self.errors[0]

    def take(self):
        with self._lock:
            if self._next >= len(self.rows):
                return None
            self._next += 1
            return self.rows[self._next - 1]

    def count(self, outcome: RowOutcome) -> None:
        with self._lock:
            self.counts[outcome] += 1

    def _lane_in(self, app) -> None:
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
            ledger.SentLedger() as sent,
        ):
            try:
                row = self.take()
                while row is not None:
                    row = self._one(row, transport, sent)
            finally:
                if getattr(transport, "connected", 0):
                    self.connected = True

    def _one(self, row, transport, sent: ledger.SentLedger):
        """Send or settle one row; the next row this lane takes."""
        now = self.clock()
        if not lifecycle.may_receive(row.kind, row.sub_status, row.job_status):
            ledger.record(row, now, DeliveryStatus.CANCELLED, attempts=row.attempts)
            self.count(RowOutcome.SKIPPED)
        elif self.stop is not None:
            self.wait(row, now, self.stop)
        elif (message := self.message(row, now)) is None:
            error = "step left the sequence"
            ledger.record(row, now, DeliveryStatus.CANCELLED, attempts=row.attempts, error=error)
            self.count(RowOutcome.SKIPPED)
        elif not sent.still_ours(row):
            # Unsubscribed (or taken back) since the batch started: not sent, not touched.
            self.count(RowOutcome.SKIPPED)
        elif (held := self._held_back(now)) is not None:
            self.wait(row, now, held)
        else:
            attempts = row.attempts + 1
            pace = (lambda: self._pace(now)) if self.rate is not None else None
            try:
                transport.deliver(message, self.envelope_from, envelope_address(row.email), pace)
            except NoSlot as slot:
                self.wait(row, now, slot.stop)
            except SendError as err:
                self._refused(row, now, err.meaning, attempts)
            else:
                upcoming = self.take()
                sent.sent(row, now, attempts, upcoming)
                with self._lock:
                    self.counts[RowOutcome.SENT] += 1
                    self.run = 0
                    self.answers += 1
                    self.last_accepted = self.answers
                return upcoming  # the ledger has committed it
        # One commit per email: a worker killed mid-batch re-sends at most the one in flight.
        db.session.commit()
        return self.take()

    def _held_back(self, now: datetime) -> Stop | None:
        """Whether this email must wait: sending paused meanwhile, or no MAIL_RATE slot."""
        if not self.probe:
            current = gate.state()
            if current.paused:
                self.stop = Stop(StopKind.PAUSE, f"sending paused: {current.reason}")
                return self.stop
        if self.rate is None:
            return None
        try:
            slot = self.rate.peek(now)
        except RedisError as err:
            return Stop(StopKind.WAIT, f"MAIL_RATE: Redis unavailable ({err})", now + THROTTLE_WAIT)
        if slot.until is not None:
            self.stop = Stop(StopKind.WAIT, slot.reason, slot.until)
            return self.stop
        return None

    def _pace(self, now: datetime) -> None:
        """Take this email's MAIL_RATE slot, right before its data goes to the relay."""
        try:
            slot = self.rate.take(now)
        except RedisError as err:
            reason = f"MAIL_RATE: Redis unavailable ({err})"
            raise NoSlot(Stop(StopKind.WAIT, reason, now + THROTTLE_WAIT)) from err
        if slot.until is not None:  # spent between the look and the take
            self.stop = Stop(StopKind.WAIT, slot.reason, slot.until)
            raise NoSlot(self.stop)

    def wait(self, row, now: datetime, stop: Stop) -> None:
        """Put `row` back without using an attempt (a held reader stays marked as one)."""
        error = f"{stop.reason} ({gate.HELD_NOTE} before)" if ledger.was_held(row) else stop.reason
        if stop.kind == StopKind.DOWN:
            # The server is gone for this batch: the rest waits without spending attempts.
            self.count(ledger.retry(row, now, error, attempts=row.attempts))
            return
        due = stop.until or (now + THROTTLE_WAIT if stop.kind == StopKind.THROTTLE else None)
        ledger.record(
            row, now, DeliveryStatus.SCHEDULED, attempts=row.attempts, error=error, due=due
        )
        self.count(RowOutcome.HELD)

    def _refused(self, row, now: datetime, meaning: Meaning, attempts: int) -> None:
        if meaning.failure is not None and self.failure is None:
            self.failure = (meaning.failure, meaning.reason)
        action = meaning.action
        if action == Action.BOUNCED:
            fresh = not ledger.was_held(row)
            with self._lock:
                self.answers += 1
                refusal = Refusal(row.subscriber_id, meaning.reason, self.answers, fresh)
                self.refusals.append(refusal)
                self.refused_rows[self.answers] = (row, attempts)
                self.run += int(fresh)
                run = self.run
            if run >= REFUSAL_RUN:
                self.pause(f"{run} recipients in a row refused; the last: {meaning.reason}", now)
            return  # recorded once the batch is over: bounced if proven, else held
        if action == Action.PAUSE:
            self.pause(meaning.reason, now)
            self.wait(row, now, self.stop)
        elif action == Action.THROTTLED:
            self.stop = Stop(StopKind.THROTTLE, meaning.reason)
            self.wait(row, now, self.stop)
        elif action == Action.MAYBE_SENT:
            self.stop = Stop(StopKind.DOWN, meaning.reason)
            self.count(ledger.maybe_sent(row, now, meaning.reason, attempts))
        elif action == Action.FAILED:
            ledger.record(row, now, DeliveryStatus.FAILED, attempts=attempts, error=meaning.reason)
            self.count(RowOutcome.FAILED)
        else:
            if action == Action.RETRY_BATCH:
                self.stop = Stop(StopKind.DOWN, meaning.reason)
                self.connection_failed = self.connection_failed or meaning.connection
            self.count(ledger.retry(row, now, meaning.reason, attempts=attempts))

    def pause(self, reason: str, now: datetime) -> None:
        """Pause all sending for the relay (committed), once for all the batch's lanes."""
        with self._pausing:
            if self.paused:
                return
            current = gate.pause(reason, kind=gate.PauseKind.RELAY, now=now)
            self.stop = Stop(StopKind.PAUSE, f"sending paused: {current.reason}")
            if self.failure is None:
                self.failure = (Failure.REFUSED, reason)
