"""Signups and /healthz while Redis hangs (SIGSTOP): answered within 1 s at p99.

A private redis-server is stopped with SIGSTOP (it keeps accepting connections and never
answers, which is worse than a dead one), and `--clients` threads post valid signups to
Tend under gunicorn for `--duration` seconds; /healthz is asked once a second meanwhile.
Then Redis is let go (SIGCONT), one dispatcher pass queues what never reached it, and the
bench checks every accepted signup was stored and queued.

    .venv/bin/python bench/bench_hung_redis.py [--duration 20] [--clients 10]

Targets: signup p99 <= 1000 ms and /healthz max <= 1000 ms while Redis hangs, 0 errors,
every accepted signup stored and its worksheet queued once Redis is back.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

import benchlib
import sqlalchemy as sa


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def post(url: str, body: dict) -> tuple[int, float]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status = response.status
    except urllib.error.HTTPError as err:
        status = err.code
    return status, time.perf_counter() - started


def get(url: str) -> tuple[int, float]:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            status = response.status
    except urllib.error.HTTPError as err:
        status = err.code
    return status, time.perf_counter() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20, help="seconds Redis hangs")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    args = parser.parse_args(argv)
    benchlib.header("Signups while Redis hangs (SIGSTOP)", sys.argv)
    port, redis_port = benchlib.free_port(), benchlib.free_port()
    redis_dir = tempfile.mkdtemp(prefix="tend-bench-redis-")
    redis_proc = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""]
        + ["--appendonly", "no", "--dir", redis_dir],
        stdout=subprocess.DEVNULL,
    )
    benchlib.wait_port(redis_port, proc=redis_proc)
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    queue = benchlib.unique("bench-hung")
    web = None
    signups: list[tuple[int, float]] = []
    health: list[tuple[int, float]] = []
    try:
        with benchlib.database("tend_bench_hung") as url:
            env = benchlib.tend_env(
                url, redis_url, queue, SIGNUP_RATE_LIMIT="100000000/minute", SIGNUP_MIN_SECONDS="0"
            )
            web = subprocess.Popen(
                [benchlib.tool("gunicorn"), "--preload", "app:create_app()"]
                + ["--bind", f"127.0.0.1:{port}", "--workers", str(args.workers)],
                cwd=benchlib.ROOT,
                env={**os.environ, **env},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            benchlib.wait_port(port, proc=web)
            base = f"http://127.0.0.1:{port}"
            # Each signup carries its own challenge solution, as the embed's do; they are made
            # beforehand (the signing key's known answers), so none is solved under the clock.
            pool = iter(benchlib.solutions(20 + args.clients * int(args.duration * 50 + 50)))
            for i in range(20):  # warm: every worker has met Redis alive
                post(
                    f"{base}/api/subscribe",
                    {"name": "Warm", "email": f"warm{i}@example.com", "altcha": next(pool)},
                )
            print(f"Redis hangs now; load average {benchlib.loadavg()}", flush=True)
            redis_proc.send_signal(signal.SIGSTOP)
            deadline = time.monotonic() + args.duration
            lock = threading.Lock()

            def client():
                while time.monotonic() < deadline:
                    email = f"h-{uuid.uuid4().hex[:12]}@example.com"
                    with lock:
                        solution = next(pool)
                    body = {"name": "Reader", "email": email, "altcha": solution}
                    result = post(f"{base}/api/subscribe", body)
                    with lock:
                        signups.append(result)

            threads = [threading.Thread(target=client) for _ in range(args.clients)]
            for t in threads:
                t.start()
            while time.monotonic() < deadline:
                health.append(get(f"{base}/healthz"))
                time.sleep(1)
            for t in threads:
                t.join()
            redis_proc.send_signal(signal.SIGCONT)
            engine = sa.create_engine(url)
            with engine.connect() as conn:
                stored = conn.execute(
                    sa.text("SELECT count(*) FROM subscribers WHERE email LIKE 'h-%'")
                ).scalar()
            ticked = subprocess.run(
                [benchlib.tool("flask"), "--app", "app", "drip", "tick"],
                cwd=benchlib.ROOT,
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                timeout=120,
            )
            engine.dispose()
    finally:
        if web is not None:
            benchlib.stop(web)
        redis_proc.send_signal(signal.SIGCONT)
        benchlib.stop(redis_proc)
        shutil.rmtree(redis_dir, ignore_errors=True)
    accepted = sum(1 for status, _ in signups if status == 202)
    times = [t * 1000 for _, t in signups]
    health_times = [t * 1000 for _, t in health]
    p99 = percentile(times, 0.99)
    health_max = max(health_times, default=0.0)
    met = (
        p99 <= 1000
        and health_max <= 1000
        and accepted == len(signups)
        and stored == accepted
        and all(status == 503 for status, _ in health)
    )
    print()
    print(
        benchlib.table(
            ["measure", "count", "p50 ms", "p99 ms", "max ms", "target", "target met"],
            [
                [
                    "POST /api/subscribe (202)",
                    f"{accepted} of {len(signups)}",
                    f"{statistics.median(times):.1f}" if times else "",
                    f"{p99:.1f}",
                    f"{max(times, default=0):.1f}",
                    "p99 <= 1000",
                    benchlib.verdict(p99 <= 1000 and accepted == len(signups)),
                ],
                [
                    "GET /healthz (503, Redis down)",
                    str(len(health)),
                    f"{statistics.median(health_times):.1f}" if health_times else "",
                    f"{percentile(health_times, 0.99):.1f}",
                    f"{health_max:.1f}",
                    "max <= 1000",
                    benchlib.verdict(health_max <= 1000),
                ],
            ],
        )
    )
    print(f"stored {stored} of {accepted} accepted; after SIGCONT: {ticked.stdout.strip()}")
    print(f"all targets met: {benchlib.verdict(met)}; load average {benchlib.loadavg()}")
    if accepted != len(signups) or stored != accepted:  # a lost signup, not a slow one
        print("ERROR: signups refused or not stored")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
