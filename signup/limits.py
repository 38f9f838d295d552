"""Signup rate limits (Flask-Limiter on Redis, in memory while Redis is down)."""

from __future__ import annotations

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(
    key_func=get_remote_address,
    in_memory_fallback_enabled=True,
    headers_enabled=True,
)


def signup_limit() -> str:
    return current_app.config["SIGNUP_RATE_LIMIT"]


def init_app(app) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    # Namespaced like the queue, so two deployments (or test runs) sharing a Redis don't mix.
    app.config.setdefault("RATELIMIT_KEY_PREFIX", f"tend:{app.config['RQ_QUEUE']}")
    app.config.setdefault(
        "RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
    )
    # The limiter is one object per process. Flask-Limiter keeps an earlier app's key prefix
    # and its "storage is down" state across init_app, which only a process building several
    # apps (the tests) meets; every app starts from its own settings and a live storage.
    limiter._key_prefix = ""
    limiter._storage_dead = False
    limiter.init_app(app)
