"""Real processes beside the test: flask commands, workers, a private Redis or PostgreSQL,
and a fresh database for a migration to start from."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis
import sqlalchemy as sa

from .env import BACKEND, PG_SERVER, ROOT


def flask_cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `flask --app app ARGS...` as a newcomer would, with `env` on top of ours."""
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def procfile_web_command() -> list[str]:
    """The Procfile's `web` line as argv, run with this venv's gunicorn and the repo's
    `gunicorn.conf.py` (so a test runs exactly what `make run` and the units run)."""
    line = next(
        line.removeprefix("web:")
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith("web:")
    )
    command = shlex.split(line)
    assert command[:3] == ["gunicorn", "--config", "gunicorn.conf.py"], command
    return [str(Path(sys.executable).parent / "gunicorn"), "--config", str(ROOT / command[2])] + (
        command[3:]
    )


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    """`flask --app app worker` as its own process, as the Procfile runs it."""
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "worker"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for(predicate, timeout: float = 30.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class RedisServer:
    """A private redis-server process on its own port, to stop and start at will."""

    def __init__(self, port: int):
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        assert wait_for(lambda: self._ping(), timeout=10)

    def _ping(self) -> bool:
        try:
            return redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGCONT)  # a hung one must still die
            self.process.kill()
            self.process.wait()
            self.process = None

    def hang(self) -> None:
        """SIGSTOP: the port still accepts connections, but nothing is ever answered."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def unhang(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


class PostgresServer:
    """A private PostgreSQL cluster in a temporary folder, to restart at will."""

    def __init__(self, root: Path, port: int):
        bindir = Path("/usr/lib/postgresql") / sorted(os.listdir("/usr/lib/postgresql"))[-1] / "bin"
        self.pg_ctl, self.initdb = str(bindir / "pg_ctl"), str(bindir / "initdb")
        self.root, self.port = root, port
        self.data = root / "data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def _as_postgres(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._as_postgres(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        self._as_postgres(
            self.pg_ctl,
            "-D",
            str(self.data),
            "-o",
            options,
            "-w",
            "-l",
            str(self.root / "log"),
            "start",
        )

    def stop(self) -> None:
        self._as_postgres(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")


@contextlib.contextmanager
def empty_database(tmp_path: Path):
    """A new, empty database on the backend under test (for a migration to start from),
    dropped afterwards; yields its URL."""
    if BACKEND != "postgresql":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    name = f"tend_mig_{uuid.uuid4().hex[:10]}"
    server = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with server.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()
