"""What the admin asks of imports and exports: start one, read how it goes, offer its file.

The web saves the upload (or asks for an export), commits a `transfers` row and queues its
job (`transfers.jobs`), then returns at once; a worker does the work. Where the state
lives: the row (0009) holds what the operator reads when it is over (the state, the
counts, the invalid lines, the export's file, the error); while a job runs, its progress
is in the RQ job's meta in Redis, since an import's rows are written in one transaction
that a progress update must not commit (and on SQLite could not wait for).

Time limits: a job may take 10 minutes plus 20 ms a row (`job_timeout`), rows counted to
`csvfile.MAX_ROWS` at most (the most a file may have), so no limit is over 20,600 s:
about nine times the slowest import measured in bench/ (bench_transfer.py), so nothing is
cut at a limit. An export is written under a temporary name and renamed only when
complete.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import func, select

from models import Subscriber, Transfer, TransferState, db
from transfers import importer
from transfers.csvfile import MAX_ROWS, ImportRefused

IMPORT_JOB = "transfers.jobs.run_import"
EXPORT_JOB = "transfers.jobs.run_export"
BASE_SECONDS = 600
SECONDS_PER_ROW = 0.02
KEEP_FILES = timedelta(days=1)  # an export (personal data) is offered this long, then removed


def job_timeout(rows: int) -> int:
    """The RQ time limit of a transfer of `rows` rows, counted to MAX_ROWS at most: an import
    has no more, and an export writes about 10,000 rows a second (bench_transfer.py), so
    5.7 hours is far more than any list's export takes."""
    return BASE_SECONDS + int(min(rows, MAX_ROWS) * SECONDS_PER_ROW)


def folder() -> Path:
    """TRANSFER_DIR, made on first use (uploads waiting for a worker, finished exports)."""
    path = Path(current_app.config["TRANSFER_DIR"] or Path(current_app.instance_path) / "transfers")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # a folder the operator made and owns stays theirs
        path.chmod(0o700)
    return path


def _new_id() -> str:
    return secrets.token_hex(16)


def is_id(value: str) -> bool:
    """Whether `value` has the form of a transfer id (32 lower-case hex digits)."""
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def _prune(now: datetime) -> None:
    """Remove the files of transfers that ended more than KEEP_FILES ago."""
    for old in db.session.scalars(
        select(Transfer).where(
            Transfer.path.is_not(None),
            Transfer.finished_at.is_not(None),
            Transfer.finished_at < now - KEEP_FILES,
        )
    ):
        Path(old.path).unlink(missing_ok=True)
        old.path = None


def _queue(transfer: Transfer, function: str, rows: int) -> None:
    """Commit the row, then queue its job; if Redis does not take it, the row and its file
    go again (RedisDown reaches the caller): nothing is left half-started."""
    db.session.add(transfer)
    db.session.commit()
    try:
        current_app.extensions["tend.conveyor"].enqueue_transfer(
            function, transfer.id, timeout=job_timeout(rows)
        )
    except Exception:
        if transfer.path:
            Path(transfer.path).unlink(missing_ok=True)
        db.session.delete(transfer)
        db.session.commit()
        raise


def start_import(upload, filename: str, *, skip_invalid: bool, now: datetime) -> Transfer:
    """Save an uploaded CSV and queue its import. A file that cannot be imported at all (more
    than MAX_ROWS rows, a line over MAX_LINE), or (without skip_invalid) one with a row too
    big to check, is refused here, with its lines (ImportRefused), and nothing is kept."""
    _prune(now)
    transfer_id = _new_id()
    path = folder() / f"{transfer_id}.upload.csv"
    try:
        upload.save(str(path))
        path.chmod(0o600)
        with path.open(encoding="utf-8-sig", newline="") as f:
            _fmt, rows, big = importer.scan(f)
        if big.count and not skip_invalid:
            raise ImportRefused(
                f"{big.count} row(s) with a cell too long or too many cells: nothing imported",
                big.kept,
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    transfer = Transfer(
        id=transfer_id,
        kind="import",
        state=TransferState.QUEUED,
        skip_invalid=skip_invalid,
        filename=(filename or "upload.csv")[:255],
        path=str(path),
        total=min(rows, MAX_ROWS),
        created_at=now,
    )
    _queue(transfer, IMPORT_JOB, transfer.total)
    return transfer


def start_export(now: datetime) -> Transfer:
    """Queue an export of every subscriber."""
    _prune(now)
    rows = db.session.scalar(select(func.count()).select_from(Subscriber)) or 0
    transfer = Transfer(
        id=_new_id(),
        kind="export",
        state=TransferState.QUEUED,
        filename=f"tend-subscribers-{now:%Y%m%d-%H%M}.csv",
        total=rows,
        created_at=now,
    )
    _queue(transfer, EXPORT_JOB, rows)
    return transfer


@dataclass(frozen=True)
class Progress:
    """What the status page shows of a transfer that has not ended."""

    phase: str = ""
    done: int = 0
    total: int = 0
    lost: str = ""  # the job is gone or failed in RQ while the row says it runs

    @property
    def percent(self) -> int:
        return min(100, self.done * 100 // self.total) if self.total else 0


def progress_of(transfer: Transfer) -> Progress:
    """The running job's progress from Redis; read only (a GET of the status page)."""
    if transfer.state not in TransferState.OPEN:
        return Progress()
    conveyor = current_app.extensions["tend.conveyor"]
    try:
        job = Job.fetch(transfer.id, connection=conveyor.redis)
        status = job.get_status(refresh=False)
    except NoSuchJobError:
        return Progress(lost="The job is no longer in the queue (Redis). Start it again.")
    except RedisError:
        return Progress(phase="unknown: the queue (Redis) is not answering")
    if status in ("failed", "stopped", "canceled"):
        return Progress(lost="The worker stopped this job before it ended. Start it again.")
    meta = (job.meta or {}).get("progress") or {}
    return Progress(
        phase=meta.get("phase", "waiting for a worker"),
        done=int(meta.get("done", 0)),
        total=int(meta.get("total", transfer.total)),
    )


def downloadable(transfer: Transfer) -> bool:
    """A finished export whose file is still kept."""
    return (
        transfer.kind == "export"
        and transfer.state == TransferState.DONE
        and bool(transfer.path)
        and Path(transfer.path).is_file()
    )


def recent(limit: int = 10) -> list[Transfer]:
    return list(
        db.session.scalars(select(Transfer).order_by(Transfer.created_at.desc()).limit(limit))
    )


def invalid_of(transfer: Transfer) -> list[tuple[int, str]]:
    return [(line, reason) for line, reason in json.loads(transfer.invalid or "[]")]


def summary_of(transfer: Transfer) -> list[str]:
    return list(json.loads(transfer.counts or "{}").get("summary", []))
