"""The truth matrix: every email, rendered for every state a reader can be in, against a
table of sentences that must not be said to that state. Each of the twelve points of the
copy audit is a row; a row names the audit point it keeps fixed.

Composed by `campaigns.compose`, the send job's own composer, with the shipped sequence.
The end-to-end checks (a real signup through SMTP on loopback, the start-date page) are in
tests/test_words.py.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email import message_from_bytes, policy

import pytest

from campaigns import sequence as sequences
from campaigns.compose import Recipient, compose
from campaigns.plan import Rules
from campaigns.render import Sender
from campaigns.sequence import CHECKIN, DRIP, RECONFIRM, WORKSHEET
from campaigns.timing import parse_days
from models import JobStatus, Status
from subscribers.lifecycle import may_receive

NOW = datetime(2027, 4, 5, 14, 0, tzinfo=UTC)  # Monday, April 5, 2027
SEQUENCE = sequences.load()
SENDER = Sender(
    mail_from="coach@tend.example",
    public_base_url="https://tend.example",
    secret_key="test-secret-key-that-is-long-enough-0123456789",
    postal_address="12 Garden Lane, Springfield, IL 62701",
    coach_name="Dana Whitfield",
    list_name="After the offer",
    rules=Rules(window=(time(9), time(17)), min_gap=timedelta(days=7), days=parse_days("Mon-Fri")),
)
NAME = "María José O'Connor-Núñez"


@dataclass(frozen=True)
class State:
    key: str
    status: str
    job_status: str = JobStatus.UNKNOWN
    started_on: date | None = None
    coming: int = 0  # after-hire notes still to come at NOW

    @property
    def dated(self) -> bool:
        return self.started_on is not None


STATES = [
    State("unconfirmed", Status.PENDING),
    State("unconfirmed, gave a date", Status.PENDING, JobStatus.STARTED, date(2027, 3, 29), 3),
    State("confirmed, no answer", Status.ACTIVE),
    State("still looking", Status.ACTIVE, JobStatus.LOOKING),
    State("not changing jobs", Status.ACTIVE, JobStatus.NOT_CHANGING),
    State("future start", Status.ACTIVE, JobStatus.STARTED, date(2027, 4, 19), 3),
    State("past start", Status.ACTIVE, JobStatus.STARTED, date(2027, 3, 29), 3),
    # Started 1 February: month-1 (1 March) is behind them, sent or skipped.
    State("start with a skipped step", Status.ACTIVE, JobStatus.STARTED, date(2027, 2, 1), 2),
    State("left and came back", Status.UNSUBSCRIBED),
    State(
        "left and came back, had a date",
        Status.UNSUBSCRIBED,
        JobStatus.STARTED,
        date(2027, 3, 1),
        2,
    ),
    # An imported reader who started long ago: every after-hire note is behind them.
    State("imported", Status.ACTIVE, JobStatus.STARTED, date(2026, 9, 1), 0),
    State("added by the operator", Status.ACTIVE),
]
EMAILS = [
    (WORKSHEET, SEQUENCE.worksheet),
    (RECONFIRM, SEQUENCE.worksheet),
    *((DRIP, s) for s in SEQUENCE.steps),
    *((CHECKIN, s) for s in SEQUENCE.checkins),
]


@dataclass(frozen=True)
class Said:
    """What one email says to one reader."""

    kind: str
    key: str
    state: State
    subject: str
    text: str
    words: str  # the HTML part's words
    html: str

    def says(self, sentence: str) -> bool:
        flat = " ".join(self.text.split())  # the text part may wrap a sentence
        return any(sentence.lower() in part.lower() for part in (flat, self.words))

    @property
    def asks_to_confirm(self) -> bool:
        return self.kind in (WORKSHEET, RECONFIRM) and self.state.status != Status.ACTIVE


# (audit point, sentence, the readers it must never reach)
Rule = Callable[[Said], bool]
MUST_NOT_SAY: list[tuple[str, str, Rule]] = [
    ("1", "three short notes", lambda s: s.state.dated and s.state.coming < 3),
    ("1", "I'll send two", lambda s: s.state.coming != 2),
    ("1", "I'll send one short note", lambda s: s.state.coming != 1),
    # A note whose day is behind them may have been skipped, never sent: no "more".
    ("1", "more short note", lambda s: True),
    ("2", "Hi María,", lambda s: True),
    ("3", "starts, or started", lambda s: True),
    ("3", "job started on", lambda s: not s.state.dated or s.state.started_on > NOW.date()),
    ("3", "job starts on", lambda s: not s.state.dated or s.state.started_on <= NOW.date()),
    ("4", "client", lambda s: True),
    ("4", "a few short notes", lambda s: True),
    ("5", "Started somewhere new?", lambda s: s.state.job_status == JobStatus.NOT_CHANGING),
    ("5", "Started somewhere new?", lambda s: s.asks_to_confirm),
    ("6", "Here is your worksheet", lambda s: s.asks_to_confirm),
    ("6", "asked to hear from me", lambda s: s.asks_to_confirm),
    # A reader the coach added asked in person: no email says they signed up.
    ("-", "signed up", lambda s: s.state.key == "added by the operator"),
    ("6", "https://tend.example/started/", lambda s: s.asks_to_confirm),
    ("6", "Unsubscribe", lambda s: s.asks_to_confirm),
    ("7", "One question: have you started", lambda s: s.state.job_status == JobStatus.LOOKING),
    ("9", "Olivia", lambda s: s.kind == CHECKIN),
    ("12", "her role, the challenges", lambda s: True),
    ("12", "asked last month", lambda s: True),
    ("12", "nothing changes until you press it", lambda s: True),
    ("12", "Mon-Fri", lambda s: True),
    ("12", "CV", lambda s: True),  # en-US: résumé
    ("12", "favour", lambda s: True),
    ("12", "Your career coach", lambda s: True),  # signed by COACH_NAME
    ("-", "into the new job", lambda s: not s.state.dated),
    ("-", "where you landed", lambda s: not s.state.dated),
]
# (audit point, sentence, the readers it must reach)
MUST_SAY: list[tuple[str, str, Rule]] = [
    ("2", "Hi María José,", lambda s: True),
    (
        "6",
        "If you didn't ask, ignore this email: nothing more will come.",
        lambda s: s.asks_to_confirm,
    ),
    ("6", "Please confirm your email", lambda s: s.asks_to_confirm),
    (
        "7",
        "You told me you're still looking",
        lambda s: (
            s.kind in (WORKSHEET, RECONFIRM)
            and not s.asks_to_confirm
            and s.state.job_status == JobStatus.LOOKING
        ),
    ),
    (
        "1",
        "I'll send two short notes, at three and six months in",
        lambda s: (
            s.kind in (WORKSHEET, RECONFIRM) and not s.asks_to_confirm and s.state.coming == 2
        ),
    ),
    (
        "1",
        "no more will come",
        lambda s: (
            s.kind in (WORKSHEET, RECONFIRM)
            and not s.asks_to_confirm
            and s.state.dated
            and s.state.coming == 0
        ),
    ),
    (
        "3",
        "job started on",
        lambda s: (
            s.kind in (WORKSHEET, RECONFIRM)
            and not s.asks_to_confirm
            and s.state.dated
            and s.state.started_on <= NOW.date()
        ),
    ),
    (
        "3",
        "job starts on Monday, April 19, 2027",
        lambda s: (
            s.kind in (WORKSHEET, RECONFIRM)
            and not s.asks_to_confirm
            and s.state.key == "future start"
        ),
    ),
    (
        "5",
        "Changing jobs after all?",
        lambda s: not s.asks_to_confirm and s.state.job_status == JobStatus.NOT_CHANGING,
    ),
    ("-", "Dana Whitfield", lambda s: True),
]


def reader(state: State, name: str = NAME) -> Recipient:
    return Recipient(
        name=name,
        address="ann@example.com",
        public_id="0123456789abcdef",
        status=state.status,
        message_id="<m.tend@tend.example>",
        job_status=state.job_status,
        started_on=state.started_on,
    )


def said(kind: str, email, state: State, name: str = NAME) -> Said:
    out = compose(reader(state, name), email, SENDER, NOW, sequence=SEQUENCE)
    message = message_from_bytes(out.data, policy=policy.default)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    words = " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", html)).split())
    key = getattr(email, "key", kind)
    return Said(kind, key, state, str(message["Subject"]), text, words, html)


def reaching() -> list[Said]:
    """Every email to every state that can receive it (the send job cancels the rest)."""
    return [
        said(kind, email, state)
        for kind, email in EMAILS
        for state in STATES
        if may_receive(kind, state.status, state.job_status)
    ]


@pytest.fixture(scope="module")
def matrix() -> list[Said]:
    return reaching()


@pytest.mark.parametrize(("point", "sentence", "never_to"), MUST_NOT_SAY)
def test_no_email_says_what_is_false_for_its_reader(matrix, point, sentence, never_to):
    wrong = [f"{s.key} to {s.state.key}" for s in matrix if never_to(s) and s.says(sentence)]
    assert not wrong, f"point {point}: {sentence!r} said to {wrong}"


@pytest.mark.parametrize(("point", "sentence", "said_to"), MUST_SAY)
def test_every_email_says_what_is_true_for_its_reader(matrix, point, sentence, said_to):
    due = [s for s in matrix if said_to(s)]
    assert due, f"point {point}: no email in the matrix is meant to say {sentence!r}"
    missing = [f"{s.key} to {s.state.key}" for s in due if not s.says(sentence)]
    assert not missing, f"point {point}: {sentence!r} missing from {missing}"


def test_the_matrix_reaches_every_state_and_every_email(matrix):
    assert {s.state.key for s in matrix} == {s.key for s in STATES}
    assert {s.key for s in matrix} == {getattr(e, "key", k) for k, e in EMAILS}


def test_the_confirmation_request_asks_to_confirm_in_both_parts(matrix):
    """Point 6: subject, heading and greeting say it is a request to confirm."""
    asks = [s for s in matrix if s.asks_to_confirm]
    assert asks
    for s in asks:
        assert s.subject == "Please confirm your email to get the worksheet"
        assert re.search(r"<h1[^>]*>Please confirm your email to get the worksheet</h1>", s.html)
        assert ">Hi María José,</p>" in s.html and "Hi María José," in s.text.splitlines()
        assert "https://tend.example/confirm/" in s.text


def test_each_heading_is_its_subject_and_no_subject_assumes_the_search(matrix):
    """Points 8 and 12: check-in 2 does not assume they are looking; month-1's heading and
    subject are the same words."""
    for s in matrix:
        if True:  # every email's heading is its subject, the worksheet's and the request's too
            heading = re.search(r"<h1[^>]*>(.*?)</h1>", s.html).group(1)
            assert html_lib.unescape(heading) == s.subject, s.key
        assert "Still looking?" not in s.subject
        assert "client" not in s.subject.lower()


def test_a_reader_told_of_coming_notes_is_told_their_days(matrix):
    """Point 1: the days are the plan's: the skipped-step reader hears of month-3 and month-6."""
    skipped = next(
        s for s in matrix if s.kind == WORKSHEET and s.state.key == "start with a skipped step"
    )
    # Saturday 1 May and Sunday 1 August move to the Monday: the shipped send days.
    assert skipped.says("on Monday, May 3, 2027 and Monday, August 2, 2027, each with")


def test_the_skeleton_cache_keeps_each_state_apart():
    """Each email, each state, rendered in turn with the cache warm, is what a full render
    gives: a name with an apostrophe in the greeting always takes the full render."""
    for _ in range(2):
        for kind, email in EMAILS:
            for state in STATES:
                fast = said(kind, email, state, "Ann Lee")
                full = said(kind, email, state, "Ann O'Neil Lee")
                assert (fast.text, fast.words) == (full.text, full.words), (kind, state.key)


def test_no_after_hire_note_can_reach_a_reader_without_a_start_date():
    for status in (Status.PENDING, Status.ACTIVE, Status.UNSUBSCRIBED, Status.BOUNCED):
        for job_status in JobStatus.ALL:
            if job_status != JobStatus.STARTED:
                assert not may_receive(DRIP, status, job_status)
