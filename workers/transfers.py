"""Imports and exports as RQ jobs: the web saves the upload (or asks for an export) and
returns at once; a worker does the work and keeps the `transfers` row up to date.

Where the state lives: the row (0009) holds what the operator reads when it is over (the
state, the counts, the invalid lines, the export's file, the error); while a job runs,
its progress is in the RQ job's meta in Redis, since an import's rows are written in one
transaction that a progress update must not commit (and on SQLite could not wait for).

Time limits: a job may take 10 minutes plus 20 ms a row (`job_timeout`; 1,000,000 rows:
about 5.7 hours), about nine times the slowest import measured in bench/ (2.25 ms a row on
two cores loaded six times over, bench_transfer.py), so nothing is cut at a limit; and an
export is written under a temporary name and renamed only when complete.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app
from redis.exceptions import RedisError
from rq import get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import func, select

from admin import exporter, importer
from models import Subscriber, Transfer, TransferState, db, utcnow

log = logging.getLogger("tend.transfers")

IMPORT_JOB = "workers.transfers.run_import"
EXPORT_JOB = "workers.transfers.run_export"
BASE_SECONDS = 600
SECONDS_PER_ROW = 0.02
KEEP_FILES = timedelta(days=1)  # an export (personal data) is offered this long, then removed
INVALID_KEPT = 1000  # invalid lines kept for the status page; the count is always whole


def job_timeout(rows: int) -> int:
    """The RQ time limit of a transfer of `rows` rows."""
    return BASE_SECONDS + int(rows * SECONDS_PER_ROW)


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
    go again (ConveyorDown reaches the caller): nothing is left half-started."""
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
    """Save an uploaded CSV and queue its import. A file that cannot be imported at all,
    or (without skip_invalid) one with a cell over importer.MAX_CELL, is refused here,
    with its lines (ImportRefused), and nothing is kept."""
    _prune(now)
    transfer_id = _new_id()
    path = folder() / f"{transfer_id}.upload.csv"
    try:
        upload.save(str(path))
        path.chmod(0o600)
        with path.open(encoding="utf-8-sig", newline="") as f:
            _fmt, rows, oversized = importer.scan(f)
        if oversized and not skip_invalid:
            raise importer.ImportRefused(
                f"{len(oversized)} row(s) with a cell too long: nothing imported", oversized
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
        total=rows,
        created_at=now,
    )
    _queue(transfer, IMPORT_JOB, rows)
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


class _Live:
    """Progress for the status page, in the running job's meta (Redis), at most twice a second."""

    def __init__(self, phase: str, total: int):
        self.job = get_current_job()
        self.phase, self.total, self.done = phase, total, 0
        self._saved = 0.0
        self._save(force=True)

    def __call__(self, n: int) -> None:
        self.done += n
        self._save()

    def _save(self, force: bool = False) -> None:
        if self.job is None or (not force and time.monotonic() - self._saved < 0.5):
            return
        self._saved = time.monotonic()
        self.job.meta["progress"] = {"phase": self.phase, "done": self.done, "total": self.total}
        with contextlib.suppress(RedisError):  # progress is a nicety; the work goes on
            self.job.save_meta()


def _begin(transfer_id: str, kind: str) -> Transfer | None:
    transfer = db.session.get(Transfer, transfer_id)
    if transfer is None or transfer.kind != kind or transfer.state not in TransferState.OPEN:
        return None  # gone, or already run: a job run twice does its work once
    transfer.state = TransferState.RUNNING
    db.session.commit()
    return transfer


def _failed(transfer_id: str, error: str) -> None:
    """After a rollback: the row says what stopped it, and the upload goes."""
    db.session.rollback()
    transfer = db.session.get(Transfer, transfer_id)
    if transfer is None:
        return
    if transfer.path and transfer.kind == "import":
        Path(transfer.path).unlink(missing_ok=True)
        transfer.path = None
    transfer.state = TransferState.FAILED
    transfer.error = error[:2000]
    transfer.finished_at = utcnow()
    db.session.commit()


