"""The verdict on a batch, as a table: what the relay answered and what is proven about it
-> who bounces, who is held (and how long) and whether sending pauses. No SMTP, no
database, no Redis: `judge` is a pure function."""

from __future__ import annotations

from datetime import timedelta

import pytest

from workers.send.verdicts import (
    HOLD_SPREAD,
    HOLD_SPREAD_MAX,
    REFUSED_WAIT,
    Batch,
    Proven,
    Refusal,
    judge,
)

USER_UNKNOWN = "550 5.1.1 User unknown"


def refused(subscriber_id: int, answer: int, *, fresh: bool = True) -> Refusal:
    return Refusal(subscriber_id, USER_UNKNOWN, answer, fresh)


def ids(refusals) -> list[int]:
    return [r.subscriber_id for r in refusals]


# (case, refusals, attempted, last accepted, paused, run, refused before,
#  bounced ids, held ids, pause reason or None)
TABLE = [
    ("nothing refused", (), 3, 3, False, 0, set(), [], [], None),
    (
        "a lone refusal, nobody taken after: held",
        (refused(1, 1),),
        1,
        0,
        False,
        1,
        set(),
        [],
        [1],
        None,
    ),
    (
        "refused, then someone else taken in the batch: bounced",
        (refused(1, 1),),
        3,
        3,
        False,
        0,
        set(),
        [1],
        [],
        None,
    ),
    ("taken before the refusal only: held", (refused(1, 3),), 3, 2, False, 1, set(), [], [1], None),
    (
        "refused before, someone taken since (Redis): bounced",
        (refused(1, 1),),
        1,
        0,
        False,
        1,
        {1},
        [1],
        [],
        None,
    ),
    (
        "the fifth fresh reader in a row: pause, all held",
        tuple(refused(i, 1) for i in (7,)),
        1,
        0,
        False,
        5,
        {7},
        [],
        [7],
        f"5 recipients refused in a row; the last: {USER_UNKNOWN}",
    ),
    (
        "four different readers in a row: no pause yet",
        (refused(4, 1),),
        1,
        0,
        False,
        4,
        set(),
        [],
        [4],
        None,
    ),
    (
        "most of a batch refused: pause, nobody bounces",
        (refused(1, 1), refused(2, 2), refused(3, 4)),
        4,
        3,
        False,
        2,
        set(),
        [],
        [1, 2, 3],
        f"3 recipients refused in a row; the last: {USER_UNKNOWN}",
    ),
    (
        "half of a batch refused is not most",
        (refused(1, 1), refused(2, 2)),
        4,
        4,
        False,
        0,
        set(),
        [1, 2],
        [],
        None,
    ),
    (
        "held readers refused together never pause, and bounce once proven",
        tuple(refused(i, i, fresh=False) for i in range(1, 7)),
        7,
        7,
        False,
        0,
        set(),
        [1, 2, 3, 4, 5, 6],
        [],
        None,
    ),
    (
        "held readers refused together, nothing proven: held again, no pause",
        tuple(refused(i, i, fresh=False) for i in range(1, 7)),
        6,
        0,
        False,
        0,
        set(),
        [],
        [1, 2, 3, 4, 5, 6],
        None,
    ),
    (
        "a relay refusing every new reader still pauses beside held ones",
        (*(refused(i, i, fresh=False) for i in (1, 2)), *(refused(i, i) for i in (3, 4, 5))),
        5,
        0,
        False,
        5,
        set(),
        [],
        [1, 2, 3, 4, 5],
        f"3 recipients refused in a row; the last: {USER_UNKNOWN}",
    ),
    (
        "paused during the batch: even the proven are held",
        (refused(1, 1),),
        3,
        3,
        True,
        0,
        set(),
        [],
        [1],
        None,
    ),
]


@pytest.mark.parametrize(
    ("refusals", "attempted", "last", "paused", "run", "before", "bounced", "held", "pause"),
    [case[1:] for case in TABLE],
    ids=[case[0] for case in TABLE],
)
def test_the_verdict_on_a_batch(
    refusals, attempted, last, paused, run, before, bounced, held, pause
):
    verdict = judge(
        Batch(refusals, attempted=attempted, last_accepted=last, paused=paused),
        Proven(run=run, refused_before=frozenset(before)),
    )
    assert ids(verdict.bounce) == bounced
    assert ids(r for r, _ in verdict.hold) == held
    assert verdict.pause == pause


def test_held_readers_come_back_spread_out_and_soon():
    many = tuple(refused(i, i) for i in range(1, 201))
    verdict = judge(Batch(many, attempted=200, last_accepted=0, paused=True), Proven())
    waits = [wait for _, wait in verdict.hold]
    assert waits[0] == REFUSED_WAIT  # the first comes back as a lone one would
    assert waits[1] - waits[0] == HOLD_SPREAD  # the others one after another
    assert len(set(waits)) > 50
    assert max(waits) == REFUSED_WAIT + HOLD_SPREAD_MAX <= timedelta(hours=24)
