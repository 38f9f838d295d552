"""The seam between deciding what is due and moving it: campaigns names it, workers fill it.

The app wires an implementation (RQ over Redis) in `app.py`; signup and the dispatcher
hand over batches of delivery ids through it after their transaction has committed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from flask import current_app

Batch = tuple[str, list[int]]  # (job id, delivery ids)


class Conveyor(Protocol):
    def enqueue(self, batches: list[Batch], now: datetime | None = None) -> None:
        """Put batches on the conveyor; may raise if it is down (the rows stay claimed).

        With `now`, the jobs send as if it were that time (a dispatcher pass run at a
        pretended time); without it they read the clock when they run.
        """


def current() -> Conveyor:
    return current_app.extensions["tend.conveyor"]


def batches_of(ids: Iterable[int], size: int) -> list[Batch]:
    """Split delivery ids into batches, each with a fresh job id."""
    ids = list(ids)
    return [(uuid.uuid4().hex, ids[i : i + size]) for i in range(0, len(ids), size)]


def enqueue_after_commit(batches: list[Batch], now: datetime | None = None) -> bool:
    """Hand batches over; a conveyor that is down is logged, not raised.

    The rows are already committed as queued under their job ids, so the dispatcher
    finds them again (their job is missing from Redis) and nothing is lost.
    """
    if not batches:
        return True
    try:
        current().enqueue(batches, now)
    except Exception as err:
        # A conveyor that logs its own outage once is not logged again for every signup.
        quiet = getattr(err, "already_logged", False)
        (current_app.logger.debug if quiet else current_app.logger.warning)(
            "conveyor unavailable; the dispatcher will requeue %d batch(es)",
            len(batches),
            exc_info=not quiet,
        )
        return False
    return True