def _why(err: BaseException) -> str:
    name = type(err).__name__
    if name == "JobTimeoutException":
        return "it ran past its time limit"
    return f"{name}: {str(err)[:300]}" if str(err) else name


def run_import(transfer_id: str) -> dict[str, int] | None:
    """Check the saved file, then import it in one transaction (all or nothing), or only
    its valid rows when the operator asked to skip the invalid ones."""
    try:
        transfer = _begin(transfer_id, "import")
        if transfer is None:
            return None
        try:
            return _import(transfer)
        except (importer.ImportRefused, UnicodeDecodeError) as err:
            reason = str(err) if isinstance(err, importer.ImportRefused) else ""
            _refused(transfer_id, reason or "The file is not UTF-8 text.")
            return None
        except BaseException as err:
            log.exception("import %s stopped", transfer_id)
            _failed(transfer_id, f"The import stopped ({_why(err)}). Nothing was imported.")
            raise
    finally:
        db.session.remove()


def _refused(transfer_id: str, reason: str, invalid: list | None = None) -> None:
    db.session.rollback()
    transfer = db.session.get(Transfer, transfer_id)
    if transfer.path:
        Path(transfer.path).unlink(missing_ok=True)
        transfer.path = None
    transfer.state = TransferState.REFUSED
    transfer.error = reason
    if invalid:
        transfer.invalid = json.dumps([[bad.line, bad.reason] for bad in invalid[:INVALID_KEPT]])
        transfer.invalid_count = len(invalid)
    transfer.finished_at = utcnow()
    db.session.commit()


def _import(transfer: Transfer) -> dict[str, int] | None:
    transfer_id, path = transfer.id, transfer.path
    checking = _Live("checking", transfer.total)
    with open(path, encoding="utf-8-sig", newline="") as f:
        plan = importer.read(
            f, default_timezone=current_app.config["DEFAULT_TIMEZONE"], progress=checking
        )
    if plan.invalid and not transfer.skip_invalid:
        _refused(
            transfer_id, f"{len(plan.invalid)} invalid row(s): nothing was imported.", plan.invalid
        )
        return None
    now = utcnow()
    importing = _Live("importing", len(plan.rows))
    report = importer.load(plan, now=now, progress=importing, skip_invalid=transfer.skip_invalid)
    # The transfer's end is written in the import's own transaction: both or neither.
    transfer.state = TransferState.DONE
    transfer.done = report.imported
    transfer.counts = json.dumps(
        {"summary": list(importer.describe(plan, report)), "imported": report.imported}
    )
    transfer.invalid = json.dumps([[b.line, b.reason] for b in plan.invalid[:INVALID_KEPT]])
    transfer.invalid_count = len(plan.invalid)
    transfer.finished_at = now
    transfer.path = None
    db.session.commit()
    Path(path).unlink(missing_ok=True)
    return {"imported": report.imported, "invalid": len(plan.invalid)}


def run_export(transfer_id: str) -> dict[str, int] | None:
    """Write the export under a temporary name, rename it when complete, then offer it."""
    try:
        transfer = _begin(transfer_id, "export")
        if transfer is None:
            return None
        target = folder() / f"{transfer_id}.csv"
        try:
            written = exporter.write_file(target, progress=_Live("exporting", transfer.total))
            transfer = db.session.get(Transfer, transfer_id)
            transfer.state = TransferState.DONE
            transfer.done = written
            transfer.path = str(target)
            transfer.counts = json.dumps({"summary": [f"exported: {written} subscriber(s)"]})
            transfer.finished_at = utcnow()
            db.session.commit()
            return {"exported": written}
        except BaseException as err:
            log.exception("export %s stopped", transfer_id)
            target.unlink(missing_ok=True)
            _failed(transfer_id, f"The export stopped ({_why(err)}). No file was written.")
            raise
    finally:
        db.session.remove()


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
