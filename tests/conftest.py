"""Fixtures over the real parts: SQLite or PostgreSQL, Redis, and an SMTP server on loopback.

`TEND_TEST_DB=postgresql` runs the suite against PostgreSQL (default: SQLite).
`TEND_TEST_PG` is the server URL (default: the local one with trust auth).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from support import (
    BACKEND,
    PG_SERVER,
    REDIS_BASE,
    ROOT,
    PostgresServer,
    RedisServer,
    SMTPSink,
    env_for,
    free_port,
    worker_index,
)

from app import create_app
from models import db


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
    migrator = create_app(env_for(url, f"{REDIS_BASE}/15"))
    with migrator.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        db.engine.dispose()
    yield url
    if BACKEND == "postgresql":
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def redis_url():
    return f"{REDIS_BASE}/{10 + worker_index() % 5}"


@pytest.fixture(scope="session")
def smtp_server():
    sink = SMTPSink(port=free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def smtp(smtp_server):
    """The session's SMTP server on loopback, as new: running, empty, no fault set."""
    smtp_server.reset()
    return smtp_server


@pytest.fixture
def app_env(database_url, redis_url, smtp):
    """The environment a test app (or a worker process beside it) runs with."""

    def build(**extra):
        return env_for(database_url, redis_url, SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port, **extra)

    return build


@pytest.fixture(scope="session")
def worksheet_builds(tmp_path_factory):
    """Where test apps keep their worksheet builds: one per settings, shared by the session."""
    return tmp_path_factory.mktemp("worksheet")


@pytest.fixture
def make_app(database_url, redis_url, smtp, worksheet_builds):
    """Build an app on the test database, Redis and SMTP sink; keyword args are env variables."""
    made = []

    def build(**env):
        smtp_env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp.port}
        app = create_app(env_for(database_url, redis_url, **(smtp_env | env)))
        app.config["TESTING"] = True
        app.config["WORKSHEET_BUILD_DIR"] = str(worksheet_builds)
        made.append(app)
        return app

    yield build
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="session")
def database_engine(database_url):
    engine = sa.create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def clean_state(request):
    """Every test starts with empty tables: every table of the schema, so a new one is
    cleaned too. Redis needs no cleaning: each app names its own queue and rate-limit keys,
    so tests (and test runs) sharing a Redis never meet."""
    if "database_url" not in request.fixturenames:
        yield
        return
    engine = request.getfixturevalue("database_engine")
    yield
    tables = [table.name for table in reversed(db.metadata.sorted_tables)]  # children first
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


@pytest.fixture
def reliability():
    """Record a scenario's figures (in / sent / lost / duplicated) for docs/reliability.md."""
    out = ROOT / "artifacts" / "reliability.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)

    def record(scenario: str, sent_to: dict[str, int], expected: list[str]) -> dict:
        figures = {
            "scenario": scenario,
            "backend": BACKEND,
            "in": len(expected),
            "sent": sum(1 for e in expected if sent_to.get(e)),
            "lost": sum(1 for e in expected if not sent_to.get(e)),
            "duplicated": sum(1 for e in expected if sent_to.get(e, 0) > 1),
        }
        with out.open("a") as f:
            f.write(json.dumps(figures) + "\n")
        print("RELIABILITY", json.dumps(figures))
        return figures

    return record


@pytest.fixture
def redis_server():
    server = RedisServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def postgres_server():
    if not Path("/usr/lib/postgresql").is_dir():
        pytest.skip("PostgreSQL server binaries are not installed")
    root = Path(tempfile.mkdtemp(prefix="tend-pg-"))
    root.chmod(0o755)
    server = PostgresServer(root, free_port())
    server.init()
    server.start()
    yield server
    with contextlib.suppress(subprocess.CalledProcessError):
        server.stop()
    shutil.rmtree(root, ignore_errors=True)
