"""Sending throughput: due drip deliveries -> `drip tick` -> RQ workers -> an SMTP sink.

A fresh PostgreSQL database gets `--count` active subscribers with one due drip delivery
each (bulk-inserted). The dispatcher ticks (in this process, `workers.dispatcher.tick`)
until nothing more is due, then `flask --app app worker --burst` processes drain the queue
into an SMTP sink on loopback in its own process (bench/smtp_sink.py, aiosmtpd).
The baseline, measured right before each Tend run in the same invocation (so both meet the
machine at the same speed), is a plain smtplib loop sending as many pre-built messages (the
same email, as Tend renders it) over one connection to the same kind of sink.

    .venv/bin/python bench/bench_sending.py [--count 20000] [--workers 1,2]
    .venv/bin/python bench/bench_sending.py --relay-latency-ms 20 [--count 1000]

Targets on loopback: one worker >= 0.5 x baseline, two workers >= 0.9 x baseline
(rendering, bookkeeping and RQ included), every delivery sent once, a worker's peak RSS
<= 100 MB.

With `--relay-latency-ms N` the sink answers every SMTP command N ms late (a distant
relay; the answers are delayed on the way out, in order, as a network would). Targets:
one Tend worker (SMTP_CONNECTIONS, PIPELINING) >= 4 x the one-connection smtplib
baseline; with MAIL_RATE=50/second and three workers, a mean of >= 45/s at the sink and
no 1 s window over 50.
"""

from __future__ import annotations

import argparse
import json
import os
import smtplib
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import benchlib
import sqlalchemy as sa

TARGETS = {1: 0.5, 2: 0.9}
RSS_LIMIT_MB = 100.0
MAIL_FROM = "coach@tend.bench.example"


class Sink:
    """bench/smtp_sink.py in its own process on a free port."""

    def __init__(self, workdir: Path, latency_ms: float = 0.0):
        self.port = benchlib.free_port()
        self.stats = workdir / f"sink-{self.port}.json"
        self.proc = subprocess.Popen(
            [
                benchlib.PYTHON,
                str(benchlib.BENCH / "smtp_sink.py"),
                "--port",
                str(self.port),
                "--stats",
                str(self.stats),
                "--latency-ms",
                str(latency_ms),
            ]
        )
        benchlib.wait_port(self.port, proc=self.proc)

    def finish(self) -> dict:
        self.proc.terminate()
        ((_, _, cpu),) = benchlib.wait_all([self.proc], 60)
        result = json.loads(self.stats.read_text())
        result["cpu"] = cpu
        return result

    def kill(self) -> None:
        benchlib.stop(self.proc, 5)


