"""One list served by workers on two hosts, one of which loses its link mid-run.

Real hosts on this machine: network namespaces joined by veth pairs to a bridge, with
addresses in 198.18.0.0/24 (the benchmarking range) and no route out. Host A runs the web,
a worker and a clock; host B a worker and a second clock; PostgreSQL and Redis run on a
data host, the SMTP sink on a fourth. Every process reaches the others over the veth
addresses; only the test itself reads the database and Redis, over their Unix sockets.
Needs root (CI runs it as root); elsewhere it is skipped, saying why.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from support import ROOT, add_due_drip_rows, env_for, wait_for

from app import create_app
from models import Delivery, DeliveryStatus, db, utcnow

pytestmark = pytest.mark.slow

ROWS = 2000
RATE = 40  # MAIL_RATE, per second
LEASE = 30  # SEND_LEASE_SECONDS
CONNECTIONS = 4  # SMTP_CONNECTIONS of each worker
ADDRESSES = {"a": "198.18.0.1", "b": "198.18.0.2", "data": "198.18.0.3", "sink": "198.18.0.4"}
PG_PORT, REDIS_PORT, SMTP_PORT, WEB_PORT = 5432, 6379, 2525, 8000

SINK = textwrap.dedent(
    """
    import json, sys, time
    from email.parser import BytesHeaderParser
    from aiosmtpd.controller import Controller

    host, port, out = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], "a", buffering=1)

    class Keep:
        async def handle_DATA(self, server, session, envelope):
            headers = BytesHeaderParser().parsebytes(envelope.original_content or envelope.content)
            for rcpt in envelope.rcpt_tos:
                out.write(json.dumps({"t": time.time(), "to": rcpt, "from": session.peer[0],
                                      "id": headers.get("Message-ID", "")}) + "\\n")
            return "250 OK"

    controller = Controller(Keep(), hostname=host, port=port, ready_timeout=30)
    controller.start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)
    """
)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def _can_make_namespaces() -> str:
    """Why namespaces can't be made here, or "" when they can."""
    if os.geteuid() != 0:
        return "needs root to make network namespaces (CI runs it as root)"
    if not shutil.which("ip"):
        return "needs iproute2's `ip`"
    if not Path("/usr/lib/postgresql").is_dir() or not shutil.which("redis-server"):
        return "needs PostgreSQL server binaries and redis-server"
    probe = f"tend-probe-{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except (subprocess.CalledProcessError, OSError) as err:
        return f"cannot make a network namespace here: {err}"
    _ip("netns", "del", probe)
    return ""


