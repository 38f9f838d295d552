"""The conveyor over Redis: RQ jobs named by the delivery batches they carry."""

from __future__ import annotations

from datetime import datetime

from redis import Redis
from rq import Queue

from campaigns.conveyor import Batch

SEND_JOB = "workers.jobs.send_batch"


def connect(url: str) -> Redis:
    """A Redis client that gives up quickly, so a signup never hangs on a dead Redis."""
    return Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5, health_check_interval=30)


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

    def enqueue(self, batches: list[Batch], now: datetime | None = None) -> None:
        """One RQ send job per batch, named by its job id, put on the queue in one round trip."""
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

    def existing(self, job_ids: list[str]) -> set[str]:
        """Which of these jobs Redis still holds (in any state)."""
        if not job_ids:
            return set()
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.exists(f"rq:job:{job_id}")
        return {j for j, found in zip(job_ids, pipe.execute(), strict=True) if found}

    def depth(self) -> int:
        return self.queue.count
