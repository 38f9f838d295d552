"""Rate limits (Flask-Limiter) on the Redis edge, counted in memory while Redis cools down.

The counts live in Redis under `tend:{RQ_QUEUE}:limits:…`, through the edge's fast-fail
client; while the edge cools down (`web.redis_edge`: 0.25 s timeouts, 10 s cool-down) each
process counts in its own memory, then goes back to Redis. Flask-Limiter sees a storage
that always answers, so none of its own fallback (or its private state) is used.
"""

from __future__ import annotations

import ipaddress
import math

from flask import current_app, g, request
from flask_limiter import Limiter
from limits import parse_many
from limits.storage import MemoryStorage, RedisStorage, Storage
from redis.exceptions import RedisError

from web import redis_edge
from web.redis_edge import Edge, RedisDown


def network_of(address: str | None) -> str:
    """What one client is, for counting: an IPv4 address, or the /64 of an IPv6 address.

    An ISP hands a household (and a host a server) a whole /64, so counting single IPv6
    addresses would give one client 2**64 allowances. An IPv4 address written as IPv6
    (`::ffff:203.0.113.9`) counts as itself.
    """
    try:
        ip = ipaddress.ip_address((address or "").split("%", 1)[0])
    except ValueError:
        return address or "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def client_network() -> str:
    """The requesting client, as limits count it (see `network_of`)."""
    return network_of(request.remote_addr)


# No X-RateLimit-* headers on every answer: they cost a Redis round trip per signup, and
# only a refused client needs to know when to come back (Retry-After, see `retry_after`).
limiter = Limiter(key_func=client_network, headers_enabled=False)


def signup_limit() -> str:
    return current_app.config["SIGNUP_RATE_LIMIT"]


class EdgeStorage(Storage):
    """The limits' storage: Redis through the edge, or this process's memory while it cools
    down. Registered with `limits` as the `tend-edge://` scheme (its public extension)."""

    STORAGE_SCHEME = ["tend-edge"]

    def __init__(self, uri: str, edge: Edge, wrap_exceptions: bool = False, **_options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        self.edge = edge
        self.redis = RedisStorage(
            edge.url, connection_pool=edge.client.connection_pool, key_prefix=edge.key("limits")
        )
        self.memory = MemoryStorage("memory://")

    @property
    def base_exceptions(self) -> type[Exception]:
        return RedisError

    def _either(self, name: str, *args):
        try:
            return self.edge.call(lambda _client: getattr(self.redis, name)(*args))
        except RedisDown:
            return getattr(self.memory, name)(*args)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return self._either("incr", key, expiry, amount)

    def get(self, key: str) -> int:
        return self._either("get", key)

    def get_expiry(self, key: str) -> float:
        return self._either("get_expiry", key)

    def clear(self, key: str) -> None:
        self._either("clear", key)

    def check(self) -> bool:
        return True  # it always answers: from Redis, or from memory

    def reset(self) -> int | None:
        self.memory.reset()
        return self._either("reset")


def not_counted() -> None:
    """This post stored nothing because the reader has something to fix (a field, a "Did
    you mean"): it does not use up the client's allowance. A bot's refusal (the challenge,
    the honeypot, the origin, a bad token) still does."""
    g.signup_not_counted = True


def counted(_response) -> bool:
    """Flask-Limiter's `deduct_when`: every signup post counts but the ones `not_counted`."""
    return not g.get("signup_not_counted", False)


def spend(limits_text: str, *identifiers: str) -> bool:
    """Count one against each of `limits_text`'s limits (`5/minute;20/hour`) for
    `identifiers`, outside any route's decorator; False when one of them was already full."""
    outcomes = [limiter.limiter.hit(item, *identifiers) for item in parse_many(limits_text)]
    return all(outcomes)


def room(limits_text: str, *identifiers: str) -> bool:
    """Whether each of the limits has room for one more (counts nothing)."""
    return all(limiter.limiter.test(item, *identifiers) for item in parse_many(limits_text))


def counted_any(limits_text: str, *identifiers: str) -> bool:
    """Whether anything is counted for `identifiers` in a window of these limits now."""
    return any(
        limiter.limiter.get_window_stats(item, *identifiers).remaining < item.amount
        for item in parse_many(limits_text)
    )


def retry_after(now: float) -> int | None:
    """Seconds until the limit this request broke lets it through again (None if unknown)."""
    try:
        broken = limiter.current_limit
        return None if broken is None else max(1, math.ceil(broken.window[0] - now))
    except Exception:  # the storage went away meanwhile: the 429 stands without the hint
        return None


def init_app(app) -> None:
    """Count `app`'s limits on its Redis edge (keys namespaced like the queue, so two
    deployments or test runs sharing a Redis don't mix)."""
    app.config["RATELIMIT_STORAGE_URI"] = "tend-edge://"
    app.config["RATELIMIT_STORAGE_OPTIONS"] = {"edge": redis_edge.of(app)}
    limiter.init_app(app)
