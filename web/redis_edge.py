"""The one Redis edge: every client of Redis in Tend, and every key it writes there.

**Timeouts.** A client gives up on connecting after `CONNECT_TIMEOUT` (0.25 s) and on any
one command after `COMMAND_TIMEOUT` (0.25 s). A live Redis answers what Tend asks in well
under a millisecond; these are how long a hung one (stopped, or behind a dead link) may
hold a request. The client makes no hidden round trips that would each time out: no
`CLIENT SETINFO` handshake on connect, no health-check `PING` before a command.

**Cool-down.** When Redis does not answer, this process leaves it alone for
`COOL_DOWN_SECONDS` (10 s): the signup path, the single-use store, the limiter and the
metrics counter skip it at once and take their fallback (the rows wait for the
dispatcher, the database, memory, no count), so a hung Redis costs one request one
timeout, not every request. The dispatcher's and `/healthz`'s own checks always ask, and
an answer ends the cool-down for everyone. The outage is logged once, and its end.

**Keys.** Everything Tend keeps in Redis is named `tend:{RQ_QUEUE}:<purpose>:…` (see
`Edge.key`), so two deployments, or two test runs, that share a Redis never meet. RQ names
its own job keys (`rq:job:<id>`); the queue is named by `RQ_QUEUE` itself.

One `Edge` per app (`of(app)`, `current()`): its client, its key namer, its cool-down.
The RQ worker's blocking pop is the one exception: it needs a long read timeout and has
its own client (`workers.cli`). This module imports nothing of Tend, so every layer may
use it: the web's shared concerns beside it, and the features (signup, admin, bounces,
workers) above.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError

CONNECT_TIMEOUT = 0.25
COMMAND_TIMEOUT = 0.25
COOL_DOWN_SECONDS = 10.0

log = logging.getLogger("tend.redis")
T = TypeVar("T")


def client_options() -> dict:
    """The keyword arguments of a fast-fail client (also handed to the limiter's storage)."""
    return {
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": COMMAND_TIMEOUT,
        "health_check_interval": 0,
        "driver_info": None,
    }


def connect(url: str) -> Redis:
    """A Redis client that gives up quickly, so no request hangs on a dead Redis."""
    return Redis.from_url(url, **client_options())


class RedisDown(RuntimeError):
    """Redis did not answer (now, or a moment ago): the caller takes its fallback."""

    already_logged = True  # the edge logs an outage once, and its end


class Edge:
    """One app's way to Redis: a fast-fail client, the key namer and the cool-down."""

    def __init__(self, url: str, namespace: str, *, clock: Callable[[], float] = time.monotonic):
        self.url = url
        self.namespace = namespace
        self.clock = clock  # seconds, for the cool-down (a test passes its own)
        self._client: Redis | None = None
        self._down_until = 0.0
        self._down_since: float | None = None

    @property
    def client(self) -> Redis:
        if self._client is None:
            self._client = connect(self.url)
        return self._client

    def key(self, *parts: str) -> str:
        """`tend:{RQ_QUEUE}` and the parts, joined by `:` (no parts: the prefix itself)."""
        return ":".join(("tend", self.namespace, *parts))

    @property
    def cooling(self) -> bool:
        """Whether Redis failed less than `COOL_DOWN_SECONDS` ago (so it is not asked)."""
        return self.clock() < self._down_until

    def failed(self, err: Exception) -> None:
        """Redis did not answer: start (or extend) the cool-down, and log a new outage."""
        self._down_until = self.clock() + COOL_DOWN_SECONDS
        if self._down_since is None:
            self._down_since = self.clock()
            log.warning("Redis unavailable (%s): falling back for %.0f s", err, COOL_DOWN_SECONDS)

    def answered(self) -> None:
        """Redis answered: the cool-down ends; a known outage is logged as over."""
        self._down_until = 0.0
        if self._down_since is not None:
            log.warning("Redis is back after %.0f s", self.clock() - self._down_since)
            self._down_since = None

    def call(self, work: Callable[[Redis], T], *, skip_while_down: bool = True) -> T:
        """`work(client)`, or `RedisDown` (at once while cooling down, unless told to ask)."""
        if skip_while_down and self.cooling:
            raise RedisDown("Redis did not answer a moment ago")
        try:
            result = work(self.client)
        except RedisError as err:
            self.failed(err)
            raise RedisDown(str(err)) from err
        self.answered()
        return result


def of(app: Flask) -> Edge:
    """The app's edge, made on first use from `REDIS_URL` and `RQ_QUEUE`."""
    edge = app.extensions.get("tend.redis")
    if edge is None:
        # The cool-down's clock: `tend.monotonic` when the app is given one (a test that
        # moves time on instead of sleeping), else the process's monotonic clock.
        edge = Edge(
            app.config["REDIS_URL"],
            app.config["RQ_QUEUE"],
            clock=lambda: app.extensions.get("tend.monotonic", time.monotonic)(),
        )
        app.extensions["tend.redis"] = edge
    return edge


def current() -> Edge:
    """The edge of the app in context."""
    return of(current_app)
