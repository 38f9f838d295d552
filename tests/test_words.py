"""The words Tend computes: public holidays, the locale, the name a reader asks to be called
by (through the page and a real email on loopback SMTP), and the start-date page's own
copy points (10, 11 and 12 of the audit)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from email import message_from_bytes, policy

import pytest
from support import signup, started_path, work

from campaigns import sequence as sequences
from campaigns.closed_days import PublicHolidays, parse_codes
from campaigns.compose import Recipient, compose
from campaigns.plan import Due, Rules, SubscriberFacts, decide
from campaigns.render import Sender
from campaigns.timing import due_at, parse_days, parse_offset, start_anchor
from models import JobStatus, Status, Subscriber, db
from settings import ConfigError, load
from signup.greeting import CALLED_MAX

NEW_YORK = "America/New_York"


def _rules(holidays: str) -> Rules:
    return Rules(
        window=(time(9), time(17)),
        min_gap=timedelta(days=7),
        default_zone="UTC",
        days=parse_days("Mon-Fri"),
        holidays=PublicHolidays(parse_codes(holidays)),
    )


def test_with_us_holidays_a_month_3_note_due_on_new_years_day_waits_for_the_next_open_weekday():
    """Started Thursday, October 1, 2026: month-3 is due on Friday, January 1, 2027 (New Year's Day): it leaves Monday, January 4 at 09:00 in New
    York, not on the holiday; without DRIP_HOLIDAYS it leaves on the Friday."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(NEW_YORK)
    due = due_at(start_anchor(date(2026, 10, 1), zone), parse_offset("3 months"), zone)
    assert due.astimezone(zone).date() == date(2027, 1, 1)
    now = due - timedelta(hours=1)
    facts = {1: SubscriberFacts(zone=NEW_YORK)}
    for codes, leaves in (("US", date(2027, 1, 4)), ("", date(2027, 1, 1))):
        plan = decide([Due(7, "drip", 1, due)], facts, now=now, rules=_rules(codes))
        ((_, when),) = plan.defer
        assert when.astimezone(zone).date() == leaves, codes
        assert when.astimezone(zone).time() == time(9)


def test_the_holiday_shows_on_the_planned_day_in_the_email():
    sender = Sender(
        mail_from="coach@tend.example",
        public_base_url="https://tend.example",
        secret_key="k" * 40,
        postal_address="12 Garden Lane",
        coach_name="Dana Whitfield",
        rules=_rules("US"),
    )
    reader = Recipient(
        name="Ann Lee",
        address="ann@example.com",
        public_id="pub-1",
        status=Status.ACTIVE,
        message_id="<m@tend.example>",
        job_status=JobStatus.STARTED,
        started_on=date(2026, 10, 1),
        zone=NEW_YORK,
    )
    now = datetime(2026, 11, 20, 15, tzinfo=UTC)
    sent = compose(reader, sequences.load().worksheet, sender, now, sequence=sequences.load())
    text = " ".join(
        message_from_bytes(sent.data, policy=policy.default)
        .get_body(("plain",))
        .get_content()
        .split()
    )
    assert (
        "I'll send two short notes, at three and six months in, on Monday, January 4, "
        "2027 (after New Year's Day) and Thursday, April 1, 2027" in text
    ), text


def test_drip_holidays_and_locale_are_checked_settings():
    base = {"SECRET_KEY": "x" * 40}
    assert load(base, debug=True)["DRIP_HOLIDAYS"] == ""
    assert load(base | {"DRIP_HOLIDAYS": "us, gb-sct"}, debug=True)["DRIP_HOLIDAYS"] == "US,GB-SCT"
    config = load(base | {"LOCALE": "en-GB"}, debug=True)
    assert (config["LOCALE"], config["WORKSHEET_PAPER"]) == ("en-GB", "a4")
    assert load(base, debug=True)["WORKSHEET_PAPER"] == "letter"
    for bad in ({"DRIP_HOLIDAYS": "XX"}, {"DRIP_HOLIDAYS": "US-ZZ"}, {"LOCALE": "fr-FR"}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            load(base | bad, debug=True)


@pytest.mark.parametrize(
    ("locale", "said", "word"),
    [("en-US", "Monday, March 1, 2027", "résumé"), ("en-GB", "Monday 1 March 2027", "CV")],
)
def test_the_locale_writes_dates_and_words(locale, said, word):
    sender = Sender(
        mail_from="coach@tend.example",
        public_base_url="https://tend.example",
        secret_key="k" * 40,
        postal_address="12 Garden Lane",
        locale=locale,
    )
    reader = Recipient(
        name="Ann Lee",
        address="ann@example.com",
        public_id="pub-1",
        status=Status.ACTIVE,
        message_id="<m@tend.example>",
        job_status=JobStatus.STARTED,
        started_on=date(2027, 3, 1),
    )
    month_1 = sequences.load().steps[0]
    sent = compose(reader, month_1, sender, datetime(2027, 4, 1, 14, tzinfo=UTC))
    text = " ".join(
        message_from_bytes(sent.data, policy=policy.default)
        .get_body(("plain",))
        .get_content()
        .split()
    )
    assert f"(you told me {said})" in text
    assert f"passed on your {word}," in text


def test_an_unset_coach_name_signs_as_from_shows():
    """Point 12: From shows MAIL_FROM's name; the signature says the same."""
    sender = Sender(
        mail_from="Career Notes <coach@tend.example>",
        public_base_url="https://tend.example",
        secret_key="k" * 40,
        postal_address="12 Garden Lane",
    )
    assert sender.signature == sender.from_name == "Career Notes"
    assert replace(sender, coach_name="Dana").signature == "Dana"


def _page(client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200
    return " ".join(page.get_data(as_text=True).split())


def test_the_reader_says_what_to_call_them_and_the_next_email_greets_them_so(
    make_app, smtp, redis_url
):
    app = make_app(DOUBLE_OPT_IN="0", RESEND_MINUTES="0")
    client = app.test_client()
    signup(client, name="Dr. Jean-Luc Picard")
    work(app)
    (first,) = smtp.messages_to("ann@example.com")
    assert "Hi Jean-Luc," in first.get_body(("plain",)).get_content()
    path = started_path(app, "ann@example.com")
    page = _page(client, path)
    assert "What should I call you?" in page and 'My emails start "Hi Jean-Luc,"' in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    # Bad input: a clear message, a 400, nothing kept.
    for data, message in (
        ({"csrf_token": token, "called_name": "J" * (CALLED_MAX + 1)}, "Please keep it to"),
        ({"csrf_token": "forged", "called_name": "JL"}, "This form is too old"),
        ({"called_name": "JL"}, "This form is too old"),
    ):
        refused = client.post(f"{path}/name", data=data)
        assert refused.status_code == 400 and message in refused.get_data(as_text=True)
    assert client.get(f"{path}/name").status_code == 405  # only POST changes it
    with app.app_context():
        assert db.session.scalar(db.select(Subscriber.called_name)) is None

    saved = client.post(f"{path}/name", data={"csrf_token": token, "called_name": "  JL  "})
    assert saved.status_code == 303
    assert 'From now on my emails start "Hi JL,"' in _page(client, saved.headers["Location"])

    signup(client, name="Dr. Jean-Luc Picard")  # asks again: the worksheet email again
    work(app)
    first, again = smtp.messages_to("ann@example.com")
    assert "Hi JL," in again.get_body(("plain",)).get_content()
    assert ">Hi JL,</p>" in again.get_body(("html",)).get_content()


def test_the_start_date_page_after_the_last_check_in_and_its_buttons(make_app, smtp):
    """Points 10, 11 and 12: no promise of another check-in when none is coming, one button
    per answer, the worksheet always there for a reader on the list, days said in words."""
    app = make_app(DOUBLE_OPT_IN="0")
    client = app.test_client()
    signup(client)
    work(app)
    path = started_path(app, "ann@example.com")
    page = _page(client, f"{path}?answer=looking")
    assert page.count(">Yes, I'm still looking<") == 1
    assert "Not yet, still looking" not in page  # one button per answer
    assert "Download the worksheet (PDF)" in page  # point 11
    with app.app_context():
        (when,) = db.session.execute(
            db.text("SELECT MIN(due_at) FROM deliveries WHERE kind = 'checkin'")
        ).one()
    assert "and I'll check in again on" in page
    answered = client.post(path, data={"answer": "looking"})
    words = " ".join(answered.get_data(as_text=True).split())
    assert "Download the worksheet (PDF)" in words
    assert "Mon-Fri" not in words
    # With every check-in cancelled (the last one asked), the page promises none.
    with app.app_context():
        db.session.execute(db.text("UPDATE deliveries SET status = 'sent' WHERE kind = 'checkin'"))
        db.session.commit()
    last = _page(client, f"{path}?answer=looking")
    assert "check in again" not in last
    assert "I won't ask again" in last
    assert when is not None
