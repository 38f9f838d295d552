"""The run memory: what the send job keeps in Redis about the relay, across batches and
workers. Whether the relay took anyone's email since a reader was refused (the proof an
address is wrong), the different readers refused in a row, and the connections failed in
a row. A Redis that does not answer proves nothing and counts only the batch at hand."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from redis import Redis
from redis.exceptions import RedisError

RUN_TTL = 86400  # seconds the run and the refusals kept in Redis outlive their last change
# One batch, atomically. KEYS: the "taken" counter, the run (a set), then each refused
# subscriber's mark. ARGV: 1 if the batch sent an email, the TTL, how many of the refused
# are fresh (they come first: only they join the run), then the subscriber ids.
# Returns the run's size and the ids whose mark is older than the counter.
_NOTE = """
local taken = tonumber(redis.call('GET', KEYS[1]) or '0')
local fresh = tonumber(ARGV[3])
local proven = {}
for i = 3, #KEYS do
  local mark = redis.call('GET', KEYS[i])
  if mark and tonumber(mark) < taken then table.insert(proven, ARGV[i + 1]) end
end
if ARGV[1] == '1' then
  taken = redis.call('INCR', KEYS[1])
  redis.call('DEL', KEYS[2])
end
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], taken, 'EX', ARGV[2])
  if i - 2 <= fresh then redis.call('SADD', KEYS[2], ARGV[i + 1]) end
end
if fresh > 0 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return {redis.call('SCARD', KEYS[2]), proven}
"""


class RunMemory:
    """The relay's record across batches, under `prefix` (the queue's namespace)."""

    def __init__(self, redis: Redis, prefix: str, resumed_at: datetime | None = None):
        self.redis = redis
        self.prefix = f"{prefix}:sending"
        # The run starts afresh at each resume, as the reputation guard does.
        self.run_key = f"{self.prefix}:refused-run:{resumed_at.isoformat() if resumed_at else ''}"

    def _do(self, call: Callable[[], object], default: int = 0) -> int:
        try:
            return int(call() or 0)
        except RedisError:
            return default

    def note(self, *, accepted: bool, fresh: list[int], held: list[int]) -> tuple[int, set[int]]:
        """Record a batch: whether the relay took any email, and the subscribers it refused
        after the last one it took (`fresh` ones, and `held` ones tried again). Returns how
        many different fresh recipients were refused since an email last went through, and
        which of the refused the relay had refused before and has taken someone else's email
        since: the proof their address is wrong.

        "Taken" is a counter (`sending:taken`, one more per batch that sent), not a time,
        so no clock (nor `drip tick --now`) enters the proof; a refused subscriber keeps
        the count they were refused at. A count that is missing (a flush, an expiry,
        Redis down) proves nothing: the reader is held, never bounced on a guess. One
        script, one round trip per batch.
        """
        refused = fresh + [sid for sid in held if sid not in fresh]
        if not (accepted or refused):
            return 0, set()
        keys = [f"{self.prefix}:taken", self.run_key]
        keys += [f"{self.prefix}:refused:{sid}" for sid in refused]
        try:
            run, proven = self.redis.register_script(_NOTE)(
                keys=keys, args=[int(accepted), RUN_TTL, len(fresh), *refused]
            )
        except RedisError:
            return len(fresh), set()
        return int(run), {int(sid) for sid in proven}

    def connection_failed(self) -> int:
        """One more failed connection; how many in a row."""
        key = f"{self.prefix}:connections-failed"
        return self._do(lambda: self.redis.incr(key), 1)

    def connected(self) -> None:
        self._do(lambda: self.redis.delete(f"{self.prefix}:connections-failed"))
