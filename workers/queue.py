"""The conveyor over Redis: RQ jobs named by the delivery batches they carry."""

from __future__ import annotations

from datetime import datetime

from redis import Redis
from rq import Queue

from campaigns.conveyor import Batch
from web.redis_edge import Edge

SEND_JOB = "workers.send.job.send_batch"


class RQConveyor:
    """Send jobs and transfer jobs on RQ, through the app's Redis edge (its timeouts and
    cool-down: `web.redis_edge`). A Redis that does not answer raises `RedisDown`."""

    def __init__(self, edge: Edge, job_timeout: int = 600):
        self.edge = edge
        self.redis_url = edge.url
        self.queue_name = edge.namespace  # RQ_QUEUE names the queue and every key
        self.job_timeout = job_timeout

    @property
    def redis(self) -> Redis:
        """The edge's fast-fail client (for RQ's own calls and the send job's scripts)."""
        return self.edge.client

    @property
    def queue(self) -> Queue:
        return Queue(self.queue_name, connection=self.redis)

    def _guarded(self, call, *, skip_while_down: bool = True):
        """Run `call` on Redis, or raise `RedisDown` at once while it cools down (the
        signup path); the dispatcher's own checks always ask, and end the cool-down."""
        return self.edge.call(lambda _client: call(), skip_while_down=skip_while_down)

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
        """Imports, exports and worksheet rebuilds wait here; a worker takes them after any
        send job."""
        return f"{self.queue_name}-transfers"

    def enqueue_transfer(self, function: str, transfer_id: str, *, timeout: int) -> None:
        """One import or export job, named by its transfer id, with its own time limit."""
        self.enqueue_slow(
            function,
            transfer_id,
            job_id=transfer_id,
            timeout=timeout,
            description=f"{function.rsplit('_', 1)[-1]} {transfer_id}",
        )

    def enqueue_slow(
        self, function: str, *args, job_id: str, timeout: int, description: str
    ) -> None:
        """One job that may take a while (an import, an export, a worksheet rebuild), on the
        queue a worker takes after any send job, with its own time limit."""

        def put():
            Queue(self.transfer_queue_name, connection=self.redis).enqueue(
                function,
                *args,
                job_id=job_id,
                job_timeout=timeout,
                result_ttl=86400,
                failure_ttl=7 * 86400,
                description=description,
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
