"""Shared plumbing for the bench scripts: databases, processes, memory, tables.

Every bench builds what it measures on loopback and takes it down again: a PostgreSQL
database with a unique name (created, migrated with `db upgrade`, dropped), a Redis queue
with a unique name (emptied), and its servers as child processes on free ports.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PG_SERVER = os.environ.get(
    "TEND_BENCH_PG", os.environ.get("TEND_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
)
REDIS_URL = os.environ.get("TEND_BENCH_REDIS", "redis://127.0.0.1:6379/9")  # if no redis-server
SECRET_KEY = "bench-secret-key-that-is-long-enough-0123456789abcdef"
PYTHON = sys.executable
VENV_BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """A console script of this environment (gunicorn, flask), else the one on PATH."""
    local = VENV_BIN / name
    return str(local) if local.exists() else (shutil.which(name) or name)


def unique(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


# ---- PostgreSQL ---------------------------------------------------------------------------


def _admin_engine():
    import sqlalchemy as sa

    return sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")


def libpq_url(sqlalchemy_url: str) -> str:
    """The same database as a plain libpq URL (for psycopg.connect)."""
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def tend_env(database_url: str, redis_url: str, queue: str, **extra: object) -> dict[str, str]:
    """Environment for a Tend process (web, worker, tick) in a bench."""
    env = {
        "SECRET_KEY": SECRET_KEY,
        "FLASK_DEBUG": "0",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "RQ_QUEUE": queue,
        "PUBLIC_BASE_URL": "https://tend.bench.example",
        "MAIL_FROM": "Career Notes <coach@tend.bench.example>",
        "POSTAL_ADDRESS": "12 Garden Lane, Springfield, IL 62701",
        "MAIL_BACKEND": "smtp",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


@contextlib.contextmanager
def database(prefix: str, *, migrate: bool = True, keep: bool = False) -> Iterator[str]:
    """A fresh PostgreSQL database with a unique name, built by `db upgrade`; dropped after."""
    import sqlalchemy as sa

    name = unique(prefix)
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = f"{PG_SERVER}/{name}"
    try:
        if migrate:
            upgrade(url)
        yield url
    finally:
        if keep:
            print(f"kept database {name}", file=sys.stderr)
        else:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def upgrade(url: str) -> None:
    """`flask --app app db upgrade`, in process: the schema exactly as the migrations build it."""
    from flask_migrate import upgrade as migrate_upgrade

    from app import create_app
    from models import db

    app = create_app(tend_env(url, REDIS_URL, "bench-migrate"))
    with app.app_context():
        migrate_upgrade(directory=str(ROOT / "migrations"))
        db.engine.dispose()


# ---- Redis --------------------------------------------------------------------------------


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A private Redis on a free loopback port, so no one else's FLUSHALL reaches the bench.

    Uses TEND_BENCH_REDIS (or the local server's database 9) when it is set or when
    redis-server is not installed.
    """
    binary = shutil.which("redis-server")
    if os.environ.get("TEND_BENCH_REDIS") or not binary:
        yield REDIS_URL
        return
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="tend-bench-redis-")
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [binary, *args, "--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, proc=proc)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def clear_queue(redis_url: str, queue: str) -> None:
    """Empty a bench's RQ queue and drop its jobs and registries (other keys stay)."""
    from redis import Redis
    from rq import Queue

    conn = Redis.from_url(redis_url)
    try:
        q = Queue(queue, connection=conn)
        q.empty()
        for registry in (
            q.started_job_registry,
            q.finished_job_registry,
            q.failed_job_registry,
            q.deferred_job_registry,
            q.scheduled_job_registry,
            q.canceled_job_registry,
        ):
            ids = registry.get_job_ids()
            for start in range(0, len(ids), 1000):
                chunk = ids[start : start + 1000]
                conn.delete(*[f"rq:job:{j}" for j in chunk])
            conn.delete(registry.key)
        conn.srem("rq:queues", q.key)
    finally:
        conn.close()


# ---- processes and memory -----------------------------------------------------------------


def children(pid: int) -> list[int]:
    """Direct children of a process (e.g. a gunicorn master's workers)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return found


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in KiB."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time used so far by these processes (those still alive)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def postgres_backends(engine) -> list[int]:
    """Server processes serving the database of `engine` (its other clients included)."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            ).scalars()
        )


def loadavg() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def wait_all(procs: Sequence[subprocess.Popen], timeout: float) -> list[tuple[int, int, float]]:
    """Wait for children; for each: (exit code, peak RSS in KiB, CPU seconds).

    The peak is the kernel's VmHWM of the running program, sampled until it exits (the
    rusage maxrss of a child would also count this process's memory from before exec).
    """
    deadline = time.monotonic() + timeout
    peaks = {p.pid: 0 for p in procs}
    done: dict[int, tuple[int, int, float]] = {}
    while len(done) < len(procs):
        for p in procs:
            if p.pid in done:
                continue
            peaks[p.pid] = max(peaks[p.pid], memory_kib(p.pid).get("VmHWM", 0))
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                p.returncode = os.waitstatus_to_exitcode(status)
                done[p.pid] = (p.returncode, peaks[p.pid], usage.ru_utime + usage.ru_stime)
        if time.monotonic() > deadline:
            for p in procs:
                if p.pid not in done:
                    p.kill()
                    p.wait()
            raise TimeoutError(
                f"{len(procs) - len(done)} process(es) still running after {timeout}s"
            )
        time.sleep(0.02)
    return [done[p.pid] for p in procs]


def stop(proc: subprocess.Popen | None, timeout: float = 15.0) -> None:
    """Stop one child we started: SIGTERM, then SIGKILL after `timeout`."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def machine() -> str:
    mem_kib = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_kib / 1024 / 1024:.1f} GiB memory, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def self_peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# ---- output -------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (readable in a terminal, pasteable into RESULTS.md)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), sep, *(line(r) for r in cells[1:])])


def verdict(ok: bool) -> str:
    return "yes" if ok else "MISSED"


def header(title: str, argv: Sequence[str]) -> None:
    print(f"# {title}")
    print(f"machine: {machine()}")
    print(f"command: {' '.join(['python', *argv])}")
    print(f"started: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, load average {loadavg()}")
    print(flush=True)


def solutions(count: int) -> list[str]:
    """`count` challenge solutions, each for its own challenge, made without solving."""
    from signup import challenge

    now = datetime.now(UTC)
    made = []
    for _ in range(count):
        number = secrets.randbelow(challenge.MAX_NUMBER + 1)
        issued = challenge.issue(SECRET_KEY, now, number=number)
        body = {k: issued[k] for k in ("algorithm", "challenge", "salt", "signature")}
        made.append(base64.b64encode(json.dumps(body | {"number": number}).encode()).decode())
    return made
