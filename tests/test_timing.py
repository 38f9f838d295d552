"""The pure rules of when an email may leave: calendar offsets, the window, the gap."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from campaigns import sequence
from campaigns.timing import backoff, due_at, next_opening, parse_offset, parse_window, send_time

WINDOW = (time(9), time(17))
UTCZ = ZoneInfo("UTC")
TOKYO = ZoneInfo("Asia/Tokyo")
LA = ZoneInfo("America/Los_Angeles")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("anchor", "offset", "expected"),
    [
        ("2027-01-31T10:00:00+00:00", "1 month", "2027-02-28T10:00:00+00:00"),
        ("2028-01-31T10:00:00+00:00", "1 month", "2028-02-29T10:00:00+00:00"),
        ("2027-08-31T10:00:00+00:00", "6 months", "2028-02-29T10:00:00+00:00"),
        ("2027-03-15T10:00:00+00:00", "3 months", "2027-06-15T10:00:00+00:00"),
        ("2027-03-15T10:00:00+00:00", "10 days", "2027-03-25T10:00:00+00:00"),
        ("2027-03-15T10:00:00+00:00", "2 hours", "2027-03-15T12:00:00+00:00"),
        ("2027-03-15T10:00:00+00:00", "5 minutes", "2027-03-15T10:05:00+00:00"),
    ],
)
def test_offsets_are_calendar_offsets(anchor, offset, expected):
    assert due_at(at(anchor), parse_offset(offset)) == at(expected)


@pytest.mark.parametrize("bad", ["", "1 fortnight", "month", "-1 month", "1.5 months"])
def test_bad_offsets_are_refused(bad):
    with pytest.raises(ValueError):
        parse_offset(bad)


def test_window_parsing():
    assert parse_window("09:00-17:00") == WINDOW
    for bad in ["9-5", "17:00-09:00", "nonsense"]:
        with pytest.raises(ValueError):
            parse_window(bad)


def test_inside_window_is_untouched_outside_moves_to_next_opening():
    assert next_opening(at("2027-01-15T10:00:00+00:00"), UTCZ, WINDOW) == at(
        "2027-01-15T10:00:00+00:00"
    )
    assert next_opening(at("2027-01-15T06:00:00+00:00"), UTCZ, WINDOW) == at(
        "2027-01-15T09:00:00+00:00"
    )
    assert next_opening(at("2027-01-15T17:00:00+00:00"), UTCZ, WINDOW) == at(
        "2027-01-16T09:00:00+00:00"
    )


def test_window_is_in_the_subscribers_own_zone():
    # 14:00 UTC is 23:00 in Tokyo and 06:00 in Los Angeles (January, PST).
    due = at("2027-01-15T14:00:00+00:00")
    assert next_opening(due, TOKYO, WINDOW) == at("2027-01-16T09:00:00+09:00")
    assert next_opening(due, LA, WINDOW) == at("2027-01-15T09:00:00-08:00")


def test_window_across_daylight_saving_change():
    # The night clocks spring forward in Los Angeles: 09:00 PDT is 16:00 UTC.
    assert next_opening(at("2027-03-14T08:00:00+00:00"), LA, WINDOW) == at(
        "2027-03-14T09:00:00-07:00"
    )


def test_overdue_email_waits_for_the_window():
    now = at("2027-01-15T20:00:00+00:00")
    when = send_time(
        at("2027-01-10T10:00:00+00:00"),
        now=now,
        zone=UTCZ,
        window=WINDOW,
        last_drip_at=None,
        min_gap=timedelta(days=7),
    )
    assert when == at("2027-01-16T09:00:00+00:00")


def test_gap_moves_the_later_email():
    now = at("2027-01-15T10:00:00+00:00")
    last = at("2027-01-12T15:00:00+00:00")
    when = send_time(
        now, now=now, zone=UTCZ, window=WINDOW, last_drip_at=last, min_gap=timedelta(days=7)
    )
    assert when == at("2027-01-19T15:00:00+00:00")
    late = at("2027-01-12T17:30:00+00:00")
    when = send_time(
        now, now=now, zone=UTCZ, window=WINDOW, last_drip_at=late, min_gap=timedelta(days=7)
    )
    assert when == at("2027-01-20T09:00:00+00:00")  # gap ends after closing time: next opening


def test_backoff_grows_and_is_capped():
    assert [backoff(n).total_seconds() / 60 for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff(20) == timedelta(hours=6)


def test_shipped_sequence_is_one_three_six_months():
    seq = sequence.load()
    assert [(s.key, s.offset_text) for s in seq.steps] == [
        ("month-1", "1 month"),
        ("month-3", "3 months"),
        ("month-6", "6 months"),
    ]


def test_the_worksheet_email_is_data_and_a_file_without_it_keeps_the_shipped_words():
    shipped = sequence.load().worksheet
    assert shipped.subject == "Your worksheet: what you need from your next company"
    assert shipped.preheader == "One click and it's yours."
    step = '[[step]]\nkey="a"\noffset="1 month"\nsubject="s"\ntemplate="drip_month_1"\n'
    assert sequence.parse(step).worksheet == shipped
    own = sequence.parse('[worksheet]\nsubject="Here it is"\n' + step).worksheet
    assert (own.subject, own.preheader, own.template) == ("Here it is", "", "worksheet")


def test_a_bad_sequence_file_names_the_problem():
    with pytest.raises(ValueError, match=r"\[worksheet\] lacks subject"):
        sequence.parse('[worksheet]\npreheader="p"\n')

    with pytest.raises(ValueError, match="step 1 lacks offset"):
        sequence.parse('[[step]]\nkey="a"\nsubject="s"\ntemplate="drip_month_1"\n')
    with pytest.raises(ValueError, match="missing"):
        sequence.parse('[[step]]\nkey="a"\noffset="1 month"\nsubject="s"\ntemplate="nope"\n')