class Hosts:
    """The namespaces, the bridge between them, and every process started inside them."""

    def __init__(self, root: Path):
        tag = f"t{os.getpid() % 100000}"
        self.root = root
        self.switch = f"{tag}-sw"
        self.ns = {name: f"{tag}-{name}" for name in ADDRESSES}
        self.procs: list[subprocess.Popen] = []

    def make(self) -> None:
        _ip("netns", "add", self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        for i, (name, address) in enumerate(ADDRESSES.items()):
            ns = self.ns[name]
            _ip("netns", "add", ns)
            port = f"p{i}"
            _ip("-n", self.switch, "link", "add", port, "type", "veth", "peer", "eth0", "netns", ns)
            _ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
            _ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")

    def link(self, name: str, state: str) -> None:
        _ip("-n", self.ns[name], "link", "set", "eth0", state)

    def start(self, name: str, args: list[str], env: dict | None, log: str, user: str = ""):
        prefix = ["runuser", "-u", user, "--"] if user else []
        out = (self.root / log).open("ab")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns[name], *prefix, *args],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def run(self, name: str, args: list[str], user: str = "") -> None:
        prefix = ["runuser", "-u", user, "--"] if user else []
        subprocess.run(
            ["ip", "netns", "exec", self.ns[name], *prefix, *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def tails(self) -> str:
        """The end of every log, for a failure's message."""
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-1500:]}"
            for log in sorted(self.root.glob("*.log"))
        )

    def remove(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        for ns in [*self.ns.values(), self.switch]:
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("netns", "del", ns)


def _start_data(hosts: Hosts) -> tuple[str, str]:
    """PostgreSQL and Redis on the data host; their Unix sockets for the test's own reads."""
    root = hosts.root
    bindir = Path("/usr/lib/postgresql") / sorted(os.listdir("/usr/lib/postgresql"))[-1] / "bin"
    shutil.chown(root, "postgres")
    initdb = [str(bindir / "initdb"), "-D", str(root / "pg"), "-A", "trust", "-U", "postgres"]
    hosts.run("data", initdb, user="postgres")
    with (root / "pg" / "pg_hba.conf").open("a") as hba:  # the hosts, over the veth only
        hba.write("host all all 198.18.0.0/24 trust\n")
    options = (
        f"-p {PG_PORT} -c listen_addresses={ADDRESSES['data']} -k {root} -c fsync=off "
        "-c max_connections=200"
    )
    hosts.run(
        "data",
        [str(bindir / "pg_ctl"), "-D", str(root / "pg"), "-o", options, "-w"]
        + ["-l", str(root / "pg.log"), "start"],
        user="postgres",
    )
    redis_socket = root / "redis.sock"
    hosts.start(
        "data",
        ["redis-server", "--port", str(REDIS_PORT), "--bind", ADDRESSES["data"]]
        + ["--unixsocket", str(redis_socket), "--unixsocketperm", "777"]
        + ["--protected-mode", "no", "--save", "", "--appendonly", "no"],
        None,
        "redis.log",
    )
    assert wait_for(redis_socket.exists, timeout=20)
    return (
        f"postgresql+psycopg://postgres@/postgres?host={root}&port={PG_PORT}",
        f"unix://{redis_socket}?db=0",
    )


def _sent(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def _ticks(path: Path) -> list[dict]:
    """The clock's tick lines (JSON logs) with their counts."""
    ticks = []
    for line in path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and str(entry.get("message", "")).startswith("tick:"):
                ticks.append(entry)
    return ticks


@pytest.fixture
def hosts():
    if os.environ.get("TEND_TEST_DB", "sqlite") != "postgresql":
        pytest.skip("runs once, in the PostgreSQL pass: the hosts share a PostgreSQL of their own")
    why = _can_make_namespaces()
    if why:
        pytest.skip(why)
    root = Path(tempfile.mkdtemp(prefix="tend-two-hosts-"))
    root.chmod(0o755)
    made = Hosts(root)
    try:
        made.make()
        yield made
    finally:
        made.remove()
        with contextlib.suppress(subprocess.CalledProcessError):
            pg_ctl = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))[-1]
            subprocess.run(
                ["runuser", "-u", "postgres", "--", str(pg_ctl), "-D", str(root / "pg")]
                + ["-m", "immediate", "stop"],
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(root, ignore_errors=True)


def _envs(database_url: str, redis_url: str) -> tuple[dict, dict]:
    """The test's own environment (Unix sockets) and the hosts' (the veth addresses)."""
    settings = {
        "MAIL_RATE": f"{RATE}/second",
        "SEND_LEASE_SECONDS": str(LEASE),
        "SMTP_CONNECTIONS": str(CONNECTIONS),
        "DRIP_WINDOW": "00:00-23:59",
        "DRIP_DAYS": "Mon-Sun",
        "SMTP_HOST": ADDRESSES["sink"],
        "SMTP_PORT": str(SMTP_PORT),
    }
    local = env_for(database_url, redis_url, **settings)
    remote = local | {
        "DATABASE_URL": f"postgresql+psycopg://postgres@{ADDRESSES['data']}:{PG_PORT}/postgres",
        "REDIS_URL": f"redis://{ADDRESSES['data']}:{REDIS_PORT}/0",
    }
    return local, remote


def _start_hosts(hosts: Hosts, remote: dict, sent: Path) -> None:
    """The sink on its host; web, worker and clock on A; worker and clock on B."""
    sink = [sys.executable, "-c", SINK, ADDRESSES["sink"], str(SMTP_PORT), str(sent)]
    hosts.start("sink", sink, None, "sink.log")
    assert wait_for(lambda: "ready" in (hosts.root / "sink.log").read_text(), timeout=30)
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    web = [*flask, "run", "--host", ADDRESSES["a"], "--port", str(WEB_PORT)]
    hosts.start("a", web, remote, "a-web.log")
    for host in ("a", "b"):
        hosts.start(host, [*flask, "worker"], remote, f"{host}-worker.log")
        hosts.start(host, [*flask, "drip", "clock", "--interval", "2"], remote, f"{host}-clock.log")


def _check_sink(messages: list[dict], cut: float, reliability) -> None:
    copies = collections.Counter(m["to"] for m in messages)
    ids = collections.defaultdict(set)
    for m in messages:
        ids[m["to"]].add(m["id"])
    expected = [f"r{i}@example.com" for i in range(ROWS)]
    figures = reliability(
        "two hosts, host B's link down past its lease (2,000 at 40/second)", copies, expected
    )
    per_second = collections.Counter(int(m["t"]) for m in messages)
    by_host = collections.Counter(
        (m["from"], "before the cut" if m["t"] < cut else "after") for m in messages
    )
    print("TWO HOSTS", dict(by_host), "busiest second:", max(per_second.values()))
    assert figures["lost"] == 0
    # Only what host B had in flight when its link went: at most one per SMTP connection,
    # sent again with the same Message-ID.
    assert figures["duplicated"] <= CONNECTIONS, [e for e in expected if copies[e] > 1]
    assert all(len(ids[e]) == 1 for e in expected)
    assert max(per_second.values()) <= RATE, per_second.most_common(3)
    assert any(m["from"] == ADDRESSES["a"] and m["t"] > cut for m in messages)


def _check_clocks(hosts: Hosts, back: float) -> None:
    """Both clocks ticked (B's again once its link was back). Which of them queues the
    rows is a race (one tick may claim all 2,000), so neither is required to. A row queued
    by both would reach the sink twice, which `_check_sink` rules out; the clocks' own
    counts can't show it, since a row put back (a retry, a lease run out) is queued again
    by design."""
    ticks = {h: _ticks(hosts.root / f"{h}-clock.log") for h in ("a", "b")}
    queued = {h: sum(t.get("queued", 0) for t in ticks[h]) for h in ticks}
    taken_back = sum(t.get("reclaimed", 0) for h in ticks for t in ticks[h])
    print("TWO HOSTS ticks:", {h: len(ticks[h]) for h in ticks}, "queued:", queued, end=" ")
    print("taken back:", taken_back)
    assert ticks["a"] and ticks["b"] and queued["a"] + queued["b"] >= ROWS
    after = [t for t in ticks["b"] if datetime.fromisoformat(t["ts"]).timestamp() > back]
    assert after, "host B's clock did not tick again once its link was back"


def test_two_hosts_one_losing_its_link_past_its_lease_lose_nothing(hosts, redis_url, reliability):
    # The test's own app only migrates and adds the rows, on the data host's Unix socket;
    # it is built with the suite's Redis, which no host can reach.
    database_url, _socket = _start_data(hosts)
    local, remote = _envs(database_url, redis_url)
    app = create_app(local)
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        db.session.remove()
    add_due_drip_rows(app, ROWS, utcnow() - timedelta(minutes=1))
    sent = hosts.root / "sent.jsonl"
    _start_hosts(hosts, remote, sent)

    def from_b() -> int:
        return sum(1 for m in _sent(sent) if m["from"] == ADDRESSES["b"])

    assert wait_for(lambda: from_b() >= 100, timeout=120, step=0.2), (
        f"host B sent {from_b()} of {len(_sent(sent))}\n{hosts.tails()}"
    )
    hosts.link("b", "down")  # no clean shutdown: B's connections just stop answering
    cut = time.time()
    time.sleep(LEASE + 15)  # past B's lease: host A's clock takes B's rows back
    hosts.link("b", "up")
    back = time.time()
    assert wait_for(lambda: len({m["to"] for m in _sent(sent)}) >= ROWS, timeout=300, step=0.5), (
        hosts.tails()
    )
    time.sleep(10)  # what host B still had in flight lands now, if it lands; B's clock ticks

    _check_sink(_sent(sent), cut, reliability)
    _check_clocks(hosts, back)
    with app.app_context():
        done = db.session.execute(
            sa.select(Delivery.status, sa.func.count()).group_by(Delivery.status)
        ).all()
        db.session.remove()
        db.engine.dispose()
    assert dict(done) == {DeliveryStatus.SENT: ROWS}
