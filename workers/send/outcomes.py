"""The words of the send job: why the rest of a batch stops, and how each row ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class StopKind(StrEnum):
    """Why the rest of a batch does not go; each row waits without using an attempt."""

    PAUSE = "pause"  # sending is paused (by the relay, the guard or the operator)
    THROTTLE = "throttle"  # the relay asked us to slow down: a minute's wait
    DOWN = "down"  # the connection or the relay is gone for this batch: back with backoff
    WAIT = "wait"  # no MAIL_RATE slot (or no Redis to ask): until the next slot


class RowOutcome(StrEnum):
    """How one claimed row ended in this batch (the job's counts)."""

    SENT = "sent"
    RETRY = "retry"  # back on the schedule with backoff, an attempt used
    FAILED = "failed"  # for good: bounced, undeliverable, or out of attempts
    SKIPPED = "skipped"  # no longer to be sent (cancelled, step gone, not ours)
    HELD = "held"  # waits without using an attempt (a stop, or an unproven refusal)


@dataclass
class Stop:
    """Why the rest of a batch does not go: each row waits without using an attempt."""

    kind: StopKind
    reason: str
    until: datetime | None = None


class NoSlot(Exception):
    """No MAIL_RATE slot for the email whose data was about to go."""

    def __init__(self, stop: Stop):
        super().__init__(stop.reason)
        self.stop = stop
