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
    assert shipped.preheader.startswith("Twenty quiet minutes")
    assert shipped.confirm_subject == "Please confirm your email to get the worksheet"
    assert shipped.body.startswith("Hi {{ first_name }},")
    step = '[[step]]\nkey="a"\noffset="1 month"\nsubject="s"\ntemplate="drip_month_1"\n'
    assert sequence.parse(step).worksheet == shipped
    # A value in the sequence file wins over the Markdown file's front matter.
    own = sequence.parse('[worksheet]\nsubject="Here it is"\npreheader=""\n' + step).worksheet
    assert (own.subject, own.preheader, own.body) == ("Here it is", "", shipped.body)
    first = sequence.parse(step).steps[0]
    assert (first.subject, first.offset_text) == ("s", "1 month")
    assert first.preheader == "Ten minutes of thanks now keeps doors open later."


def test_a_step_takes_its_words_from_a_markdown_file_beside_the_sequence_file(tmp_path):
    (tmp_path / "hello.md").write_text(
        '---\nsubject: "Hello {{ first_name }}"\noffset: 2 weeks\n---\nHi {{ first_name }}!\n'
    )
    (tmp_path / "seq.toml").write_text('[[step]]\nkey="hello"\ntemplate="hello"\n')
    step = sequence.load(tmp_path / "seq.toml").steps[0]
    assert (step.subject, step.offset_text, step.body) == (
        "Hello {{ first_name }}",
        "2 weeks",
        "Hi {{ first_name }}!\n",
    )


def test_a_bad_sequence_file_names_the_problem(tmp_path):
    with pytest.raises(ValueError, match=r"\[worksheet\]: templates/emails/nope.md is missing"):
        sequence.parse('[worksheet]\ntemplate="nope"\n')
    (tmp_path / "bare.md").write_text('---\nsubject: "s"\n---\nHi\n')
    with pytest.raises(ValueError, match="step 'a' has no offset"):
        sequence.parse('[[step]]\nkey="a"\ntemplate="bare"\n', tmp_path)
    with pytest.raises(ValueError, match="step 1 lacks template"):
        sequence.parse('[[step]]\nkey="a"\noffset="1 month"\n')
    with pytest.raises(ValueError, match="missing"):
        sequence.parse('[[step]]\nkey="a"\noffset="1 month"\nsubject="s"\ntemplate="nope"\n')
    with pytest.raises(ValueError, match="front matter"):
        (tmp_path / "plain.md").write_text("Hi\n")
        sequence.parse('[[step]]\nkey="a"\ntemplate="plain"\n', tmp_path)


# ---- send days, the 14-day limit, the start of the new job -------------------------------

WEEKDAYS = frozenset(range(5))


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("Mon-Fri", {0, 1, 2, 3, 4}),
        ("mon-sun", set(range(7))),
        ("Mon,Wed,Fri", {0, 2, 4}),
        ("Fri-Mon", {4, 5, 6, 0}),  # across the weekend
        ("Tuesday, thursday", {1, 3}),
        ("Sat", {5}),
    ],
)
def test_send_days_parse(text, days):
    from campaigns.timing import parse_days

    assert parse_days(text) == days


@pytest.mark.parametrize("bad", ["", "weekdays", "Mon-", "Mo-Fr", "Mon,,Fri", "Monday-Funday"])
def test_bad_send_days_are_refused(bad):
    from campaigns.timing import parse_days

    with pytest.raises(ValueError):
        parse_days(bad)


def test_a_note_due_at_the_weekend_waits_for_monday_in_the_readers_zone():
    # Saturday 3 April 2027, midnight in Chicago: Monday 09:00 there (CDT, 14:00 UTC).
    chicago = ZoneInfo("America/Chicago")
    due = datetime(2027, 4, 3, tzinfo=chicago)
    assert next_opening(due, chicago, WINDOW, WEEKDAYS) == datetime(2027, 4, 5, 9, tzinfo=chicago)
    # Friday after closing time: Monday's opening, not Saturday's.
    friday = at("2027-01-15T17:30:00+00:00")
    assert next_opening(friday, UTCZ, WINDOW, WEEKDAYS) == at("2027-01-18T09:00:00+00:00")
    # Sunday 23:30 UTC is Monday 08:30 in Tokyo: a send day there, at 09:00.
    sunday = at("2027-01-17T23:30:00+00:00")
    assert next_opening(sunday, TOKYO, WINDOW, WEEKDAYS) == at("2027-01-18T09:00:00+09:00")
    # Every day allowed (the pure function's default): Saturday it is.
    assert next_opening(due, chicago, WINDOW) == datetime(2027, 4, 3, 9, tzinfo=chicago)


def test_an_overdue_note_waits_for_a_send_day_and_the_gap_too():
    saturday = at("2027-01-16T10:00:00+00:00")
    when = send_time(
        at("2027-01-10T10:00:00+00:00"),
        now=saturday,
        zone=UTCZ,
        window=WINDOW,
        days=WEEKDAYS,
        last_drip_at=at("2027-01-12T15:00:00+00:00"),
        min_gap=timedelta(days=7),
    )
    assert when == at("2027-01-19T15:00:00+00:00")  # the gap ends on a Tuesday at 15:00


def test_a_note_more_than_two_weeks_past_is_too_late():
    from campaigns.timing import too_late

    now = at("2027-01-15T10:00:00+00:00")
    assert not too_late(now - timedelta(days=14), now)
    assert too_late(now - timedelta(days=14, seconds=1), now)
    assert not too_late(now + timedelta(days=30), now)


def test_offsets_count_on_the_readers_own_calendar():
    # Midnight of January 31 in Tokyo, stored as 15:00 UTC the day before: a month later is
    # midnight of February 28 in Tokyo, whichever form the anchor is in.
    anchor = datetime(2027, 1, 31, tzinfo=TOKYO)
    expected = datetime(2027, 2, 28, tzinfo=TOKYO)
    assert due_at(anchor.astimezone(UTC), parse_offset("1 month"), TOKYO) == expected
    assert due_at(anchor, parse_offset("1 month"), TOKYO) == expected
    # Across the spring change in Los Angeles: still midnight there.
    march = due_at(datetime(2027, 2, 14, tzinfo=LA).astimezone(UTC), parse_offset("1 month"), LA)
    assert march == datetime(2027, 3, 14, tzinfo=LA) and march.astimezone(LA).hour == 0


def test_the_start_of_the_new_job_is_midnight_in_the_readers_zone():
    from datetime import date

    from campaigns.timing import start_anchor

    assert start_anchor(date(2027, 3, 1), TOKYO) == at("2027-02-28T15:00:00+00:00")
    # Chile skips midnight when its clocks spring forward: the first instant of the day.
    santiago = ZoneInfo("America/Santiago")
    anchor = start_anchor(date(2026, 9, 6), santiago)
    assert anchor.astimezone(santiago).date() == date(2026, 9, 6)
    assert anchor.astimezone(santiago).hour == 1
