"""The import and export jobs, as an RQ worker runs them (`transfers.service` queues them).

An import checks the saved file in one pass, then reads it again and writes it in batches
inside one transaction, committed at the end with the transfer's own row: all or nothing,
in flat memory. An export is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path

from flask import current_app
from redis.exceptions import RedisError
from rq import get_current_job

from models import Transfer, TransferState, db, utcnow
from transfers import exporter, importer
from transfers.csvfile import ImportRefused, Invalids
from transfers.service import folder

log = logging.getLogger("tend.transfers")


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
        except (ImportRefused, UnicodeDecodeError) as err:
            reason = str(err) if isinstance(err, ImportRefused) else ""
            _refused(transfer_id, reason or "The file is not UTF-8 text.")
            return None
        except BaseException as err:
            log.exception("import %s stopped", transfer_id)
            _failed(transfer_id, f"The import stopped ({_why(err)}). Nothing was imported.")
            raise
    finally:
        db.session.remove()


def _listed(transfer: Transfer, invalid: Invalids) -> None:
    transfer.invalid = json.dumps([[bad.line, bad.reason] for bad in invalid.kept])
    transfer.invalid_count = invalid.count


def _refused(transfer_id: str, reason: str, invalid: Invalids | None = None) -> None:
    db.session.rollback()
    transfer = db.session.get(Transfer, transfer_id)
    if transfer.path:
        Path(transfer.path).unlink(missing_ok=True)
        transfer.path = None
    transfer.state = TransferState.REFUSED
    transfer.error = reason
    if invalid:
        _listed(transfer, invalid)
    transfer.finished_at = utcnow()
    db.session.commit()


def _import(transfer: Transfer) -> dict[str, int] | None:
    transfer_id, path = transfer.id, transfer.path
    now = utcnow()  # one instant for both passes: a date after it is invalid in each
    zone = current_app.config["DEFAULT_TIMEZONE"]
    with open(path, encoding="utf-8-sig", newline="") as f:
        importer.scan(f)  # C speed: a file past the caps is refused before a row is checked
    with open(path, encoding="utf-8-sig", newline="") as f:
        checked = importer.check(
            f, default_timezone=zone, now=now, progress=_Live("checking", transfer.total)
        )
    invalid = checked.invalid
    if invalid.count and not transfer.skip_invalid:
        _refused(transfer_id, f"{invalid.count} invalid row(s): nothing was imported.", invalid)
        return None
    with open(path, encoding="utf-8-sig", newline="") as f:
        report = importer.load(
            f,
            checked,
            now=now,
            progress=_Live("importing", checked.valid),
            skip_invalid=transfer.skip_invalid,
        )
    # The transfer's end is written in the import's own transaction: both or neither.
    transfer.state = TransferState.DONE
    transfer.done = report.imported
    transfer.counts = json.dumps(
        {"summary": list(importer.describe(checked, report)), "imported": report.imported}
    )
    _listed(transfer, invalid)
    transfer.finished_at = utcnow()
    transfer.path = None
    db.session.commit()
    Path(path).unlink(missing_ok=True)
    return {"imported": report.imported, "invalid": invalid.count}


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
