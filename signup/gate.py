"""The one Redis round trip before a signup is stored: the client's rate limit and the single
use of its proof, in one Lua script.

The limit is SIGNUP_RATE_LIMIT (`5/minute;50/day`), counted per client network (see
`web.limits.network_of`) in fixed windows that start with the client's first post, as
Flask-Limiter counted them before. The script reads every window, and only when none is full
spends the proof (`SET NX`, the key `web.spent` uses) and counts the post in each
window: a refused proof (a replay) still counts, a full window spends nothing.

While Redis does not answer, the windows are counted in this process's memory and the proof
is spent through `web.spent` (which falls back to the database): never unlimited, never
a 500. Redis is reached through the edge (`web.redis_edge`): its timeouts and cool-down.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache

from flask import current_app
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

from web import redis_edge, spent
from web.limits import signup_limit
from web.redis_edge import RedisDown

# KEYS: the client's windows, then (mode "spend") the single-use key.
# ARGV: the number of windows, the mode ("check", "count" or "spend"), the single-use key's
# expiry (Unix seconds), then each window's allowance and length in seconds.
_SCRIPT = """
local n = tonumber(ARGV[1])
for i = 1, n do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used >= tonumber(ARGV[2 + 2 * i]) then
    return {'limited', redis.call('TTL', KEYS[i])}
  end
end
if ARGV[2] == 'check' then return {'ok', 0} end
local fresh = true
if ARGV[2] == 'spend' then
  fresh = redis.call('SET', KEYS[n + 1], 1, 'NX', 'EXAT', ARGV[3])
end
for i = 1, n do
  if redis.call('INCR', KEYS[i]) == 1 then
    redis.call('EXPIRE', KEYS[i], ARGV[3 + 2 * i])
  end
end
if not fresh then return {'replay', 0} end
return {'ok', 0}
"""


class Mode(StrEnum):
    CHECK = "check"  # only whether the client may post (a post that does not count)
    COUNT = "count"  # check, then count the post (a refusal that still counts)
    SPEND = "spend"  # check, spend the proof, count the post (a signup about to be stored)


class Passage(StrEnum):
    OK = "ok"
    LIMITED = "limited"
    REPLAY = "replay"


@dataclass(frozen=True)
class Answer:
    passage: Passage
    retry_after: int | None = None  # seconds, when limited


@cache
def windows(limit: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(limit))


def _state() -> dict:
    state = current_app.extensions.get("tend.signup_gate")
    if state is None:
        state = {
            "script": redis_edge.current().client.register_script(_SCRIPT),
            "memory": FixedWindowRateLimiter(MemoryStorage()),
        }
        current_app.extensions["tend.signup_gate"] = state
    return state


def _window_key(network: str, item: RateLimitItem) -> str:
    return redis_edge.current().key("signup-limit", network, f"{item.amount}/{item.get_expiry()}")


def _spent_owed() -> bool:
    """Whether `web.spent` took keys in the database while Redis was away and has not
    copied them back yet: then it spends this proof itself, which copies them first."""
    return bool(current_app.extensions.get("tend.spent", {}).get("owed"))


def pass_(
    network: str, mode: Mode, *, now: datetime, spend: tuple[str, datetime] | None = None
) -> Answer:
    """Let one post of `network` through the limit, counting and spending as `mode` says.

    Raises SQLAlchemyError only when Redis and the database are both away (a spend must be
    recorded somewhere)."""
    items = windows(signup_limit())
    if mode is Mode.SPEND and (spend is None or _spent_owed()):
        answer = pass_(network, Mode.COUNT, now=now)
        taken = answer.passage is not Passage.OK or spend is None or spent.take(*spend, now=now)
        return answer if taken else Answer(Passage.REPLAY)
    state = _state()
    try:
        return redis_edge.current().call(
            lambda _redis: _in_redis(state, items, network, mode, spend)
        )
    except RedisDown:
        return _in_memory(state, items, network, mode, spend, now)


def _in_redis(state, items, network, mode: Mode, spend) -> Answer:
    keys = [_window_key(network, item) for item in items]
    expiry = 0
    if mode is Mode.SPEND:
        keys.append(spent.redis_key(spend[0]))  # the very key `web.spent` takes
        expiry = int(spend[1].timestamp())
    args: list = [len(items), str(mode), expiry]
    for item in items:
        args += [item.amount, item.get_expiry()]
    passage, ttl = state["script"](keys=keys, args=args)
    passage = Passage(passage.decode())
    return Answer(passage, max(1, ttl) if passage is Passage.LIMITED else None)


def _in_memory(state, items, network, mode: Mode, spend, now: datetime) -> Answer:
    counter: FixedWindowRateLimiter = state["memory"]
    for item in items:
        if not counter.test(item, network):
            reset = counter.get_window_stats(item, network).reset_time
            return Answer(Passage.LIMITED, max(1, math.ceil(reset - time.time())))
    if mode is Mode.CHECK:
        return Answer(Passage.OK)
    fresh = spent.take(spend[0], spend[1], now=now) if mode is Mode.SPEND else True
    for item in items:
        counter.hit(item, network)
    return Answer(Passage.OK if fresh else Passage.REPLAY)
