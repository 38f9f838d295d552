"""The verdict on a batch: who bounces, who is held, and whether sending pauses.

One pure function, `judge`, over what the relay answered in the batch and what is proven
about this relay across batches (`workers/send/relay.py` keeps that in Redis). It reads no
clock, no database and no SMTP: tests/test_verdicts.py is its table.

A refused reader bounces only once the relay took someone else's email after refusing
them (later in this batch, or since an earlier refusal of theirs): a relay that refuses
everyone says nothing about any one address. Refusals say the relay is wrong, and pause
sending, when they are most of the batch, or when REFUSAL_RUN different readers are
refused in a row. Only fresh sends count for both: a reader held earlier and refused again
adds nothing, so held retries coming back together cannot pause sending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

REFUSAL_RUN = 5  # different recipients refused in a row: the relay, not the readers, is wrong
MOST_OF_A_BATCH = 4  # a batch this big whose fresh refusals are more than half pauses too
REFUSED_WAIT = timedelta(minutes=15)  # a refused reader the relay gave no proof against
HOLD_SPREAD = timedelta(minutes=2)  # ...and each further one held in the batch this later
HOLD_SPREAD_MAX = timedelta(hours=3)  # the last of a big batch still comes back this soon


@dataclass(frozen=True)
class Refusal:
    """A reader the relay refused in this batch."""

    subscriber_id: int
    reason: str  # the relay's answer
    answer: int  # its place among the batch's answers (accepted or refused), from 1
    fresh: bool = True  # False: a reader held earlier, tried again


@dataclass(frozen=True)
class Batch:
    """What the relay answered in one batch."""

    refusals: tuple[Refusal, ...]  # in the order the relay answered
    attempted: int  # emails the relay answered, accepted or refused
    last_accepted: int  # the place of the last answer that accepted an email (0: none)
    paused: bool = False  # sending paused while the batch ran (by a lane, or from outside)


@dataclass(frozen=True)
class Proven:
    """What is known of this relay across batches, this batch included."""

    run: int = 0  # different fresh readers refused since an email last went through
    refused_before: frozenset[int] = frozenset()  # readers refused before someone else's
    # email went through: the proof their address is wrong


@dataclass(frozen=True)
class Verdict:
    bounce: tuple[Refusal, ...]
    hold: tuple[tuple[Refusal, timedelta], ...]  # each with how long it waits
    pause: str | None  # the reason sending pauses, or None


def judge(batch: Batch, proven: Proven) -> Verdict:
    """Who bounces, who is held (and how long), and whether sending pauses."""
    fresh = [r for r in batch.refusals if r.fresh]
    pause = None
    if fresh and not batch.paused:
        most = batch.attempted >= MOST_OF_A_BATCH and 2 * len(fresh) > batch.attempted
        if most or proven.run >= REFUSAL_RUN:
            count = len(fresh) if most else proven.run
            pause = f"{count} recipients refused in a row; the last: {fresh[-1].reason}"
    stopped = batch.paused or pause is not None
    bounce: list[Refusal] = []
    hold: list[tuple[Refusal, timedelta]] = []
    for refusal in batch.refusals:
        shown = refusal.answer < batch.last_accepted
        if (shown or refusal.subscriber_id in proven.refused_before) and not stopped:
            bounce.append(refusal)
        else:
            spread = min(HOLD_SPREAD * len(hold), HOLD_SPREAD_MAX)
            hold.append((refusal, REFUSED_WAIT + spread))
    return Verdict(tuple(bounce), tuple(hold), pause)
