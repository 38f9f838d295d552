"""The planner as tables: due rows and what we know of their readers in, a plan out; a
reader's answers in, their notes out; their notes in, the day each leaves out.

No database, no app, no clock: `now` is given.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from campaigns import sequence as sequences
from campaigns.plan import (
    Due,
    Note,
    Plan,
    Reader,
    Rules,
    SubscriberFacts,
    decide,
    forecast,
    intended,
)
from models import DeliveryStatus, JobStatus

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
    import settings

    read = settings.read(
        {
            "FLASK_DEBUG": "1",
            "DRIP_WINDOW": "08:30-18:00",
            "DRIP_MIN_GAP_DAYS": "5",
            "DEFAULT_TIMEZONE": "Asia/Tokyo",
            "DRIP_DAYS": "Mon-Sat",
        }
    )
    assert Rules.of(read.coach, read.drip.default_timezone) == Rules(
        window=(time(8, 30), time(18)),
        min_gap=timedelta(days=5),
        default_zone="Asia/Tokyo",
        days=frozenset(range(6)),
    )


# ---- send days and check-ins in the pass -------------------------------------------------

WEEKDAY_RULES = Rules(
    window=(time(9), time(17)), min_gap=timedelta(days=7), days=frozenset(range(5))
)
SATURDAY = datetime(2027, 1, 16, 10, 0, tzinfo=UTC)


def checkin(delivery_id: int, reader: int, due: datetime) -> Due:
    return Due(delivery_id, "checkin", reader, due)


def test_notes_wait_for_a_send_day_and_check_ins_share_the_gap():
    readers = {
        1: SubscriberFacts("UTC"),
        2: SubscriberFacts("UTC", last_drip_at=utc(12, 10)),  # a note three days ago
        3: SubscriberFacts("Asia/Tokyo"),  # 19:00 on Saturday there
    }
    due = [
        drip(10, 1, due=utc(16, 0)),  # due this Saturday morning
        checkin(11, 1, utc(16, 0)),  # the same reader: after the drip, the gap
        checkin(20, 2, utc(15, 9)),  # due Friday, overdue; the gap runs to Tuesday
        worksheet(30, 3),  # the worksheet email knows no send days
    ]
    plan = decide(due, readers, now=SATURDAY, rules=WEEKDAY_RULES)
    assert plan == Plan(
        send=[30],
        defer=[
            (10, utc(18, 9)),  # Monday 09:00
            (11, utc(18, 9)),  # the gap starts only when the first is sent
            (20, utc(19, 10)),  # Tuesday, when the gap ends
        ],
    )


# ---- what a reader's notes should be ------------------------------------------------------

SEQUENCE = sequences.load()
CONFIRMED = datetime(2027, 1, 4, 10, 0, tzinfo=UTC)  # a Monday


def statuses(notes):
    return {n.key: (n.status, n.due_at) for n in notes}


def test_a_reader_who_has_not_said_gets_check_ins_and_held_notes():
    notes = intended(SEQUENCE, Reader(JobStatus.UNKNOWN, None, CONFIRMED), now=CONFIRMED)
    assert statuses(notes) == {
        "month-1": (DeliveryStatus.HELD, None),
        "month-3": (DeliveryStatus.HELD, None),
        "month-6": (DeliveryStatus.HELD, None),
        "checkin-1": (DeliveryStatus.SCHEDULED, datetime(2027, 2, 15, 10, 0, tzinfo=UTC)),
        "checkin-2": (DeliveryStatus.SCHEDULED, datetime(2027, 4, 4, 10, 0, tzinfo=UTC)),
        "checkin-3": (DeliveryStatus.SCHEDULED, datetime(2027, 7, 4, 10, 0, tzinfo=UTC)),
    }


def test_a_start_date_counts_the_notes_and_ends_the_check_ins():
    start = datetime(2027, 1, 4, tzinfo=UTC)
    notes = intended(SEQUENCE, Reader(JobStatus.STARTED, start, CONFIRMED), now=CONFIRMED)
    assert statuses(notes) == {
        "month-1": (DeliveryStatus.SCHEDULED, datetime(2027, 2, 4, tzinfo=UTC)),
        "month-3": (DeliveryStatus.SCHEDULED, datetime(2027, 4, 4, tzinfo=UTC)),
        "month-6": (DeliveryStatus.SCHEDULED, datetime(2027, 7, 4, tzinfo=UTC)),
        "checkin-1": (DeliveryStatus.CANCELLED, datetime(2027, 2, 15, 10, 0, tzinfo=UTC)),
        "checkin-2": (DeliveryStatus.CANCELLED, datetime(2027, 4, 4, 10, 0, tzinfo=UTC)),
        "checkin-3": (DeliveryStatus.CANCELLED, datetime(2027, 7, 4, 10, 0, tzinfo=UTC)),
    }


@pytest.mark.parametrize(
    ("start", "month_1"),
    [
        (datetime(2026, 12, 3, tzinfo=UTC), DeliveryStatus.SCHEDULED),  # Jan 3: due today
        (datetime(2026, 11, 20, tzinfo=UTC), DeliveryStatus.SCHEDULED),  # Dec 20: 14 days
        (datetime(2026, 11, 19, tzinfo=UTC), DeliveryStatus.SKIPPED),  # Dec 19: 15 days
    ],
)
def test_a_note_past_by_more_than_two_weeks_when_the_date_arrives_is_skipped(start, month_1):
    now = datetime(2027, 1, 3, tzinfo=UTC)
    (first, *_) = intended(SEQUENCE, Reader(JobStatus.STARTED, start, CONFIRMED), now=now)
    assert first.status == month_1


def test_an_answer_answers_every_check_in_due_by_then():
    now = datetime(2027, 2, 15, 12, 0, tzinfo=UTC)  # checkin-1 came due at 10:00
    reader = Reader(JobStatus.LOOKING, None, CONFIRMED)
    answered = statuses(intended(SEQUENCE, reader, now=now, answered=True))
    assert answered["checkin-1"][0] == DeliveryStatus.CANCELLED
    assert answered["checkin-2"][0] == DeliveryStatus.SCHEDULED
    # The same reader at the same time, not just answering (a sync): it is still due.
    assert statuses(intended(SEQUENCE, reader, now=now))["checkin-1"][0] == (
        DeliveryStatus.SCHEDULED
    )
    nothing = statuses(intended(SEQUENCE, Reader(JobStatus.NOT_CHANGING, None, CONFIRMED), now=now))
    assert {s for s, _ in nothing.values()} == {DeliveryStatus.HELD, DeliveryStatus.CANCELLED}


# ---- the day each note leaves ---------------------------------------------------------------


def test_the_forecast_chains_the_gap_from_one_note_to_the_next():
    now = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)  # Friday
    notes = [
        Note(
            "drip", "month-1", datetime(2026, 12, 20, tzinfo=UTC), DeliveryStatus.SENT, utc(4, 10)
        ),
        Note("drip", "month-3", utc(13, 0), DeliveryStatus.SCHEDULED),  # overdue
        Note("drip", "month-4", utc(16, 0), DeliveryStatus.SCHEDULED),  # a Saturday
        Note("drip", "month-5", utc(10, 0), DeliveryStatus.SKIPPED),
        Note("drip", "month-6", None, DeliveryStatus.HELD),
        Note("checkin", "checkin-1", utc(1, 0), DeliveryStatus.CANCELLED),
    ]
    got = forecast(notes, now=now, zone="UTC", rules=WEEKDAY_RULES, last_sent=utc(4, 10))
    assert [(f.key, f.outcome, f.at) for f in got] == [
        ("month-1", "sent", utc(4, 10)),
        ("checkin-1", "not sent", None),
        ("month-5", "skipped", None),
        ("month-3", "planned", now),  # overdue, the gap long over: at once
        ("month-4", "planned", utc(22, 12)),  # a week after month-3 leaves
        ("month-6", "held", None),
    ]


def test_the_forecast_is_what_the_dispatcher_does_when_each_note_comes_due():
    """Walk the dispatcher minute by minute through a reader's notes: each leaves at the
    time the forecast gave, window, send days and gap included."""
    zone = "America/Chicago"
    due = {
        1: datetime(2027, 4, 3, 5, 0, tzinfo=UTC),  # Saturday midnight in Chicago
        2: datetime(2027, 4, 6, 5, 0, tzinfo=UTC),  # three days later: the gap holds it
        3: datetime(2027, 6, 3, 5, 0, tzinfo=UTC),
    }
    start = datetime(2027, 3, 20, 12, 0, tzinfo=UTC)
    notes = [Note("drip", str(i), d, DeliveryStatus.SCHEDULED) for i, d in due.items()]
    planned = {
        f.key: f.at
        for f in forecast(notes, now=start, zone=zone, rules=WEEKDAY_RULES, last_sent=None)
    }
    pending, last, sent = dict(due), None, {}
    now = start
    while pending:
        rows = [Due(i, "drip", 9, d) for i, d in sorted(pending.items()) if d <= now]
        plan = decide(rows, {9: SubscriberFacts(zone, last)}, now=now, rules=WEEKDAY_RULES)
        for i in plan.send:
            sent[str(i)], last = now, now
            del pending[i]
        pending.update(dict(plan.defer))
        now = min(pending.values(), default=now) if pending else now
        now = max(now, start)
    assert sent == planned
    assert planned["1"] == datetime(2027, 4, 5, 14, 0, tzinfo=UTC)  # Monday 09:00 CDT
    assert planned["2"] == datetime(2027, 4, 12, 14, 0, tzinfo=UTC)  # a week after
