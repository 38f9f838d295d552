"""Signup rate limits (Flask-Limiter on Redis, in memory while Redis is down)."""

from __future__ import annotations

import ipaddress
import math

from flask import current_app, g, request
from flask_limiter import Limiter


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
limiter = Limiter(
    key_func=client_network,
    in_memory_fallback_enabled=True,
    headers_enabled=False,
)


def signup_limit() -> str:
    return current_app.config["SIGNUP_RATE_LIMIT"]


def not_counted() -> None:
    """This post stored nothing because the reader has something to fix (a field, a "Did
    you mean"): it does not use up the client's allowance. A bot's refusal (the challenge,
    the honeypot, the origin, a bad token) still does."""
    g.signup_not_counted = True


def counted(_response) -> bool:
    """Flask-Limiter's `deduct_when`: every signup post counts but the ones `not_counted`."""
    return not g.get("signup_not_counted", False)


def retry_after(now: float) -> int | None:
    """Seconds until the limit this request broke lets it through again (None if unknown)."""
    try:
        broken = limiter.current_limit
        return None if broken is None else max(1, math.ceil(broken.window[0] - now))
    except Exception:  # the storage went away meanwhile: the 429 stands without the hint
        return None


def init_app(app) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    # Namespaced like the queue, so two deployments (or test runs) sharing a Redis don't mix.
    app.config.setdefault("RATELIMIT_KEY_PREFIX", f"tend:{app.config['RQ_QUEUE']}")
    # A hung Redis costs the first request two timeouts (the hit, then the health check
    # that finds it dead) before the in-memory fallback: 0.25 s each keeps it under 1 s.
    app.config.setdefault(
        "RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 0.25, "socket_timeout": 0.25}
    )
    # The limiter is one object per process. Flask-Limiter keeps an earlier app's key prefix
    # and its "storage is down" state across init_app, which only a process building several
    # apps (the tests) meets; every app starts from its own settings and a live storage.
    limiter._key_prefix = ""
    limiter._storage_dead = False
    limiter.init_app(app)
