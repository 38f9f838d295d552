"""The bench scripts, run at a tiny size so they never rot. Nothing here is timed.

Each script builds its own PostgreSQL database (unique name, dropped after), its own Redis
queue and its own servers on loopback, whatever TEND_TEST_DB says; this only checks that
it completes and prints its table.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from support import PG_SERVER, ROOT

pytestmark = pytest.mark.slow

BENCH = ROOT / "bench"


def run_bench(script: str, *args: str) -> str:
    env = {**os.environ, "TEND_BENCH_PG": PG_SERVER}
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "all targets met:" in done.stdout, done.stdout[-4000:]
    return done.stdout


def table_rows(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("| ")]


@pytest.mark.parametrize(
    "loadgen",
    [
        pytest.param(
            "wrk",
            marks=pytest.mark.skipif(not shutil.which("wrk"), reason="wrk is not installed"),
        ),
        "python",
    ],
)
def test_signup_bench_runs(loadgen):
    out = run_bench(
        "bench_signup.py",
        "--duration",
        "2",
        "--rounds",
        "2",
        "--clients",
        "1,2",
        "--workers",
        "2",
        "--loadgen",
        loadgen,
    )
    assert "| clients | baseline req/s" in out
    rows = table_rows(out)
    assert any(row.startswith("| 1 ") for row in rows)
    assert any(row.startswith("| 2 ") for row in rows)


def test_signup_stages_bench_runs():
    out = run_bench("signup_stages.py", "--signups", "20", "--rounds", "1")
    for stage in ("check_fields", "check_gate", "store: insert", "store: enqueue"):
        assert f"| {stage} " in out, out[-3000:]


def test_sending_bench_runs():
    out = run_bench("bench_sending.py", "--count", "50", "--workers", "1,2")
    assert "| baseline: smtplib, 1 connection" in out
    assert "| Tend: tick + 1 RQ worker " in out
    assert "| Tend: tick + 2 RQ workers" in out
    assert "50 / 50" in out  # every delivery reached the sink once


def test_sending_bench_runs_against_a_distant_relay():
    out = run_bench("bench_sending.py", "--relay-latency-ms", "5", "--count", "30")
    assert "| Tend: tick + 1 RQ worker " in out
    assert "| Tend: tick + 3 RQ workers, MAIL_RATE=50/second" in out
    assert "30 / 30" in out  # every delivery reached the sink once


def test_hung_redis_bench_runs():
    out = run_bench("bench_hung_redis.py", "--duration", "2", "--clients", "2", "--workers", "1")
    assert "| POST /api/subscribe (202)" in out and "| GET /healthz" in out
    assert "stored " in out


def test_dispatch_bench_runs():
    out = run_bench(
        "bench_dispatch.py",
        "--subscribers",
        "1000",
        "--small",
        "200",
        "--due",
        "50",
        "--reps",
        "1",
    )
    assert "| claim tick (50 due)" in out
    assert "| tick with nothing due" in out
    assert "ix_deliveries_scheduled_due" in out  # the plans are printed


def test_admin_counts_bench_runs():
    name = f"tend_bench_admin_smoke_{os.getpid()}"
    out = run_bench("admin_counts.py", "--seed", "-n", "300", "--database", name, "--drop")
    assert "| counts (status, confirmed)" in out
    assert "| GET /admin (whole page)" in out
    assert "300 subscribers" in out


def test_challenge_bench_runs():
    from browser_support import CHROMIUM, need

    need(CHROMIUM.exists(), f"Chromium is not installed at {CHROMIUM}")
    out = run_bench("bench_challenge.py", "--challenges", "2", "--rates", "1,6")
    assert "| 6x " in out and "checking one solution:" in out


def test_transfer_bench_runs():
    out = run_bench("bench_transfer.py", "--rows", "500")
    for db in ("postgresql", "sqlite"):
        assert re.search(rf"\| {db} +\| import \(worker\) ", out), out[-3000:]
    assert '"import_state": ["done", 500, ""]' in out and '"export_rows": 500' in out


def test_scan_bench_runs():
    out = run_bench("bench_scan.py", "--mb", "1", "--turns", "1")
    assert "| scan (now) " in out and "same findings: yes" in out and "1 oversized" in out
