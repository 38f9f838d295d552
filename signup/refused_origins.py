"""Refused origins you can see: a browser's post, preflight or challenge request from a page
whose origin may not embed the form.

Each is logged at WARNING with the origin and the route. The last `KEEP` distinct origins
are kept in Redis, where every web worker writes and the dashboard reads: a sorted set of
when each was last refused and a hash of how often, trimmed together by one script, so
neither grows however many origins a stranger makes up. Redis away costs the dashboard its
list, never the answer to the browser.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app

from signup.door import origin_of
from web import redis_edge
from web.redis_edge import RedisDown

KEEP = 10
ORIGIN_MAX = 200  # characters of an Origin kept; a longer one is no browser's
FORGET_SECONDS = 30 * 24 * 3600  # a list nobody added to for a month is dropped

# KEYS: last refused by origin (sorted set), counts by origin (hash).
# ARGV: the origin, the time (Unix seconds), how many origins to keep, the lists' lifetime.
_NOTE = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
local old = redis.call('ZRANGE', KEYS[1], 0, -(tonumber(ARGV[3]) + 1))
if #old > 0 then
  redis.call('ZREM', KEYS[1], unpack(old))
  redis.call('HDEL', KEYS[2], unpack(old))
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
"""


@dataclass(frozen=True)
class RefusedOrigin:
    origin: str
    count: int
    last_seen: datetime

    @property
    def fix(self) -> str:
        return fix_for(self.origin)


def fix_for(origin: str) -> str:
    """What the operator does about a refused origin, in one sentence."""
    if origin == "null":
        return (
            "a page opened from a file or a sandboxed frame has no origin: serve it over "
            "http(s) from an origin listed in EMBED_ALLOWED_ORIGINS"
        )
    if origin_of(origin) != origin:
        return "not a web page's origin (a script, not a browser, sent it): nothing to do"
    return f"add `{origin}` to EMBED_ALLOWED_ORIGINS"


def _keys() -> list[str]:
    edge = redis_edge.current()
    return [edge.key("refused-origins", "seen"), edge.key("refused-origins", "counts")]


def note(origin: str, route: str, *, now: datetime) -> None:
    """Log and remember one refusal of `origin` on `route` (a route pattern)."""
    origin = origin[:ORIGIN_MAX]
    current_app.logger.warning(
        "signup refused: origin %s may not post to %s (EMBED_ALLOWED_ORIGINS)",
        origin,
        route,
        extra={"origin": origin, "route": route},
    )
    keys = _keys()
    try:
        redis_edge.current().call(
            lambda redis: redis.eval(_NOTE, 2, *keys, origin, now.timestamp(), KEEP, FORGET_SECONDS)
        )
    except RedisDown:
        current_app.logger.debug("refused origin not kept: Redis unavailable")


def recent() -> list[RefusedOrigin]:
    """The last distinct refused origins, the latest first (empty while Redis is away)."""
    seen_key, counts_key = _keys()

    def read(redis):
        pipe = redis.pipeline(transaction=True)
        pipe.zrevrange(seen_key, 0, KEEP - 1, withscores=True)
        pipe.hgetall(counts_key)
        return pipe.execute()

    try:
        seen, counts = redis_edge.current().call(read)
    except RedisDown:
        current_app.logger.info("refused origins unavailable: Redis unavailable")
        return []
    return [
        RefusedOrigin(
            origin=origin.decode(),
            count=int(counts.get(origin, 0)),
            last_seen=datetime.fromtimestamp(score, UTC),
        )
        for origin, score in seen
    ]
