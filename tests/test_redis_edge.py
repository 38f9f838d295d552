"""The one Redis edge: one fast-fail client and cool-down for every user, one key namer."""

from __future__ import annotations

import socket
import threading
import time

import redis
from support import RedisServer, free_port, solution_from, work

from web import redis_edge

BLOG = "https://blog.example"


class SilentPort:
    """A TCP port that takes connections and never answers: a hung Redis, as its clients
    see it. It counts the connections made to it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"redis://127.0.0.1:{self.sock.getsockname()[1]}/0"
        self.accepted = 0
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def test_a_hung_redis_costs_one_timeout_per_cool_down_whoever_asks(make_app):
    silent = SilentPort()
    try:
        app = make_app(REDIS_URL=silent.url, SIGNUP_RATE_LIMIT="3/minute")
        client = app.test_client()
        codes = [
            client.post(
                "/api/subscribe", json={"name": "Ann", "email": f"a{i}@example.com"}
            ).status_code
            for i in range(5)
        ]
        assert codes == [202, 202, 202, 429, 429]  # counted in memory meanwhile
        health = client.get("/healthz")
        assert health.status_code == 503 and health.get_json()["checks"]["redis"].startswith("down")
        # The limiter, the queue, the metrics and the mailbox share were all asked for each
        # signup: one connection was tried, and its timeout kept every other call away.
        assert silent.accepted == 1
        edge = redis_edge.of(app)
        edge.clock = lambda: time.monotonic() + redis_edge.COOL_DOWN_SECONDS + 1  # later
        client.post("/api/subscribe", json={"name": "Ann", "email": "late@example.com"})
        assert silent.accepted == 2  # after the cool-down, Redis is asked again (once)
    finally:
        silent.close()


def test_every_key_tend_writes_is_named_by_the_edge(make_app):
    server = RedisServer(free_port())
    server.start()
    try:
        app = make_app(
            REDIS_URL=server.url,
            SIGNUP_CHALLENGE="pow",
            EMBED_ALLOWED_ORIGINS=BLOG,
            MAIL_RATE="100/second;1000/day",
            ADMIN_PASSWORD="correct horse battery staple",
        )
        client = app.test_client()
        body = {"name": "Ann", "email": "ann@example.com", "altcha": solution_from(client)}
        assert client.post("/api/subscribe", json=body, headers={"Origin": BLOG}).status_code == 202
        client.post("/api/subscribe", json={"name": "", "email": "x"}, headers={"Origin": BLOG})
        client.post("/admin/login", data={"password": "guess"})
        work(app)
        keys = {k.decode() for k in redis.Redis.from_url(server.url).keys("*")}
        prefix = redis_edge.of(app).key()
        ours = {k for k in keys if not k.startswith("rq:")}  # RQ names its own
        purposes = {k.removeprefix(prefix + ":").split(":")[0] for k in ours}
        assert all(k.startswith(prefix + ":") for k in ours), sorted(ours)
        assert {"spent", "limits", "metrics", "mailbox", "effort", "rate"} <= purposes
    finally:
        server.stop()
