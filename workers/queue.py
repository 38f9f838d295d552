"""The conveyor over Redis: RQ jobs named by the delivery batches they carry."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

from campaigns.conveyor import Batch

SEND_JOB = "workers.send.job.send_batch"
log = logging.getLogger("tend.conveyor")
T = TypeVar("T")
# A Redis that does not answer is skipped for this long before it is asked again, so a
# hung Redis (SIGSTOP) costs one request one timeout, not every request.
COOL_DOWN_SECONDS = 10.0


def connect(url: str, *, timeout: float = 0.25) -> Redis:
    """A Redis client that gives up quickly, so a signup never hangs on a dead Redis.

    Every command the web, the clock and the send job give is answered in well under a
    millisecond by a live Redis; `timeout` is how long a hung one may hold a request.
    """
    # No hidden round trips that a hung Redis would each let time out: no CLIENT SETINFO
    # handshake on connect, no health-check PING before a command.
    return Redis.from_url(
        url,
        socket_connect_timeout=0.25,
        socket_timeout=timeout,
        health_check_interval=0,
        driver_info=None,
    )


class ConveyorDown(RuntimeError):
    """Redis did not answer (now, or a moment ago): the rows stay queued for the dispatcher."""

    already_logged = True  # the conveyor logs a Redis going away once, and its return


class RQConveyor:
    def __init__(self, redis_url: str, queue_name: str, job_timeout: int = 600):
        self.redis_url = redis_url
        self.queue_name = queue_name
        self.job_timeout = job_timeout
        self._redis: Redis | None = None

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            self._redis = connect(self.redis_url)
        return self._redis

    @property
    def queue(self) -> Queue:
        return Queue(self.queue_name, connection=self.redis)

    _down_until = 0.0
    _down_since: float | None = None

    def _guarded(self, call: Callable[[], T], *, skip_while_down: bool = True) -> T:
        """Run `call` against Redis, or raise ConveyorDown at once while Redis is known down
        (the signup path); the dispatcher's own checks always ask, and clear the cool-down."""
        if skip_while_down and time.monotonic() < self._down_until:
            raise ConveyorDown("Redis did not answer a moment ago")
        try:
            result = call()
        except RedisError as err:
            self._down_until = time.monotonic() + COOL_DOWN_SECONDS
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning("Redis unavailable (%s): queued rows wait for the dispatcher", err)
            raise ConveyorDown(str(err)) from err
        self._down_until = 0.0
        if self._down_since is not None:
            log.warning("Redis is back after %.0f s", time.monotonic() - self._down_since)
            self._down_since = None
        return result

    def enqueue(self, batches: list[Batch], now: datetime | None = None) -> None:
        """One RQ send job per batch, named by its job id, put on the queue in one round trip."""
        self._guarded(lambda: self._enqueue(batches, now))

    def _enqueue(self, batches: list[Batch], now: datetime | None) -> None:
        at = (now.isoformat(),) if now is not None else ()
        queue = self.queue
        queue.enqueue_many(
            [
                Queue.prepare_data(
                    SEND_JOB,
                    args=(job_id, ids, *at),
                    job_id=job_id,
                    timeout=self.job_timeout,
                    result_ttl=600,
                    failure_ttl=7 * 86400,
                    description=f"send {len(ids)} deliveries",
                )
                for job_id, ids in batches
            ]
        )

    @property
    def transfer_queue_name(self) -> str:
        """Imports and exports wait here; a worker takes them after any send job."""
        return f"{self.queue_name}-transfers"

    def enqueue_transfer(self, function: str, transfer_id: str, *, timeout: int) -> None:
        """One import or export job, named by its transfer id, with its own time limit."""

        def put():
            Queue(self.transfer_queue_name, connection=self.redis).enqueue(
                function,
                transfer_id,
                job_id=transfer_id,
                job_timeout=timeout,
                result_ttl=86400,
                failure_ttl=7 * 86400,
                description=f"{function.rsplit('_', 1)[-1]} {transfer_id}",
            )

        self._guarded(put)

    def existing(self, job_ids: list[str]) -> set[str]:
        """Which of these jobs Redis still holds (in any state)."""
        if not job_ids:
            return set()

        def ask():
            pipe = self.redis.pipeline(transaction=False)
            for job_id in job_ids:
                pipe.exists(f"rq:job:{job_id}")
            return pipe.execute()

        found = self._guarded(ask, skip_while_down=False)
        return {j for j, present in zip(job_ids, found, strict=True) if present}

    def ping(self) -> bool:
        """Whether Redis answers; while it is known down, says so at once (`/healthz`)."""
        return bool(self._guarded(self.redis.ping))

    def depth(self) -> int:
        return self._guarded(lambda: self.queue.count, skip_while_down=False)
