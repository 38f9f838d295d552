"""Dispatch at scale: a tick's cost follows the rows that are due, not the size of the table.

Two PostgreSQL databases are built by `db upgrade` and filled with bulk inserts (no API):
a large one (`--subscribers`, default 1,000,000, with their three drip rows each) and a
small one (`--small`, default 10,000). In both, exactly `--due` rows (default 10,000) are
due at the tick's `now`; everything else is sent or scheduled later. The bench times
`workers.dispatcher.tick` claiming them (real Redis; the queue is emptied after each
run), and a tick with nothing due, then prints the plans of the dispatcher's queries.

    .venv/bin/python bench/bench_dispatch.py [--subscribers 1000000] [--small 10000]

Targets: claim tick at the large size <= 1.5 x the small size; a tick with nothing due
under 20 ms at the large size; the dispatcher's queries use the partial indexes
ix_deliveries_scheduled_due and ix_deliveries_leased (no sequential scan).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import benchlib
import sqlalchemy as sa
from sqlalchemy import event

RATIO_TARGET = 1.5
EMPTY_TARGET_MS = 20.0
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Asia/Kolkata"]


@dataclass
class Population:
    url: str
    subscribers: int
    due: int
    now: datetime
    layout: str = "cohort"
    load_seconds: float = 0.0
    sizes: dict[str, str] = field(default_factory=dict)
    app: object = None
    claim_ms: list[float] = field(default_factory=list)
    empty_ms: list[float] = field(default_factory=list)
    queued: list[int] = field(default_factory=list)


def due_blocks(n: int, due: int) -> list[tuple[int, int, int]]:
    """(step months, first id, count): who is due now in the cohort layout.

    Rows fall due by anchor: those due now for month 1, 3 and 6 belong to subscribers who
    confirmed about one, three and six months ago, so their ids (and rows) sit together.
    With anchors spread over a year those cohorts start near n/12, n/4 and n/2.
    """
    counts = [due - 2 * (due // 3), due // 3, due // 3]
    if due <= n // 2:
        starts = [n // 12, n // 4, n // 2]
    else:  # a table not much larger than what is due: the cohorts fill it in turn
        starts = [1, 1 + counts[0], 1 + counts[0] + counts[1]]
    return [(m, max(1, start), c) for m, start, c in zip((1, 3, 6), starts, counts, strict=True)]


def populate(pop: Population) -> None:
    """Subscribers anchored over the past year, three drip rows each; `due` rows due now.

    Layout "cohort" (the default): the due rows are the cohorts that confirmed one, three
    and six months ago, as they fall due in production. Layout "scattered": every
    (n / due)-th subscriber has its month-1 row due, so each due row sits on its own pages
    (the worst case for locality).
    """
    n, due = pop.subscribers, pop.due
    step = max(1, n // due)
    if pop.layout == "scattered":
        chosen = "(s.id % :step = 0 AND s.id / :step <= :due AND m = 1)"
    else:
        chosen = (
            "("
            + " OR ".join(
                f"(m = {m} AND s.id BETWEEN {start} AND {start + count - 1})"
                for m, start, count in due_blocks(n, due)
                if count
            )
            + ")"
        )
    naive_now = pop.now.replace(tzinfo=None)
    salt = uuid.uuid4().hex[:8]
    engine = sa.create_engine(pop.url)
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                """
                INSERT INTO subscribers (public_id, email, email_key, name, status, timezone,
                    job_status, anchor_at, confirmed_at, soft_bounces, created_at, updated_at)
                SELECT substr(md5(:salt || g), 1, 16), 'reader' || g || '@example.com',
                    'reader' || g || '@example.com', 'Reader ' || g, 'active',
                    (CAST(:zones AS text[]))[1 + g % 5], 'started',
                    :now - make_interval(secs => (g * 31536000.0 / :n)),
                    :now - make_interval(secs => (g * 31536000.0 / :n)),
                    0, :now - make_interval(secs => (g * 31536000.0 / :n)),
                    :now - make_interval(secs => (g * 31536000.0 / :n))
                FROM generate_series(1, :n) AS g
                """
            ),
            {"n": n, "salt": salt, "now": naive_now, "zones": ZONES},
        )
        # The chosen rows are scheduled and due within the last hour; the rest are sent
        # (due in the past) or scheduled (due later), as the anchor says.
        conn.execute(
            sa.text(
                f"""
                INSERT INTO deliveries (subscriber_id, step, kind, status, due_at, sent_at,
                    attempts, message_id, created_at, updated_at)
                SELECT s.id, 'month-' || m, 'drip',
                    CASE WHEN chosen THEN 'scheduled'
                         WHEN s.anchor_at + make_interval(months => m) <= :now THEN 'sent'
                         ELSE 'scheduled' END,
                    CASE WHEN chosen THEN :now - make_interval(secs => s.id % 3600)
                         ELSE s.anchor_at + make_interval(months => m) END,
                    CASE WHEN NOT chosen AND s.anchor_at + make_interval(months => m) <= :now
                         THEN s.anchor_at + make_interval(months => m) END,
                    CASE WHEN NOT chosen AND s.anchor_at + make_interval(months => m) <= :now
                         THEN 1 ELSE 0 END,
                    '<' || md5(:salt || s.id || '-' || m) || '.tend@tend.bench.example>',
                    s.created_at, s.created_at
                FROM (SELECT s.*, m, {chosen} AS chosen
                      FROM subscribers AS s CROSS JOIN (VALUES (1), (3), (6)) AS steps(m)) AS s
                ORDER BY s.id, m
                """
            ),
            {"now": naive_now, "salt": salt, "step": step, "due": due},
        )
        conn.execute(
            sa.text("INSERT INTO settings (key, value) VALUES ('sequence.offsets', :v)"),
            {"v": '{"month-1": "1 month", "month-3": "3 months", "month-6": "6 months"}'},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
        for table in ("subscribers", "deliveries"):
            size = conn.execute(
                sa.text(f"SELECT pg_size_pretty(pg_total_relation_size('{table}'))")
            ).scalar_one()
            count = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            pop.sizes[table] = f"{count:,} rows, {size}"
        due_now = conn.execute(
            sa.text(
                "SELECT count(*) FROM deliveries WHERE status = 'scheduled' AND due_at <= :now"
            ),
            {"now": naive_now},
        ).scalar_one()
    engine.dispose()
    pop.load_seconds = time.perf_counter() - started
    if due_now != due:
        raise RuntimeError(f"expected {due} rows due, found {due_now}")


def reset(pop: Population) -> None:
    """Put the claimed rows back to scheduled, as they were before the tick."""
    from models import db

    with pop.app.app_context():
        db.session.execute(
            sa.text(
                "UPDATE deliveries SET status = 'scheduled', job_id = NULL, lease_until = NULL "
                "WHERE status IN ('queued', 'sending')"
            )
        )
        db.session.execute(
            sa.text("UPDATE subscribers SET last_drip_at = NULL WHERE last_drip_at IS NOT NULL")
        )
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE deliveries"))
            conn.execute(sa.text("VACUUM ANALYZE subscribers"))
        db.session.remove()


def timed_tick(pop: Population, now: datetime) -> tuple[float, int]:
    from models import db
    from workers.dispatcher import tick

    with pop.app.app_context():
        try:
            started = time.perf_counter()
            result = tick(now)
            elapsed = (time.perf_counter() - started) * 1000
        finally:
            db.session.remove()
    if not result.handed_over:
        raise RuntimeError("Redis refused the batches")
    return elapsed, result.queued


@contextlib.contextmanager
def captured(pop: Population):
    """The SQL the dispatcher sends during the block, as (statement, parameters) pairs."""
    from models import db

    seen: list[tuple[str, object]] = []

    def listen(conn, cursor, statement, parameters, context, executemany):
        first = parameters[0] if executemany and parameters else parameters
        seen.append((statement, first))

    with pop.app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def explain(pop: Population, statements: list[tuple[str, object]]) -> list[tuple[str, str]]:
    """EXPLAIN (ANALYZE, BUFFERS) of each distinct statement, in a transaction rolled back."""
    from models import db

    plans = []
    kinds: set[str] = set()
    with pop.app.app_context():
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            for statement, params in statements:
                kind = re.sub(r"\(\s*%\(\w+\)s(\s*,\s*%\(\w+\)s)*\s*\)", "(...)", statement)
                kind = re.sub(r"\s+", " ", kind).strip()
                if kind in kinds or kind.split()[0].upper() not in ("SELECT", "UPDATE"):
                    continue
                kinds.add(kind)
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {statement}", params)
                plans.append((kind, "\n".join(row[0] for row in cursor.fetchall())))
            raw.rollback()
        finally:
            raw.close()
    return plans


def compact(plan: str) -> str:
    """A plan with long literal id arrays shortened to their first few elements."""

    def shorten(match: re.Match) -> str:
        items = match.group(1).split(",")
        if len(items) <= 6:
            return match.group(0)
        return "'{" + ",".join(items[:3]) + f",... {len(items)} values" + "}'"

    return re.sub(r"'\{([^}]*)\}'", shorten, plan)


def make_app(pop: Population, queue: str, redis_url: str):
    from app import create_app

    env = benchlib.tend_env(pop.url, redis_url, queue, DRIP_WINDOW="00:00-24:00")
    return create_app(env)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000, help="large table size")
    parser.add_argument("--small", type=int, default=10_000, help="small table size")
    parser.add_argument("--due", type=int, default=10_000, help="rows due at the tick")
    parser.add_argument("--reps", type=int, default=5, help="timed ticks per size (median)")
    parser.add_argument(
        "--layout",
        choices=("cohort", "scattered"),
        default="cohort",
        help="where the due rows sit (default cohort: as they fall due in production)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args(argv)
    small_n = min(args.small, args.subscribers)
    due = min(args.due, small_n)

    from models import db

    benchlib.header("Dispatch: one tick against a small and a large table", sys.argv)
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    print(
        f"due rows: {due} ({args.layout} layout); tick now={now.isoformat()}; "
        f"{args.reps} timed ticks per size"
    )
    queue = benchlib.unique("bench-dispatch")
    plans: dict[str, list[tuple[str, str]]] = {}
    with (
        benchlib.redis_server() as redis_url,
        benchlib.database("tend_bench_dispatch_small", keep=args.keep) as small_url,
        benchlib.database("tend_bench_dispatch_large", keep=args.keep) as large_url,
    ):
        pops = {
            "small": Population(small_url, small_n, due, now, args.layout),
            "large": Population(large_url, args.subscribers, due, now, args.layout),
        }
        try:
            for name, pop in pops.items():
                populate(pop)
                print(
                    f"  {name}: loaded in {pop.load_seconds:.1f}s: subscribers "
                    f"{pop.sizes['subscribers']}; deliveries {pop.sizes['deliveries']}",
                    flush=True,
                )
                pop.app = make_app(pop, queue, redis_url)
                # Warm up: the first tick of a process compiles and caches its statements.
                timed_tick(pop, now - timedelta(days=1))
                timed_tick(pop, now)
                benchlib.clear_queue(redis_url, queue)
                reset(pop)
            for _ in range(args.reps):
                for pop in pops.values():
                    elapsed, queued = timed_tick(pop, now)
                    pop.claim_ms.append(elapsed)
                    pop.queued.append(queued)
                    benchlib.clear_queue(redis_url, queue)
                    reset(pop)
                    for _ in range(5):
                        pop.empty_ms.append(timed_tick(pop, now - timedelta(days=1))[0])
            for name, pop in pops.items():
                with captured(pop) as statements:
                    timed_tick(pop, now)
                benchlib.clear_queue(redis_url, queue)
                reset(pop)
                plans[name] = explain(pop, statements)
        finally:
            for pop in pops.values():
                if pop.app is not None:
                    with pop.app.app_context():
                        db.session.remove()
                        db.engine.dispose()
            benchlib.clear_queue(redis_url, queue)

    small, large = pops["small"], pops["large"]
    claim_small = statistics.median(small.claim_ms)
    claim_large = statistics.median(large.claim_ms)
    ratio = claim_large / claim_small if claim_small else 0.0
    empty_large = statistics.median(large.empty_ms)
    all_queued = all(q == due for p in pops.values() for q in p.queued)

    print()
    print("## Plans of the dispatcher's queries (large table, rows due)")
    seq_scans = []
    used = set()
    for kind, plan in plans["large"]:
        print()
        print(f"-- {kind[:200]}")
        print(compact(plan))
        for index in ("ix_deliveries_scheduled_due", "ix_deliveries_leased"):
            if index in plan:
                used.add(index)
        for match in re.finditer(r"Seq Scan on (\w+)", plan):
            if match.group(1) in ("deliveries", "subscribers"):
                seq_scans.append(f"{match.group(1)} in: {kind[:80]}")
    indexes_ok = used == {"ix_deliveries_scheduled_due", "ix_deliveries_leased"} and not seq_scans
    print()
    rows = [
        [
            f"claim tick ({due:,} due)",
            f"{claim_small:.0f}",
            f"{claim_large:.0f}",
            f"{ratio:.2f}",
            f"<= {RATIO_TARGET} x",
            benchlib.verdict(ratio <= RATIO_TARGET and all_queued),
        ],
        [
            "tick with nothing due",
            f"{statistics.median(small.empty_ms):.1f}",
            f"{empty_large:.1f}",
            f"{empty_large / statistics.median(small.empty_ms):.2f}",
            f"< {EMPTY_TARGET_MS:.0f} ms at large",
            benchlib.verdict(empty_large < EMPTY_TARGET_MS),
        ],
        [
            "plans use the partial indexes",
            "",
            ", ".join(sorted(used)) or "none",
            "",
            "both, no Seq Scan",
            benchlib.verdict(indexes_ok),
        ],
    ]
    print(
        benchlib.table(
            [
                "measure",
                f"{small.subscribers:,} subscribers ms",
                f"{large.subscribers:,} subscribers ms",
                "ratio",
                "target",
                "target met",
            ],
            rows,
        )
    )
    print()
    for name, pop in pops.items():
        print(
            f"{name}: claim ticks ms {', '.join(f'{x:.0f}' for x in pop.claim_ms)}; "
            f"empty ticks ms min {min(pop.empty_ms):.1f} max {max(pop.empty_ms):.1f}; "
            f"queued per tick {sorted(set(pop.queued))}; load {pop.load_seconds:.0f}s"
        )
    if seq_scans:
        print("sequential scans: " + "; ".join(seq_scans))
    met = ratio <= RATIO_TARGET and empty_large < EMPTY_TARGET_MS and indexes_ok
    print(f"all targets met: {benchlib.verdict(met)}; load average {benchlib.loadavg()}")
    if not all_queued:
        print(f"ERROR: a tick did not queue the {due} due rows")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
