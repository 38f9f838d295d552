"""Fixtures over the real parts: SQLite or PostgreSQL, Redis, and an SMTP server on loopback.

`TEND_TEST_DB=postgresql` runs the suite against PostgreSQL (default: SQLite).
`TEND_TEST_PG` is the server URL (default: the local one with trust auth).
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPProtocol
from flask_migrate import upgrade

os.environ.setdefault("SECRET_KEY", "test-secret-key-that-is-long-enough-0123456789")

from app import create_app  # noqa: E402
from models import db  # noqa: E402

PG_SERVER = os.environ.get("TEND_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
REDIS_BASE = os.environ.get("TEND_TEST_REDIS", "redis://127.0.0.1:6379")
BACKEND = os.environ.get("TEND_TEST_DB", "sqlite")
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker_index() -> int:
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else 0


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """One migrated database per test session, built by `db upgrade` from the migrations."""
    if BACKEND == "postgresql":
        name = f"tend_test_{os.getpid()}"
        admin = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = f"{PG_SERVER}/{name}"
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'tend.db'}"
    migrator = create_app(_env(url, f"{REDIS_BASE}/15"))
    with migrator.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        db.engine.dispose()
    yield url
    if BACKEND == "postgresql":
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def redis_url():
    return f"{REDIS_BASE}/{10 + _worker_index() % 5}"


def _env(database_url: str, redis_url: str, **extra) -> dict[str, str]:
    env = {
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PUBLIC_BASE_URL": "https://tend.example",
        "MAIL_BACKEND": "smtp",
        "MAIL_FROM": "Career Notes <coach@tend.example>",
        "POSTAL_ADDRESS": "12 Garden Lane, Springfield, IL 62701",
        "SIGNUP_RATE_LIMIT": "10000/minute",
        "SIGNUP_MIN_SECONDS": "0",
        "RQ_QUEUE": f"tend-test-{uuid.uuid4().hex[:8]}",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    smtputf8: bool

    @property
    def message(self):
        return message_from_bytes(self.data, policy=policy.default)


@dataclass
class SMTPSink:
    """A real SMTP server on loopback; it can refuse recipients or be stopped and restarted."""

    port: int
    received: list[Received] = field(default_factory=list)
    reject: dict[str, str] = field(default_factory=dict)  # address -> SMTP reply
    lock: threading.Lock = field(default_factory=threading.Lock)
    controller: Controller | None = None
    enable_smtputf8: bool = True

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.reject:
            return self.reject[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    envelope.original_content or envelope.content,
                    envelope.smtp_utf8,
                )
            )
        return "250 Message accepted"

    def start(self) -> None:
        sink = self

        class Factory(Controller):
            def factory(self):
                return SMTPProtocol(
                    self.handler, enable_SMTPUTF8=sink.enable_smtputf8, decode_data=False
                )

        self.controller = Factory(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()
            self.controller = None

    def messages_to(self, address: str):
        return [r.message for r in self.received if address in r.rcpt_tos]


@pytest.fixture
def smtp():
    sink = SMTPSink(port=free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def make_app(database_url, redis_url, smtp):
    """Build an app on the test database, Redis and SMTP sink; keyword args are env variables."""
    made = []

    def build(**env):
        app = create_app(
            _env(database_url, redis_url, SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port, **env)
        )
        app.config["TESTING"] = True
        made.append(app)
        return app

    yield build
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(autouse=True)
def clean_state(request, redis_url):
    """Every test starts with empty tables and an empty Redis database."""
    redis.Redis.from_url(redis_url).flushdb()
    yield
    if "database_url" not in request.fixturenames:
        return
    url = request.getfixturevalue("database_url")
    engine = sa.create_engine(url)
    tables = ["deliveries", "consents", "suppressions", "subscribers", "settings"]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(sa.text(f"DELETE FROM {table}"))
    engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


def work(app) -> None:
    """Drain the queue with a real RQ worker in burst mode."""
    from workers.cli import run_worker

    with app.app_context():
        run_worker(burst=True)


def tick(app, now: datetime):
    from workers.dispatcher import tick as dispatch

    with app.app_context():
        try:
            return dispatch(now)
        finally:
            db.session.remove()


@pytest.fixture
def tmpdir_path():
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)
