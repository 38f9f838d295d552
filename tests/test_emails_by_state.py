"""Every email, rendered for each state a reader can be in: no sentence that is true of one
state appears in another, and an email that cannot be true for a state never reaches it.

Composed by `campaigns.compose`, the send job's own composer, with the shipped sequence.
"""

from __future__ import annotations

import html as html_lib
import re
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from campaigns import sequence as sequences
from campaigns.compose import Recipient, compose
from campaigns.render import Sender
from campaigns.sequence import CHECKIN, DRIP, RECONFIRM, WORKSHEET
from models import JobStatus, Status
from subscribers.lifecycle import may_receive

NOW = datetime(2027, 4, 5, 14, 0, tzinfo=UTC)
SEQUENCE = sequences.load()
SENDER = Sender(
    mail_from="coach@tend.example",
    public_base_url="https://tend.example",
    secret_key="test-secret-key-that-is-long-enough-0123456789",
    postal_address="12 Garden Lane, Springfield, IL 62701",
    coach_name="Dana Whitfield",
    list_name="After the offer",
)

# (status, job status): every state a reader can be in when an email is composed for them.
STATES = [
    (Status.PENDING, JobStatus.UNKNOWN),
    (Status.PENDING, JobStatus.STARTED),  # gave a date before confirming
    (Status.ACTIVE, JobStatus.UNKNOWN),
    (Status.ACTIVE, JobStatus.LOOKING),
    (Status.ACTIVE, JobStatus.NOT_CHANGING),
    (Status.ACTIVE, JobStatus.STARTED),
    # Left, and asked to come back (someone typed the address into the form).
    (Status.UNSUBSCRIBED, JobStatus.UNKNOWN),
    (Status.UNSUBSCRIBED, JobStatus.NOT_CHANGING),
    (Status.UNSUBSCRIBED, JobStatus.STARTED),
]
EMAILS = [
    (WORKSHEET, SEQUENCE.worksheet),
    (RECONFIRM, SEQUENCE.worksheet),
    *((DRIP, s) for s in SEQUENCE.steps),
    *((CHECKIN, s) for s in SEQUENCE.checkins),
]

# Sentences true of one kind of reader only, each with the states it is true for.
HIRED = {JobStatus.STARTED}
NOT_HIRED = {JobStatus.UNKNOWN, JobStatus.LOOKING, JobStatus.NOT_CHANGING}
ASKED = {JobStatus.UNKNOWN, JobStatus.LOOKING}
SENTENCES = {
    # Only true of a reader who gave a start date.
    "into the new job": HIRED,
    "where you landed": HIRED,
    "how the new role is going": HIRED,
    "Three months in": HIRED,
    "Wrong start date? Change it (you told me Monday 1 March 2027)": HIRED,
    "You told me your new job starts, or started, on Monday 1 March 2027.": HIRED,
    "Monday 1 March 2027": HIRED,
    # Only true of a reader who gave none.
    "Started somewhere new? Tell me when": NOT_HIRED,
    "have you started a new job, or do you have a start date?": ASKED,
    "have you started somewhere new, or do you have a start date?": ASKED,
    "Still looking?": ASKED,
    "I'll only check in now and then": ASKED,
    "You told me you're not changing jobs": {JobStatus.NOT_CHANGING},
}
# Only to a reader not on the list: pending, or left and asked to come back.
ASKING_ONLY = ("one click confirms it's really you", "Get my worksheet")


def reader(status: str, job_status: str, name: str = "Ann Lee") -> Recipient:
    started = job_status == JobStatus.STARTED
    return Recipient(
        name=name,
        address="ann@example.com",
        public_id="0123456789abcdef",
        status=status,
        message_id="<m.tend@tend.example>",
        job_status=job_status,
        started_on="2027-03-01" if started else None,
    )


def read(outgoing):
    message = message_from_bytes(outgoing.data, policy=policy.default)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    words = html_lib.unescape(re.sub(r"<[^>]+>", " ", html))
    return message, text, " ".join(words.split())