def populate(engine, count: int, now) -> None:
    """`count` active subscribers, each with one drip delivery due ten days ago."""
    anchor = now - timedelta(days=40)
    due = now - timedelta(days=10)
    salt = uuid.uuid4().hex
    naive = {"anchor": anchor.replace(tzinfo=None), "due": due.replace(tzinfo=None)}
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "TRUNCATE deliveries, consents, suppressions, subscribers, settings, mail_events "
                "RESTART IDENTITY CASCADE"
            )
        )
        conn.execute(
            sa.text(
                """
                INSERT INTO subscribers (public_id, email, email_key, name, status, timezone,
                    job_status, started_job_on, anchor_at, confirmed_at, soft_bounces,
                    created_at, updated_at)
                SELECT substr(md5(:salt || g), 1, 16), 'reader' || g || '@example.com',
                    'reader' || g || '@example.com', 'Reader ' || g, 'active', 'UTC',
                    'started', CAST(CAST(:anchor AS timestamp) AS date), :anchor, :anchor, 0, :anchor,
                    :anchor
                FROM generate_series(1, :n) AS g
                """
            ),
            {"n": count, "salt": salt, **naive},
        )
        conn.execute(
            sa.text(
                """
                INSERT INTO deliveries (subscriber_id, step, kind, status, due_at, attempts,
                    message_id, created_at, updated_at)
                SELECT id, 'month-1', 'drip', 'scheduled', :due, 0,
                    '<' || md5(:salt || id) || '.tend@tend.bench.example>', :anchor, :anchor
                FROM subscribers ORDER BY id
                """
            ),
            {"salt": salt, **naive},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE subscribers"))
        conn.execute(sa.text("VACUUM ANALYZE deliveries"))


def prebuilt_messages(app, count: int) -> list[tuple[str, bytes]]:
    """`count` ready messages: Tend's own month-1 email, each with its own address and id."""
    from campaigns.compose import Recipient, compose
    from campaigns.render import Sender
    from models import Status, utcnow

    with app.app_context():
        reader = Recipient(
            name="Reader 1",
            address="reader1@example.com",
            public_id="0123456789abcdef",
            status=Status.ACTIVE,
            message_id="<BENCH-MESSAGE-ID>",
            job_status="started",
            started_on="2027-01-15",
        )
        step = app.extensions["tend.sequence"].step("month-1")
        template = compose(reader, step, Sender.from_config(app.config), utcnow()).data
    out = []
    for i in range(1, count + 1):
        address = f"reader{i}@example.com"
        data = template.replace(b"<BENCH-MESSAGE-ID>", f"<{i:024x}.tend@bench>".encode())
        out.append((address, data.replace(b"reader1@example.com", address.encode())))
    return out


def baseline(messages: list[tuple[str, bytes]], workdir: Path, latency_ms: float = 0.0) -> dict:
    sink = Sink(workdir, latency_ms)
    try:
        cpu = time.process_time()
        started = time.perf_counter()
        conn = smtplib.SMTP("127.0.0.1", sink.port, timeout=30)
        conn.ehlo()
        for address, data in messages:
            conn.sendmail(MAIL_FROM, [address], data)
        conn.quit()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    except BaseException:
        sink.kill()
        raise
    stats = sink.finish()
    return {"elapsed": elapsed, "client_cpu": cpu, "sink": stats}


def tend(
    app,
    engine,
    env: dict,
    count: int,
    workers: int,
    workdir: Path,
    timeout: float,
    latency_ms: float = 0.0,
) -> dict:
    from models import db, utcnow
    from workers.dispatcher import tick

    now = utcnow()
    populate(engine, count, now)
    sink = Sink(workdir, latency_ms)
    procs: list[subprocess.Popen] = []
    try:
        env = {**os.environ, **env, "SMTP_PORT": str(sink.port)}
        started = time.perf_counter()
        queued = deferred = ticks = 0
        with app.app_context():
            try:
                # Each pass claims at most DISPATCH_LIMIT rows; the clock would tick again.
                for _ in range(count // 1000 + 3):
                    result = tick(utcnow())
                    ticks += 1
                    queued += result.queued
                    deferred += result.deferred
                    if not result.queued or not result.handed_over:
                        break
            finally:
                db.session.remove()
        ticked = time.perf_counter()
        for _ in range(workers):
            procs.append(
                subprocess.Popen(
                    [benchlib.tool("flask"), "--app", "app", "worker", "--burst"],
                    cwd=benchlib.ROOT,
                    env=env,
                )
            )
        usage = benchlib.wait_all(procs, timeout)
        elapsed = time.perf_counter() - started
    except BaseException:
        for p in procs:
            benchlib.stop(p, 5)
        sink.kill()
        raise
    stats = sink.finish()
    with engine.connect() as conn:
        states = dict(
            conn.execute(sa.text("SELECT status, count(*) FROM deliveries GROUP BY status")).all()
        )
        stored_ids = set(conn.execute(sa.text("SELECT message_id FROM deliveries")).scalars())
    return {
        "elapsed": elapsed,
        "tick": ticked - started,
        "ticks": ticks,
        "queued": queued,
        "deferred": deferred,
        "exit_codes": [u[0] for u in usage],
        "peak_rss_kib": max(u[1] for u in usage),
        "worker_cpu": sum(u[2] for u in usage),
        "sink": stats,
        "states": states,
        "ids_match": set(stats["ids"]) == stored_ids,
    }


def busiest_second(times: list[float]) -> int:
    """The most messages that arrived within any one second (a sliding window)."""
    times = sorted(times)
    most = start = 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def main_distant(args) -> int:
    """`--relay-latency-ms`: the baseline, one worker, and three workers under MAIL_RATE."""
    from app import create_app
    from models import db

    latency = args.relay_latency_ms
    count = args.count or 1000
    benchlib.header(f"Sending to a relay {latency:g} ms away", sys.argv)
    queue = benchlib.unique("bench-sending")
    workdir = Path(tempfile.mkdtemp(prefix="tend-bench-sending-"))
    results = []
    with benchlib.redis_server() as redis_url, benchlib.database("tend_bench_sending") as url:
        extra = {"DRIP_WINDOW": "00:00-24:00", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": "25"}
        env = benchlib.tend_env(url, redis_url, queue, **extra)
        app = create_app(env)
        engine = sa.create_engine(url)
        print(
            f"{count} deliveries; SEND_BATCH_SIZE {app.config['SEND_BATCH_SIZE']}; "
            f"SMTP_CONNECTIONS {app.config['SMTP_CONNECTIONS']}; sink answers {latency:g} ms "
            f"late; load average {benchlib.loadavg()}",
            flush=True,
        )
        try:
            messages = prebuilt_messages(app, count)
            for workers, rate in ((1, ""), (3, "50/second")):
                base = baseline(messages, workdir, latency)
                print(f"  baseline: {count / base['elapsed']:8.1f} msg/s", flush=True)
                benchlib.clear_queue(redis_url, queue)
                run_env = env | ({"MAIL_RATE": rate} if rate else {})
                run = tend(app, engine, run_env, count, workers, workdir, args.timeout, latency)
                print(f"  {workers} worker(s): {count / run['elapsed']:8.1f} msg/s", flush=True)
                results.append((workers, rate, base, run))
        finally:
            engine.dispose()
            with app.app_context():
                db.engine.dispose()
            benchlib.clear_queue(redis_url, queue)
    rows, problems, all_met = [], [], True
    for workers, rate, base, run in results:
        base_rate = count / base["elapsed"]
        rows.append(
            [
                "baseline: smtplib, 1 connection",
                f"{base_rate:.1f}",
                "1.00",
                "",
                f"{base['elapsed']:.2f}",
                f"{base['sink']['count']} / {base['sink']['distinct_ids']}",
                "",
                "",
                f"{base['client_cpu'] / count * 1000:.3f}",
                "",
            ]
        )
        sink = run["sink"]
        span = (sink["last"] - sink["first"]) if sink["first"] else 0.0
        mean = (count - 1) / span if span else 0.0
        busiest = busiest_second(sink["times"])
        rate_all = count / run["elapsed"]
        once = (
            sink["count"] == count
            and sink["distinct_ids"] == count
            and run["ids_match"]
            and run["states"].get("sent", 0) == count
        )
        if rate:
            met = once and mean >= 45 and busiest <= 50
            target = "mean >= 45/s, no 1 s over 50"
        else:
            met = once and rate_all / base_rate >= 4
            target = ">= 4 x"
        all_met = all_met and met
        if not once:
            problems.append(f"{workers} worker(s): sink {sink['count']}, states {run['states']}")
        rows.append(
            [
                f"Tend: tick + {workers} RQ worker{'s' if workers > 1 else ''}"
                + (f", MAIL_RATE={rate}" if rate else ""),
                f"{rate_all:.1f}",
                f"{rate_all / base_rate:.2f}",
                target,
                f"{run['elapsed']:.2f} (tick {run['tick']:.2f})",
                f"{sink['count']} / {sink['distinct_ids']}",
                f"{mean:.1f}",
                str(busiest),
                f"{run['worker_cpu'] / count * 1000:.3f}",
                benchlib.verdict(met),
            ]
        )
    print()
    print(
        benchlib.table(
            [
                "run",
                "msg/s",
                "ratio",
                "target",
                "wall s",
                "at sink / distinct ids",
                "mean msg/s at sink",
                "busiest 1 s",
                "CPU ms/msg sender",
                "target met",
            ],
            rows,
        )
    )
    print(f"all targets met: {benchlib.verdict(all_met)}; load average {benchlib.loadavg()}")
    if problems:
        print("ERROR: " + "; ".join(problems))
        return 1
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=None, help="deliveries (default 20000)")
    parser.add_argument(
        "--relay-latency-ms",
        type=float,
        default=0.0,
        help="the sink answers every command this late (default 0: loopback; count 1000)",
    )
    parser.add_argument("--workers", default="1,2", help="worker counts to run (default 1,2)")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="SEND_BATCH_SIZE (default: the app's)"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    args = parser.parse_args(argv)
    if args.relay_latency_ms > 0:
        return main_distant(args)
    args.count = args.count or 20000
    worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]

    from app import create_app
    from models import db

    benchlib.header("Sending: due deliveries -> tick -> RQ workers -> SMTP sink", sys.argv)
    queue = benchlib.unique("bench-sending")
    workdir = Path(tempfile.mkdtemp(prefix="tend-bench-sending-"))
    runs: dict[int, dict] = {}
    bases: dict[int, dict] = {}  # the baseline run just before each Tend run
    with benchlib.redis_server() as redis_url, benchlib.database("tend_bench_sending") as url:
        extra = {"DRIP_WINDOW": "00:00-24:00", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": "25"}
        if args.batch_size:
            extra["SEND_BATCH_SIZE"] = str(args.batch_size)
        env = benchlib.tend_env(url, redis_url, queue, **extra)
        app = create_app(env)
        engine = sa.create_engine(url)
        batch = app.config["SEND_BATCH_SIZE"]
        print(
            f"{args.count} deliveries; SEND_BATCH_SIZE {batch}; DISPATCH_LIMIT "
            f"{app.config.get('DISPATCH_LIMIT', 10000)}; SMTP sink: aiosmtpd in its own process",
            flush=True,
        )
        try:
            messages = prebuilt_messages(app, args.count)
            for w in worker_counts:
                # Each Tend run gets its own baseline, measured right before it: on a shared
                # machine the speed moves between runs a minute apart.
                bases[w] = baseline(messages, workdir)
                print(f"  baseline: {args.count / bases[w]['elapsed']:8.1f} msg/s", flush=True)
                benchlib.clear_queue(redis_url, queue)
                runs[w] = tend(app, engine, env, args.count, w, workdir, args.timeout)
                print(f"  {w} worker(s): {args.count / runs[w]['elapsed']:8.1f} msg/s", flush=True)
        finally:
            engine.dispose()
            with app.app_context():
                db.engine.dispose()
            benchlib.clear_queue(redis_url, queue)

    rows = []
    problems = []
    all_met = True
    for w, r in runs.items():
        base = bases[w]
        base_rate = args.count / base["elapsed"]
        rows.append(
            [
                "baseline: smtplib, 1 connection",
                f"{base_rate:.0f}",
                "1.00",
                "",
                f"{base['elapsed']:.2f}",
                f"{base['sink']['count']} / {base['sink']['distinct_ids']}",
                f"{benchlib.self_peak_rss_kib() / 1024:.0f} (bench process)",
                f"{base['client_cpu'] / args.count * 1000:.3f}",
                f"{base['sink']['cpu'] / args.count * 1000:.3f}",
                "",
            ]
        )
        rate = args.count / r["elapsed"]
        ratio = rate / base_rate
        sent = r["states"].get("sent", 0)
        once = (
            r["sink"]["count"] == args.count
            and r["sink"]["distinct_ids"] == args.count
            and r["ids_match"]
            and sent == args.count
        )
        rss_mb = r["peak_rss_kib"] / 1024
        met = once and rss_mb <= RSS_LIMIT_MB and ratio >= TARGETS.get(w, 0)
        all_met = all_met and met
        if not once:
            problems.append(
                f"{w} worker(s): sink count {r['sink']['count']}, distinct ids "
                f"{r['sink']['distinct_ids']}, states {r['states']}"
            )
        if any(r["exit_codes"]):
            problems.append(f"{w} worker(s): exit codes {r['exit_codes']}")
        rows.append(
            [
                f"Tend: tick + {w} RQ worker{'s' if w > 1 else ''}",
                f"{rate:.0f}",
                f"{ratio:.2f}",
                f">= {TARGETS[w]}" if w in TARGETS else "",
                f"{r['elapsed']:.2f} (tick {r['tick']:.2f})",
                f"{r['sink']['count']} / {r['sink']['distinct_ids']}",
                f"{rss_mb:.0f}",
                f"{r['worker_cpu'] / args.count * 1000:.3f}",
                f"{r['sink']['cpu'] / args.count * 1000:.3f}",
                benchlib.verdict(met),
            ]
        )
    print()
    print(
        benchlib.table(
            [
                "run",
                "msg/s",
                "ratio",
                "target",
                "wall s",
                "at sink / distinct ids",
                "peak RSS MB",
                "CPU ms/msg sender",
                "CPU ms/msg sink",
                "target met",
            ],
            rows,
        )
    )
    print()
    print(
        f"targets: 1 worker >= {TARGETS[1]} x baseline, 2 workers >= {TARGETS[2]} x baseline, "
        f"every delivery sent once, worker peak RSS <= {RSS_LIMIT_MB:.0f} MB"
    )
    for w, r in runs.items():
        sink = r["sink"]
        span = (sink["last"] - sink["first"]) if sink["first"] else 0
        print(
            f"{w} worker(s): {r['ticks']} tick(s) queued {r['queued']} (deferred "
            f"{r['deferred']}); sink busy {span:.2f}s; delivery states {r['states']}; "
            f"Message-IDs at the sink {'match' if r['ids_match'] else 'DO NOT match'} the rows"
        )
    print(f"all targets met: {benchlib.verdict(all_met)}; load average {benchlib.loadavg()}")
    if problems:
        print("ERROR: " + "; ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
