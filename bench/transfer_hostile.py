"""The two hostile uploads of bench_transfer.py (`--hostile`): each process's peak memory.

- lines: `email`, then `a` on each line to 64 MiB (33,554,429 lines);
- commas: `email`, then one line of 64 MiB of commas;
- invalid: `email`, then `a` on each of 1,000,000 lines (the most rows a file may have):
  the web takes it, and the worker checks and counts a million invalid rows.

Each is run three ways, each in a process of its own whose peak RSS (VmHWM) is taken:
idle (the app created, nothing done: the floor of any process), web (`start_import`, the
form's save and scan) and worker (the import job in `flask worker --burst`, queued
without the web's scan, as if the file had got past it). A process past the ceiling is
killed there: its figure reads "> ceiling".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import benchlib

MIB = 1024 * 1024
SIZE = 64 * MIB
LIMIT_MIB = 200  # issue 23, finding 6: every process of an import under this
DAY = 86400


def write_files(folder: Path) -> dict[str, Path]:
    lines, commas = folder / "lines.csv", folder / "commas.csv"
    chunk = "a\n" * (MIB // 2)
    with lines.open("w", encoding="utf-8", newline="") as f:
        f.write("email\n")
        while f.tell() + len(chunk) <= SIZE:
            f.write(chunk)
        f.write("a\n" * ((SIZE - f.tell()) // 2))
    with commas.open("w", encoding="utf-8", newline="") as f:
        f.write("email\n")
        for _ in range(SIZE // MIB - 1):
            f.write("," * MIB)
        f.write("," * (MIB - len("email\n") - 1) + "\n")
    invalid = folder / "invalid.csv"
    invalid.write_text("email\n" + "a\n" * 1_000_000, encoding="utf-8")
    return {"lines": lines, "commas": commas, "invalid": invalid}


def _service():
    from transfers import service

    return service


def _app(url: str, redis_url: str, queue: str, folder: str):
    from app import create_app

    return create_app(benchlib.tend_env(url, redis_url, queue, TRANSFER_DIR=folder))


class _Saved:
    def __init__(self, path: str):
        self.path = path

    def save(self, target: str) -> None:
        shutil.copyfile(self.path, target)


def child(name: str, path: str, url: str, redis_url: str, queue: str, folder: str) -> dict:
    """One measured step, run as `bench_transfer.py --one hostile-NAME ...`."""
    from models import Transfer, TransferState, utcnow

    app = _app(url, redis_url, queue, folder)
    with app.app_context():
        service = _service()
        if name == "idle":
            return {}
        if name == "web":
            try:
                done = service.start_import(
                    _Saved(path), "hostile.csv", skip_invalid=True, now=utcnow()
                )
            except Exception as err:
                return {"outcome": f"refused ({type(err).__name__}): {str(err)[:120]}"}
            return {"outcome": f"queued, {done.total:,} rows"}
        # "queue": the job, as if the file had got past the web's scan.
        with open(path, "rb") as f:
            rows = sum(1 for _ in f) - 1
        target = service.folder() / f"{uuid.uuid4().hex}.upload.csv"
        shutil.copyfile(path, target)
        transfer = Transfer(
            id=uuid.uuid4().hex,
            kind="import",
            state=TransferState.QUEUED,
            skip_invalid=True,
            filename="hostile.csv",
            path=str(target),
            total=rows,
            created_at=utcnow(),
        )
        service._queue(transfer, service.IMPORT_JOB, rows)
        return {"id": transfer.id, "limit": service.job_timeout(rows)}


def capped(cmd: list[str], env: dict[str, str] | None, ceiling_mib: int, timeout: float):
    """Run a child; (seconds, peak RSS KiB, stopped at the ceiling?, stdout)."""
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=benchlib.ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    peak, stopped = 0, False
    while proc.poll() is None:
        peak = max(peak, benchlib.memory_kib(proc.pid).get("VmHWM", 0))
        if peak > ceiling_mib * 1024 or time.monotonic() - started > timeout:
            stopped = True
            proc.kill()
            break
        time.sleep(0.02)
    out = proc.communicate()[0]
    return time.monotonic() - started, peak, stopped, out


def _one(name: str, *args: str, ceiling: int, timeout: float) -> tuple[float, int, bool, dict]:
    cmd = [benchlib.PYTHON, str(Path(__file__).with_name("bench_transfer.py")), "--one"]
    seconds, peak, stopped, out = capped([*cmd, f"hostile-{name}", *args], None, ceiling, timeout)
    lines = out.strip().splitlines()
    return seconds, peak, stopped, json.loads(lines[-1]) if lines and not stopped else {}


def run(
    url: str, redis_url: str, tmp: Path, ceiling: int, timeout: float, only: str = ""
) -> tuple[list, bool]:
    """Every file (or those named in `only`), every step: the table's rows and whether
    every target was met."""
    from models import Transfer, db

    files = write_files(tmp)
    if only:
        files = {k: v for k, v in files.items() if k in only.split(",")}
    queue = f"bench-hostile-{uuid.uuid4().hex[:8]}"
    folder = str(tmp / "transfers-hostile")
    common = (url, redis_url, queue, folder)
    env = benchlib.tend_env(url, redis_url, queue, TRANSFER_DIR=folder)
    worker = [benchlib.tool("flask"), "--app", "app", "worker", "--burst"]
    rows, ok = [], True
    idle = _one("idle", "-", *common, ceiling=ceiling, timeout=timeout)
    rows.append(["idle app (the floor)", "", f"{idle[0]:.1f}", f"{idle[1] / 1024:.0f}", "", ""])
    for kind, path in files.items():
        web = _one("web", str(path), *common, ceiling=ceiling, timeout=timeout)
        # What the web queued (an older version took these files) is dropped: the worker
        # runs the one job below, on its own.
        benchlib.clear_queue(redis_url, f"{queue}-transfers")
        queued = _one("queue", str(path), *common, ceiling=ceiling, timeout=timeout)
        job = capped(worker, env, ceiling, timeout)
        benchlib.clear_queue(redis_url, f"{queue}-transfers")  # a stopped job is not run again
        app = _app(*common)
        with app.app_context():
            found = db.session.get(Transfer, queued[3]["id"])
            said = found.error or f"{found.done or 0:,} imported"
            state = f"{found.state}, {found.invalid_count or 0:,} invalid: {said[:100]}"
            db.engine.dispose()
        limit = queued[3]["limit"]
        for step, (seconds, peak, stopped, result) in (("web", web), ("worker", job[:3] + ({},))):
            under = not stopped and peak < LIMIT_MIB * 1024
            ok = ok and under and limit < DAY
            rows.append(
                [
                    f"{kind}: {step}",
                    result.get("outcome", "") if step == "web" else state,
                    f"{seconds:.1f}",
                    f"> {ceiling} (stopped)" if stopped else f"{peak / 1024:.0f}",
                    f"{limit:,} s" if step == "worker" else "",
                    benchlib.verdict(under and (step == "web" or limit < DAY)),
                ]
            )
        print(benchlib.table(COLUMNS, rows), flush=True)
    benchlib.clear_queue(redis_url, queue)
    benchlib.clear_queue(redis_url, f"{queue}-transfers")
    return rows, ok


COLUMNS = ["file: process", "outcome", "seconds", "peak RSS MiB", "RQ time limit", "target met"]


if __name__ == "__main__":
    sys.exit("run through bench_transfer.py --hostile")