def sendable(kind: str, status: str, job_status: str) -> bool:
    return may_receive(kind, status, job_status)


@pytest.mark.parametrize(
    ("kind", "email"), EMAILS, ids=[e.key if hasattr(e, "key") else kind for kind, e in EMAILS]
)
def test_each_email_reads_true_for_every_state_that_can_receive_it(kind, email):
    reached = []
    for status, job_status in STATES:
        message, text, words = read(compose(reader(status, job_status), email, SENDER, NOW))
        if not sendable(kind, status, job_status):
            continue  # the send job cancels it: no reader in this state ever reads it
        reached.append((status, job_status))
        for part in (text, words):
            for sentence, true_for in SENTENCES.items():
                assert (sentence.lower() in part.lower()) <= (job_status in true_for), (
                    f"{kind} {getattr(email, 'key', 'worksheet')} to a {status} reader who is "
                    f"{job_status} says {sentence!r}"
                )
            for sentence in ASKING_ONLY:
                assert (sentence.lower() in part.lower()) <= (status != Status.ACTIVE), sentence
            assert ("Started somewhere new? Tell me when" in part) == (
                job_status != JobStatus.STARTED
            )
            assert "Dana Whitfield" in part  # signed by COACH_NAME
        # Every reader gets the way to tell us, or to correct us.
        assert "https://tend.example/started/" in text
        # A reader on the list can leave in one click; a request to confirm is no list mail.
        on_the_list = status == Status.ACTIVE
        assert ("List-Unsubscribe" in message) == on_the_list
        assert ("Unsubscribe: https://tend.example/unsubscribe/" in text) == on_the_list
        assert message["From"] == "Dana Whitfield <coach@tend.example>"
        assert message["Reply-To"] == "Dana Whitfield <coach@tend.example>"
        assert message["List-Id"] == "After the offer <after-the-offer.tend.example>"
        assert "After the offer" in words  # the header of the email
    expected = {
        WORKSHEET: [s for s in STATES if s[0] != Status.UNSUBSCRIBED],
        RECONFIRM: [s for s in STATES if s[0] == Status.UNSUBSCRIBED],
        DRIP: [(Status.ACTIVE, JobStatus.STARTED)],
        CHECKIN: [(Status.ACTIVE, JobStatus.UNKNOWN), (Status.ACTIVE, JobStatus.LOOKING)],
    }[kind]
    assert reached == expected


def test_no_after_hire_note_can_reach_a_reader_without_a_start_date():
    for status in (Status.PENDING, Status.ACTIVE, Status.UNSUBSCRIBED, Status.BOUNCED):
        for job_status in JobStatus.ALL:
            if job_status != JobStatus.STARTED:
                assert not may_receive(DRIP, status, job_status)


def test_the_skeleton_cache_keeps_each_state_apart():
    """Each email, each state, rendered in turn with the cache warm, is what a full render
    gives: a name with an apostrophe always takes the full render, and only the first name
    is printed, so both bodies must be identical."""
    for _ in range(2):  # the second round reads every skeleton from the cache
        for _, email in EMAILS:
            for status, job_status in STATES:
                fast = read(compose(reader(status, job_status, "Ann Lee"), email, SENDER, NOW))
                full = read(compose(reader(status, job_status, "Ann O'Neil"), email, SENDER, NOW))
                assert fast[1:] == full[1:], (email, status, job_status)


def test_every_state_specific_sentence_is_really_said_to_someone():
    """The table above is not stale: each sentence appears in some email to a reader it is
    true for, so the checks above would catch it in the wrong one."""
    said = set()
    for kind, email in EMAILS:
        for status, job_status in STATES:
            if sendable(kind, status, job_status):
                _, text, words = read(compose(reader(status, job_status), email, SENDER, NOW))
                said |= {s for s in SENTENCES if s.lower() in text.lower() + words.lower()}
                said |= {s for s in ASKING_ONLY if s.lower() in text.lower() + words.lower()}
    assert said == set(SENTENCES) | set(ASKING_ONLY)
