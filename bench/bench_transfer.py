"""Import and export at scale, as the worker runs them: time and peak memory per row count.

A Mailchimp export of `--rows` rows (default 1,000,000; two in three confirmed, so each
gets three check-ins, the others the worksheet email) is written to a temporary folder.
For each database (`--db postgresql,sqlite`):

- import: the upload is saved and scanned as the web does it (`start_import`, in this
  process: the time the operator waits for the 303), then `flask --app app worker --burst`
  runs the import job in its own process: its wall time and peak RSS (VmHWM).
- export: `start_export`, then a burst worker writes the file; its time and peak RSS.

Baselines, measured in the same run on the same file and machine, each in its own process:

- read: the bare `csv` module reading the file (DictReader, every row touched).
- insert: the same rows read by `csv` and written with a plain SQLAlchemy Core bulk insert
  (subscribers only, batches of 2,000, one transaction) into a fresh database.
- write: a plain SQLAlchemy Core select of the same columns, written with `csv.writer`.

Tend writes five rows per subscriber where the insert baseline writes one (subscriber,
consent and one to three deliveries), and checks every row before it writes any; the
ratios say what that costs.

With `--hostile`, two files as large as the form takes (64 MiB) are also run, on the first
database: `email` then 33.5 million lines of `a`; and `email` then one line of 64 MiB of
commas; and, at the row cap, `email` then 1,000,000 lines of `a` (every row invalid,
counted). For each, the web's part (`start_import`, in a process of its own) and the import
worker (its job queued without the web's scan, as if the file had got past it) are
measured, each against an idle process of the same app (created, nothing done). A process
over `--ceiling-mib` (default 1024) is stopped there, so a run of an unbounded import
cannot take the machine: its figure then reads "> ceiling".

    .venv/bin/python bench/bench_transfer.py [--rows 1000000] [--db postgresql,sqlite]
    .venv/bin/python bench/bench_transfer.py --rows 0 --db postgresql --hostile

Targets: each job ends within its RQ time limit (10 minutes plus 20 ms a row) with room to
spare (<= 1/5 of it); the web's answer to an upload (save + scan) < 30 s, gunicorn's
timeout, for the largest upload the form takes (64 MB); the export file is whole (its row
count equals the subscribers'); every process of the import, web and worker, under 200 MiB
for every file (issue 23, finding 6), and a hostile file's RQ time limit under a day.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import benchlib
import transfer_hostile

HEADER = [
    "Email Address",
    "First Name",
    "Last Name",
    "OPTIN_TIME",
    "OPTIN_IP",
    "CONFIRM_TIME",
    "CONFIRM_IP",
    "TIMEZONE",
    "LEID",
    "NOTES",
]


COLUMNS = [
    "db",
    "run",
    "seconds",
    "peak RSS MiB",
    "time ratio (vs read / vs insert)",
    "memory ratio",
    "RQ time limit",
    "target met",
]


def reader_row(i: int, notes: str = "") -> list[str]:
    """Row `i` of the bench's Mailchimp export: two in three confirmed, two zones."""
    return [
        f"reader{i}@example.com",
        f"Reader{i}",
        "Smith",
        "2026-10-01 09:00:00",
        "203.0.113.9",
        "2026-10-01 09:05:00" if i % 3 else "",
        "203.0.113.9" if i % 3 else "",
        "America/Chicago" if i % 2 else "Europe/Berlin",
        str(100000 + i),
        notes,
    ]


