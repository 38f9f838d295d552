"""The dispatch planner as a table: due rows and what we know of their readers in, a plan out.

No database, no app, no clock: `now` is given.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from campaigns.plan import Due, Plan, Rules, SubscriberFacts, decide

NOW = datetime(2027, 1, 15, 14, 0, tzinfo=UTC)  # 14:00 in London, 09:00 in New York
RULES = Rules(window=(time(9), time(17)), min_gap=timedelta(days=7), default_zone="UTC")


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, 1, day, hour, minute, tzinfo=UTC)


def drip(delivery_id: int, reader: int, due: datetime = NOW - timedelta(hours=1)) -> Due:
    return Due(delivery_id, "drip", reader, due)


def worksheet(delivery_id: int, reader: int) -> Due:
    return Due(delivery_id, "worksheet", reader, NOW)


def test_one_pass_over_many_readers():
    readers = {
        1: SubscriberFacts("Europe/London"),  # 14:00 local: inside the window
        2: SubscriberFacts("America/New_York"),  # 09:00 local: the window has just opened
        3: SubscriberFacts("Asia/Tokyo"),  # 23:00 local: waits for 09:00 tomorrow there
        4: SubscriberFacts("America/Los_Angeles"),  # 06:00 local: waits for 09:00 today
        5: SubscriberFacts("Europe/London", last_drip_at=utc(12, 14)),  # 3 days ago
        6: SubscriberFacts("Mars/Olympus_Mons"),  # unknown zone: the default (UTC)
        7: SubscriberFacts(None),  # no zone: the default
    }
    due = [
        drip(10, 1),
        drip(20, 2),
        drip(30, 3),
        worksheet(31, 3),  # a worksheet email goes at once, whatever the hour
        drip(40, 4),
        drip(50, 5),
        drip(60, 6),
        drip(70, 7, due=NOW),  # due this very minute
    ]
    plan = decide(due, readers, now=NOW, rules=RULES)
    assert plan == Plan(
        send=[10, 20, 31, 60, 70],
        defer=[
            (30, utc(16, 0)),  # 09:00 on the 16th in Tokyo
            (40, utc(15, 17)),  # 09:00 on the 15th in Los Angeles
            (50, utc(19, 14)),  # the gap ends on the 19th at 14:00, inside London's window
        ],
        gap_starts=[1, 2, 6, 7],  # not 3: a worksheet email starts no gap
    )


# (case, due rows, the reader's facts, now, rules, expected plan)
CASES = [
    (
        "two drips in one pass: the second waits the gap from now",
        [drip(1, 9, due=utc(1, 10)), drip(2, 9)],
        SubscriberFacts("Europe/London"),
        NOW,
        RULES,
        Plan(send=[1], defer=[(2, utc(22, 14))], gap_starts=[9]),
    ),
    (
        "the gap ends after closing time: the next opening",
        [drip(1, 9)],
        SubscriberFacts("UTC", last_drip_at=utc(8, 17, 30)),
        NOW,
        RULES,
        Plan(defer=[(1, utc(16, 9))]),
    ),
    (
        "the gap has ended: it goes",
        [drip(1, 9)],
        SubscriberFacts("UTC", last_drip_at=utc(8, 14)),
        NOW,
        RULES,
        Plan(send=[1], gap_starts=[9]),
    ),
    (
        "a shorter gap lets it go",
        [drip(1, 9)],
        SubscriberFacts("UTC", last_drip_at=utc(12, 14)),
        NOW,
        Rules(window=(time(9), time(17)), min_gap=timedelta(days=3)),
        Plan(send=[1], gap_starts=[9]),
    ),
    (
        "overdue by a week, but now is after closing time in the reader's zone",
        [drip(1, 9, due=utc(8, 10))],
        SubscriberFacts("Asia/Kolkata"),  # 19:30 there
        NOW,
        RULES,
        Plan(defer=[(1, utc(16, 3, 30))]),
    ),
    (
        "the default zone stands in for a missing one",
        [drip(1, 9)],
        SubscriberFacts(None),
        NOW,  # 15:00 in Berlin: after an 08:00-15:00 window
        Rules(window=(time(8), time(15)), min_gap=timedelta(days=7), default_zone="Europe/Berlin"),
        Plan(defer=[(1, utc(16, 7))]),
    ),
    (
        "a closing minute is outside the window",
        [drip(1, 9)],
        SubscriberFacts("UTC"),
        utc(15, 17),
        RULES,
        Plan(defer=[(1, utc(16, 9))]),
    ),
    (
        "worksheet emails need no facts and start no gap",
        [worksheet(1, 8), worksheet(2, 9)],
        None,
        utc(15, 3),
        RULES,
        Plan(send=[1, 2]),
    ),
    (
        "nothing due, nothing to do",
        [],
        None,
        NOW,
        RULES,
        Plan(),
    ),
]


@pytest.mark.parametrize(
    ("due", "facts", "now", "rules", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_plan(due, facts, now, rules, expected):
    readers = {9: facts} if facts is not None else {}
    assert decide(due, readers, now=now, rules=rules) == expected


def test_rules_come_from_the_settings():
    cfg = {
        "DRIP_WINDOW": "08:30-18:00",
        "DRIP_MIN_GAP_DAYS": 5,
        "DEFAULT_TIMEZONE": "Asia/Tokyo",
        "DRIP_DAYS": "Mon-Sat",
    }
    assert Rules.from_config(cfg) == Rules(
        window=(time(8, 30), time(18)),
        min_gap=timedelta(days=5),
        default_zone="Asia/Tokyo",
        days=frozenset(range(6)),
    )
