"""MAIL_RATE: one send rate shared by every worker on every host, kept in Redis.

`14/second;2000/day` is two limits. A limit shorter than a day spaces the emails evenly
(one every 1/14 s), so no window of that length ever holds more than its count; a day
limit is a budget per UTC day, counted on the day of the send's own `now` (so a pretended
time, `drip tick --now`, has its own day). One Lua script checks and takes a slot for all
limits atomically; the spacing is measured on Redis's clock, which every host shares.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis import Redis

# MAIL_RATE is read with the settings (settings.rates, with Flask-Limiter's grammar).
from settings.rates import DAY, Limit, parse_rate  # noqa: F401
from web.redis_edge import Edge

# Emails are spaced 3 % wider than a limit asks: between the slot and the relay's clock an
# email meets a thread switch or a busy core, and the relay must never count one too many.
HEADROOM = 1.03


@dataclass(frozen=True)
class Slot:
    """The answer for one email: go now (at `at`), try again after `wait` seconds, or wait
    for `until` (the day's budget is spent, or the next slot is far off)."""

    wait: float | None = None  # seconds until a slot may be free; None: this one is yours
    at: float = 0.0  # when the slot is, in seconds on Redis's clock
    until: datetime | None = None  # set when the day's budget is spent or the wait is long
    reason: str = ""


# KEYS: the spacing keys, then the day keys. ARGV: max wait (ms), the number of spacing
# keys, each spacing interval (ms), then each day's budget.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max_wait = tonumber(ARGV[1])
local peek = max_wait < 0
if peek then max_wait = -max_wait end
local spaced = tonumber(ARGV[2])
for i = spaced + 1, #KEYS do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used >= tonumber(ARGV[2 + i]) then return {-1, i - spaced} end
end
local slot = now
for i = 1, spaced do
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat > slot then slot = tat end
end
if slot - now > max_wait then return {2, slot - now} end
if peek then return {1, 0, now} end
if slot > now then return {0, slot - now} end
for i = 1, spaced do
  local interval = tonumber(ARGV[2 + i])
  redis.call('SET', KEYS[i], now + interval, 'PX', math.ceil(interval * 2) + 1000)
end
for i = spaced + 1, #KEYS do
  redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], 3 * 86400)
end
return {1, 0, now}
"""


class MailRate:
    """Takes a slot for each email before it is sent; shared through Redis."""

    @classmethod
    def on(cls, edge: Edge, limits: tuple[Limit, ...], max_wait: float = 10) -> MailRate:
        """The rate on the app's Redis edge: its fast-fail client, keys `tend:{RQ_QUEUE}:rate:…`."""
        return cls(edge.client, edge.key(), limits, max_wait)

    def __init__(self, redis: Redis, prefix: str, limits: tuple[Limit, ...], max_wait: float = 10):
        self.redis = redis
        self.prefix = prefix
        self.spacing = [lim for lim in limits if lim.seconds < DAY]
        self.days = [lim for lim in limits if lim.seconds >= DAY]
        self.max_wait_ms = int(max_wait * 1000)
        self._script = redis.register_script(_SCRIPT)

    def take(self, now: datetime) -> Slot:
        """A slot for one email sent at `now` (the job's time, pretended or real), taken
        when the email may go at once: this waits (sleeps) for it, up to the max wait.

        No slot is reserved ahead: the script grants one only at the moment it is free,
        so a sender that wakes up late does not squeeze the next one against it.
        """
        while True:
            slot = self._try(now)
            if slot.wait is None or slot.until is not None:
                return slot
            time.sleep(max(slot.wait, 0.001))  # Redis answers whole milliseconds

    def peek(self, now: datetime) -> Slot:
        """Whether an email may go soon, without taking a slot: `until` is set when the
        day's budget is spent or the next slot is further off than the max wait."""
        slot = self._try(now, take=False)
        return slot if slot.until is not None else Slot()

    def _try(self, now: datetime, *, take: bool = True) -> Slot:
        day = now.date()
        keys = [f"{self.prefix}:rate:{lim.text}" for lim in self.spacing]
        keys += [f"{self.prefix}:rate:{lim.text}:{day.isoformat()}" for lim in self.days]
        args = [self.max_wait_ms if take else -self.max_wait_ms, len(self.spacing)]
        args += [lim.seconds * 1000 * HEADROOM / lim.count for lim in self.spacing]
        args += [lim.count * lim.seconds // DAY for lim in self.days]
        code, value, *at = self._script(keys=keys, args=args)
        if code == 1:
            return Slot(at=at[0] / 1000 if at else 0.0)
        if code == 0:
            return Slot(wait=value / 1000)
        if code == -1:
            spent = self.days[int(value) - 1]
            midnight = datetime.combine(day, datetime.min.time(), tzinfo=now.tzinfo)
            return Slot(
                until=midnight + timedelta(days=1),
                reason=f"MAIL_RATE {spent.text}: the day's budget is spent",
            )
        return Slot(
            until=now + timedelta(milliseconds=int(value)),
            reason="MAIL_RATE: waiting for a free slot",
        )