def write_file(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for i in range(rows):
            writer.writerow(reader_row(i))


# ---- the baselines, each run as `--one NAME ...` in a process of its own ------------------


def baseline_read(path: str) -> dict:
    count = 0
    with open(path, newline="", encoding="utf-8") as f:
        for record in csv.DictReader(f):
            count += bool(record["Email Address"])
    return {"rows": count}


def baseline_insert(path: str, url: str) -> dict:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    table = sa.Table("subscribers", sa.MetaData(), autoload_with=engine)
    now = sa.func.now()
    count = 0
    with open(path, newline="", encoding="utf-8") as f, engine.begin() as conn:
        batch = []
        for record in csv.DictReader(f):
            email = record["Email Address"]
            batch.append(
                {
                    "public_id": uuid.uuid4().hex[:16],
                    "email": email,
                    "email_key": email.lower(),
                    "name": f"{record['First Name']} {record['Last Name']}",
                    "status": "active" if record["CONFIRM_TIME"] else "pending",
                    "timezone": record["TIMEZONE"] or "UTC",
                    "soft_bounces": 0,
                    "job_status": "unknown",
                }
            )
            if len(batch) == 2000:
                conn.execute(table.insert().values(created_at=now, updated_at=now), batch)
                count += len(batch)
                batch = []
        if batch:
            conn.execute(table.insert().values(created_at=now, updated_at=now), batch)
            count += len(batch)
    engine.dispose()
    return {"rows": count}


def baseline_write(url: str, out: str) -> dict:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    meta = sa.MetaData()
    subs = sa.Table("subscribers", meta, autoload_with=engine)
    consents = sa.Table("consents", meta, autoload_with=engine)
    query = (
        sa.select(
            subs.c.email,
            subs.c.name,
            subs.c.status,
            subs.c.timezone,
            subs.c.created_at,
            subs.c.confirmed_at,
            subs.c.unsubscribed_at,
            subs.c.anchor_at,
            subs.c.job_status,
            subs.c.started_job_on,
            consents.c.source,
            consents.c.created_at,
            consents.c.ip,
            consents.c.user_agent,
            consents.c.page_url,
            consents.c.form_version,
            consents.c.confirmed_ip,
        )
        .select_from(subs.outerjoin(consents, consents.c.subscriber_id == subs.c.id))
        .order_by(subs.c.id)
    )
    count = 0
    with engine.connect() as conn, open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        for row in conn.execution_options(yield_per=5000).execute(query):
            writer.writerow(["" if v is None else v for v in row])
            count += 1
    engine.dispose()
    return {"rows": count}


def one(argv: list[str]) -> None:
    name, *args = argv
    if name.startswith("hostile-"):
        result = transfer_hostile.child(name.removeprefix("hostile-"), *args)
    else:
        run = {"read": baseline_read, "insert": baseline_insert, "write": baseline_write}[name]
        result = run(*args)
    print(json.dumps(result))


# ---- the measured runs --------------------------------------------------------------------


def measured(cmd: list[str], env: dict[str, str] | None, timeout: float) -> tuple[float, int, str]:
    """Run a child; (wall seconds, peak RSS KiB, its stdout)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=benchlib.ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ((code, peak, _cpu),) = benchlib.wait_all([proc], timeout)
    elapsed = time.perf_counter() - started
    out, err = proc.stdout.read(), proc.stderr.read()
    if code != 0:
        raise RuntimeError(f"{cmd[:4]} exited {code}: {err[-3000:]}")
    return elapsed, peak, out


def baseline(name: str, *args: str, timeout: float) -> tuple[float, int]:
    seconds, peak, _ = measured(
        [benchlib.PYTHON, str(Path(__file__)), "--one", name, *args], None, timeout
    )
    return seconds, peak


class _Saved:
    """The upload, as the form's FileStorage would save it."""

    def __init__(self, path: Path):
        self.path = path

    def save(self, target: str) -> None:
        shutil.copyfile(self.path, target)


def tend_runs(url: str, redis_url: str, path: Path, folder: Path, timeout: float) -> dict:
    """Import then export through the real jobs; returns the figures."""
    from app import create_app
    from models import Subscriber, Transfer, db, utcnow
    from transfers import service as transfers

    queue = f"bench-transfer-{uuid.uuid4().hex[:8]}"
    env = benchlib.tend_env(url, redis_url, queue, TRANSFER_DIR=folder)
    app = create_app(env)
    figures: dict = {}
    worker = [benchlib.tool("flask"), "--app", "app", "worker", "--burst"]
    try:
        with app.app_context():
            started = time.perf_counter()
            upload = transfers.start_import(
                _Saved(path), path.name, skip_invalid=False, now=utcnow()
            )
            figures["web_seconds"] = time.perf_counter() - started
            figures["import_limit"] = transfers.job_timeout(upload.total)
            import_id = upload.id
            db.session.remove()
        figures["import"] = measured(worker, env, timeout)[:2]
        with app.app_context():
            done = db.session.get(Transfer, import_id)
            figures["import_state"] = (done.state, done.done, done.error)
            figures["subscribers"] = db.session.query(Subscriber).count()
            export = transfers.start_export(utcnow())
            figures["export_limit"] = transfers.job_timeout(export.total)
            export_id = export.id
            db.session.remove()
        figures["export"] = measured(worker, env, timeout)[:2]
        with app.app_context():
            done = db.session.get(Transfer, export_id)
            figures["export_state"] = (done.state, done.done, done.error)
            with open(done.path, newline="", encoding="utf-8") as f:
                figures["export_rows"] = sum(1 for _ in csv.reader(f)) - 1
            db.session.remove()
    finally:
        with app.app_context():
            db.engine.dispose()
        benchlib.clear_queue(redis_url, queue)
        benchlib.clear_queue(redis_url, f"{queue}-transfers")
    return figures


def sqlite_database(folder: Path, name: str) -> str:
    url = f"sqlite:///{folder / name}.db"
    benchlib.upgrade(url)
    return url


def run_database(kind: str, rows: int, path: Path, redis_url: str, tmp: Path, timeout: float):
    import contextlib

    with contextlib.ExitStack() as stack:
        if kind == "postgresql":
            tend_url = stack.enter_context(benchlib.database("tend_bench_transfer"))
            base_url = stack.enter_context(benchlib.database("tend_bench_transfer_base"))
        else:
            tend_url = sqlite_database(tmp, "tend")
            base_url = sqlite_database(tmp, "baseline")
        insert = baseline("insert", str(path), base_url, timeout=timeout)
        figures = tend_runs(tend_url, redis_url, path, tmp / f"transfers-{kind}", timeout)
        write = baseline("write", tend_url, str(tmp / f"baseline-{kind}.csv"), timeout=timeout)
    return insert, write, figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", default="postgresql,sqlite", help="postgresql, sqlite or both")
    parser.add_argument("--timeout", type=float, default=7200, help="seconds per process")
    parser.add_argument("--hostile", action="store_true", help="also the two hostile files")
    parser.add_argument("--hostile-files", default="", help="lines,commas,invalid (all)")
    parser.add_argument("--ceiling-mib", type=int, default=1024, help="stop a process past this")
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.one)
        return 0
    benchlib.header("Import and export at scale", sys.argv)
    tmp = Path(tempfile.mkdtemp(prefix="tend-bench-transfer-"))
    kinds = [k.strip() for k in args.db.split(",") if k.strip()]
    ok = True
    try:
        with benchlib.redis_server() as redis_url:
            if args.rows:
                ok = normal(args, kinds, tmp, redis_url)
            if args.hostile:
                ok = hostile(args, kinds[0], tmp, redis_url) and ok
        print(("all targets met: yes" if ok else "all targets met: no"), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


def hostile(args, kind: str, tmp: Path, redis_url: str) -> bool:
    import contextlib

    with contextlib.ExitStack() as stack:
        if kind == "postgresql":
            url = stack.enter_context(benchlib.database("tend_bench_hostile"))
        else:
            url = sqlite_database(tmp, "hostile")
        rows, ok = transfer_hostile.run(
            url, redis_url, tmp, args.ceiling_mib, args.timeout, args.hostile_files
        )
    print()
    print(f"hostile files ({kind}):")
    print(benchlib.table(transfer_hostile.COLUMNS, rows), flush=True)
    return ok


def normal(args, kinds: list[str], tmp: Path, redis_url: str) -> bool:
    path = tmp / "members_export.csv"
    write_file(path, args.rows)
    size_mb = path.stat().st_size / 1e6
    print(f"file: {args.rows:,} rows, {size_mb:.1f} MB", flush=True)
    read = baseline("read", str(path), timeout=args.timeout)
    table, ok = [], True
    for kind in kinds:
        insert, write, f = run_database(kind, args.rows, path, redis_url, tmp, args.timeout)
        rows, met = _table(kind, args.rows, size_mb, read, insert, write, f)
        ok = ok and met
        table += rows
        print(f"{kind}: {json.dumps(f)}", flush=True)
        print(f"{kind}: baselines {json.dumps({'read': read, 'insert': insert, 'write': write})}")
        print(benchlib.table(COLUMNS, rows), flush=True)  # kept if a later run dies
    print()
    print(benchlib.table(COLUMNS, table))
    print()
    return ok


def _table(kind, rows, size_mb, read, insert, write, f) -> tuple[list, bool]:
    imported = f["import_state"][0] == "done" and f["import_state"][1] == rows
    whole = f["export_state"][0] == "done" and f["export_rows"] == rows
    flat = f["import"][1] < transfer_hostile.LIMIT_MIB * 1024  # issue 23, finding 6
    in_limit = f["import"][0] <= f["import_limit"] / 5 and f["export"][0] <= f["export_limit"] / 5
    # The web's scan, scaled to the largest upload the form takes.
    # (judged on a file of 16 MB or more; below, fixed costs would dominate)
    web_64mb = f["web_seconds"] * 64 / max(size_mb, 0.001)
    web_ok = web_64mb < 30 or size_mb < 16
    mib = 1024
    table = [
        [
            kind,
            "import (worker)",
            f"{f['import'][0]:.1f}",
            f"{f['import'][1] / mib:.0f}",
            f"{f['import'][0] / read[0]:.1f} / {f['import'][0] / insert[0]:.1f}",
            f"{f['import'][1] / read[1]:.1f} / {f['import'][1] / insert[1]:.1f}",
            f"{f['import_limit']} s",
            benchlib.verdict(imported and flat and f["import"][0] <= f["import_limit"] / 5),
        ],
        [
            kind,
            "upload answer (save + scan)",
            f"{f['web_seconds']:.1f}",
            "",
            f"{f['web_seconds'] / read[0]:.2f} / -",
            "",
            f"30 s; 64 MB: {web_64mb:.1f} s" if size_mb >= 16 else "30 s",
            benchlib.verdict(web_ok) if size_mb >= 16 else "n/a (small file)",
        ],
        [
            kind,
            "export (worker)",
            f"{f['export'][0]:.1f}",
            f"{f['export'][1] / mib:.0f}",
            f"{f['export'][0] / write[0]:.1f}",
            f"{f['export'][1] / write[1]:.1f}",
            f"{f['export_limit']} s",
            benchlib.verdict(whole and f["export"][0] <= f["export_limit"] / 5),
        ],
        [
            kind,
            "baseline: csv read / Core insert / Core select + csv write",
            f"{read[0]:.1f} / {insert[0]:.1f} / {write[0]:.1f}",
            f"{read[1] / mib:.0f} / {insert[1] / mib:.0f} / {write[1] / mib:.0f}",
            "1",
            "1",
            "",
            "",
        ],
    ]
    return table, imported and whole and in_limit and web_ok and flat


if __name__ == "__main__":
    sys.exit(main())
