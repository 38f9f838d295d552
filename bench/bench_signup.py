"""Signup throughput: Tend's `POST /api/subscribe` against a bare Flask + SQLAlchemy insert.

Both run under gunicorn with the same settings ((2 x cores) + 1 sync workers) against one
fresh PostgreSQL database; Tend also enqueues each worksheet email to Redis (no worker
drains it: that is part of the cost). Tend runs as shipped, with the proof of work on:
every signup carries its own challenge solution, checked and spent in Redis. The bench
makes the solutions with the signing key beforehand (a known answer per challenge), so
the load generator spends nothing on solving; the baseline gets the same bodies. A load generator on this machine (`wrk` with
bench/signup.lua, or a Python one) posts valid, distinct signups at each concurrency
for `--duration` seconds per server, split into `--rounds` turns in which baseline and
Tend alternate, so a machine that speeds up or slows down meanwhile meets both alike.

    .venv/bin/python bench/bench_signup.py [--duration 30] [--rounds 3] [--clients 1,10,50]

Targets: Tend >= 0.7 x baseline req/s at every concurrency, zero errors, p99 < 100 ms
at 10 clients.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import benchlib
import loadgen
import sqlalchemy as sa

RATIO_TARGET = 0.7
P99_TARGET_MS = 100.0
P99_AT_CLIENTS = 10


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen
    log: Path
    count_sql: str

    def worker_memory(self) -> tuple[int, int]:
        """(largest current RSS, largest peak RSS) among the web workers, in KiB."""
        mems = [benchlib.memory_kib(pid) for pid in benchlib.children(self.proc.pid)]
        return (
            max((m.get("VmRSS", 0) for m in mems), default=0),
            max((m.get("VmHWM", 0) for m in mems), default=0),
        )


def gunicorn(name, args, env, workers, logdir: Path, count_sql: str, cwd: Path) -> Server:
    port = benchlib.free_port()
    log = logdir / f"{name}.log"
    cmd = [
        benchlib.tool("gunicorn"),
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        *args,
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(name, port, proc, log, count_sql)
    benchlib.wait_port(port, proc=proc)
    # Every worker up (without --preload, each worker loads the app after fork).
    deadline = time.monotonic() + 30
    while len(benchlib.children(proc.pid)) < workers and time.monotonic() < deadline:
        time.sleep(0.05)
    return server


# More solutions per second of load than this machine's Tend answers, so none is sent twice.
SOLUTIONS_PER_SECOND = 2000


def load(server: Server, clients: int, duration: int, generator: str) -> dict:
    tag = f"{server.name}{clients}x{uuid.uuid4().hex[:8]}"
    pool = benchlib.solutions(SOLUTIONS_PER_SECOND * duration + 500)
    if generator == "python":
        return loadgen.run(
            server.port,
            "/api/subscribe",
            clients=clients,
            duration=duration,
            tag=tag,
            solutions=pool,
        )
    threads = max(1, min(clients, os.cpu_count() or 1))
    pool_file = Path(tempfile.mkstemp(prefix="tend-bench-solutions-")[1])
    pool_file.write_text("\n".join(pool) + "\n")
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{clients}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(benchlib.BENCH / "signup.lua"),
        f"http://127.0.0.1:{server.port}/api/subscribe",
    ]
    try:
        out = subprocess.run(
            cmd,
            env={
                **os.environ,
                "BENCH_TAG": tag,
                "BENCH_SOLUTIONS": str(pool_file),
                "BENCH_THREADS": str(threads),
            },
            capture_output=True,
            text=True,
            timeout=duration + 60,
            check=True,
        )
    finally:
        pool_file.unlink(missing_ok=True)
    for line in out.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[len("WRKJSON ") :])
    raise RuntimeError(f"wrk printed no summary:\n{out.stdout}\n{out.stderr}")


def measure(server: Server, clients: int, seconds: int, generator: str, engine) -> dict:
    """One timed run against one server, with the CPU it cost and the rows it stored."""
    before = rows(engine, server)
    workers = benchlib.children(server.proc.pid)
    backends = benchlib.postgres_backends(engine)
    cpu = (benchlib.cpu_seconds(workers), benchlib.cpu_seconds(backends))
    gen_cpu = _generator_cpu(generator)
    result = load(server, clients, seconds, generator)
    result["cpu_gen"] = _generator_cpu(generator) - gen_cpu
    result["cpu_web"] = benchlib.cpu_seconds(workers) - cpu[0]
    result["cpu_pg"] = benchlib.cpu_seconds(backends) - cpu[1]
    time.sleep(0.2)  # let requests in flight at the stop finish
    result["rows"] = rows(engine, server) - before
    result["rss"], result["hwm"] = server.worker_memory()
    return result


SUMMED = ("requests", "duration_us", "connect", "read", "write", "status", "timeout")
SUMMED += ("cpu_gen", "cpu_web", "cpu_pg", "rows")


def combine(parts: list[dict]) -> dict:
    """The rounds of one server at one concurrency as one run: counts and CPU summed, the
    median round's p50, the worst round's p99, the largest memory."""
    merged = {key: sum(p[key] for p in parts) for key in SUMMED}
    merged["p50_us"] = sorted(p["p50_us"] for p in parts)[len(parts) // 2]
    merged["p99_us"] = max(p["p99_us"] for p in parts)
    merged["rss"] = max(p["rss"] for p in parts)
    merged["hwm"] = max(p["hwm"] for p in parts)
    return merged


def _generator_cpu(generator: str) -> float:
    """CPU used so far by the load generator: wrk runs as a child, the Python one in here."""
    who = resource.RUSAGE_CHILDREN if generator == "wrk" else resource.RUSAGE_SELF
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def rows(engine, server: Server) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(server.count_sql)).scalar_one()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=int, default=30, help="seconds per server and concurrency (default 30)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="the duration is split into this many turns, baseline and Tend alternating, so "
        "a change in the machine's speed meets both (default 3)",
    )
    parser.add_argument("--clients", default="1,10,50", help="concurrencies (default 1,10,50)")
    parser.add_argument(
        "--workers",
        type=int,
        default=2 * (os.cpu_count() or 1) + 1,
        help="gunicorn workers (default (2 x cores) + 1)",
    )
    parser.add_argument("--warmup", type=int, default=None, help="seconds (default min(5, d))")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    args = parser.parse_args(argv)
    clients = [int(c) for c in args.clients.split(",") if c.strip()]
    warmup = min(5, args.duration) if args.warmup is None else args.warmup
    generator = args.loadgen
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "python"
    elif generator == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed (apt-get install -y wrk), use --loadgen python")

    benchlib.header("Signup: POST /api/subscribe, Tend vs bare Flask + SQLAlchemy", sys.argv)
    print(
        f"gunicorn: {args.workers} sync workers each; load generator: {generator}; "
        f"{args.duration}s per server and concurrency in {args.rounds} alternating rounds, "
        f"warm-up {warmup}s"
    )
    queue = benchlib.unique("bench-signup")
    servers: list[Server] = []
    logdir = Path(tempfile.mkdtemp(prefix="tend-bench-signup-"))
    failed = False
    with benchlib.redis_server() as redis_url, benchlib.database("tend_bench_signup") as url:
        engine = sa.create_engine(url)
        try:
            subprocess.run(
                [benchlib.PYTHON, str(benchlib.BENCH / "baseline_app.py")],
                env={**os.environ, "DATABASE_URL": url},
                check=True,
            )
            baseline = gunicorn(
                "baseline",
                ["baseline_app:app"],
                {"DATABASE_URL": url},
                args.workers,
                logdir,
                "SELECT count(*) FROM bench_baseline_signups",
                benchlib.BENCH,
            )
            servers.append(baseline)
            tend_env = benchlib.tend_env(
                url,
                redis_url,
                queue,
                SIGNUP_RATE_LIMIT="100000000/minute",
                SIGNUP_MIN_SECONDS=0,
            )
            tend = gunicorn(
                "tend",
                ["--preload", "app:create_app()"],  # as the Procfile runs it
                tend_env,
                args.workers,
                logdir,
                "SELECT count(*) FROM subscribers",
                benchlib.ROOT,
            )
            servers.append(tend)

            if warmup:
                for server in servers:
                    load(server, max(clients), warmup, generator)

            results: dict[tuple[str, int], dict] = {}
            slice_s = max(1, round(args.duration / args.rounds))
            for c in clients:
                runs: dict[str, list[dict]] = {server.name: [] for server in servers}
                for round_no in range(1, args.rounds + 1):
                    for server in servers:
                        result = measure(server, c, slice_s, generator, engine)
                        runs[server.name].append(result)
                        print(
                            f"  {server.name:8} {c:3} clients, round {round_no}: "
                            f"{result['requests'] / (result['duration_us'] / 1e6):8.1f} req/s",
                            flush=True,
                        )
                for name, parts in runs.items():
                    results[(name, c)] = combine(parts)
            from redis import Redis
            from rq import Queue

            redis = Redis.from_url(redis_url)
            queued = Queue(queue, connection=redis).count
            stored = rows(engine, tend)
            redis.close()
        except Exception:
            failed = True
            for server in servers:
                print(f"--- {server.log} (tail)", file=sys.stderr)
                print(server.log.read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            for server in servers:
                benchlib.stop(server.proc)
            engine.dispose()
            benchlib.clear_queue(redis_url, queue)
            if not failed:
                shutil.rmtree(logdir, ignore_errors=True)

    def rate(r: dict) -> float:
        return r["requests"] / (r["duration_us"] / 1e6) if r["duration_us"] else 0.0

    def errors(r: dict) -> int:
        return r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]

    table_rows = []
    all_met = True
    for c in clients:
        b, t = results[("baseline", c)], results[("tend", c)]
        ratio = rate(t) / rate(b) if rate(b) else 0.0
        p99 = t["p99_us"] / 1000
        met = ratio >= RATIO_TARGET and errors(t) == 0 and errors(b) == 0
        if c == P99_AT_CLIENTS:
            met = met and p99 < P99_TARGET_MS
        all_met = all_met and met
        table_rows.append(
            [
                c,
                f"{rate(b):.0f}",
                f"{b['p50_us'] / 1000:.1f} / {b['p99_us'] / 1000:.1f}",
                f"{rate(t):.0f}",
                f"{t['p50_us'] / 1000:.1f} / {p99:.1f}",
                f"{ratio:.2f}",
                f"{errors(b)} / {errors(t)}",
                f"{b['hwm'] / 1024:.0f} / {t['hwm'] / 1024:.0f}",
                benchlib.verdict(met),
            ]
        )
    print()
    print(
        benchlib.table(
            [
                "clients",
                "baseline req/s",
                "baseline p50/p99 ms",
                "Tend req/s",
                "Tend p50/p99 ms",
                "ratio",
                "errors b/T",
                "worker peak RSS MiB b/T",
                "target met",
            ],
            table_rows,
        )
    )
    print()
    print(
        f"targets: ratio >= {RATIO_TARGET} at every concurrency, zero errors, "
        f"Tend p99 < {P99_TARGET_MS:.0f} ms at {P99_AT_CLIENTS} clients"
    )
    ok_responses = sum(r["requests"] - r["status"] for (n, _), r in results.items() if n == "tend")
    new_rows = sum(r["rows"] for (n, _), r in results.items() if n == "tend")
    print(
        f"checks: Tend stored {new_rows} subscribers for {ok_responses} accepted requests "
        f"in the timed runs; {queued} worksheet jobs waiting in Redis for {stored} subscribers"
    )
    print()
    print("Where the CPU goes (ms of CPU per request, both cores counted):")
    cpu_rows = []
    for c in clients:
        for name in ("baseline", "tend"):
            r = results[(name, c)]
            n = max(r["requests"], 1)
            cpu_rows.append(
                [
                    c,
                    name,
                    f"{r['cpu_web'] / n * 1000:.2f}",
                    f"{r['cpu_pg'] / n * 1000:.2f}",
                    f"{r['cpu_gen'] / n * 1000:.2f}",
                ]
            )
    print(
        benchlib.table(
            ["clients", "server", "web workers", "PostgreSQL backends", "load generator"],
            cpu_rows,
        )
    )
    print()
    print(f"all targets met: {benchlib.verdict(all_met)}; load average {benchlib.loadavg()}")
    consistent = new_rows >= ok_responses and queued == stored
    if not consistent:
        print("ERROR: stored rows or queued jobs do not match the accepted requests")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
