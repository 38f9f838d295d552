"""What the coach typed about one reader, checked before anything changes (`studio.readers`):
each problem as a message under the field the API and the dashboard's forms name, raised
together as `Refused`. The signup form's own checks (`subscribers.fields`) and messages
(`signup.messages`) judge a name and an address; the start-date page's range judges a day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from campaigns.compose import long_date
from models import JobStatus, Status, Subscriber
from signup import messages, service
from studio.errors import Refused
from subscribers.fields import NOTE_MAX, clean_email, clean_name, clean_note
from subscribers.lifecycle import CONFIRM_REQUESTS_MAX, email_key, find_by_address
from subscribers.suppression import is_suppressed, refuses_signup


class _Unchanged:
    """A field left out of a change (None means "clear it" where a field may be empty)."""

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Any = _Unchanged()

# The job answers, as the start-date page names them (`answer`); None: never said.
ANSWERS = (JobStatus.STARTED, JobStatus.LOOKING, JobStatus.NOT_CHANGING)
ANSWER_WORDS = {
    JobStatus.STARTED: "started",
    JobStatus.LOOKING: "still looking",
    JobStatus.NOT_CHANGING: "not changing jobs",
    JobStatus.UNKNOWN: "never said",
}

TAKEN = "Another reader already has this address."
REFUSED = "This address bounced or reported an email as spam: Tend does not mail it again."
MUST_CONFIRM = (
    "This address asked to be forgotten, or was deleted: it must confirm by email "
    "(leave the in-person box unticked)."
)
NOTE = "Please say how they asked to join (for their consent record)."
NOTE_LONG = f"Please keep the note to {NOTE_MAX} characters."
NEEDS_DAY = "Please enter the day they start, or started, their new job."
DAY_FORMAT = "Please enter the start date as YYYY-MM-DD."
WITH_A_DAY = 'A start date goes with the answer "started".'
CORRECTED = "Address corrected by the coach; the new address confirms."


@dataclass(frozen=True)
class NewReader:
    name: str
    email: str
    note: str


def _address(raw: object, errors: dict[str, list[str]], *, mine: Subscriber | None = None):
    """The normalized address, or None with its message in `errors`."""
    address = clean_email(raw)
    if address is None:
        errors.setdefault("email", []).append(messages.EMAIL)
        return None
    other = find_by_address(address)
    if other is not None and other is not mine:
        errors.setdefault("email", []).append(TAKEN)
    elif other is None and refuses_signup(email_key(address)):
        errors.setdefault("email", []).append(REFUSED)
    return address


def new_reader(name: object, email: object, note: object, *, confirmed: bool) -> NewReader:
    """A reader to add by hand, checked as the signup form checks one; `Refused` otherwise."""
    errors: dict[str, list[str]] = {}
    clean = clean_name(name)
    if clean is None:
        errors["name"] = [messages.NAME]
    address = _address(email, errors)
    checked = address is not None and "email" not in errors
    if checked and confirmed and is_suppressed(email_key(address)):
        errors["confirmed"] = [MUST_CONFIRM]
    text = clean_note(note)
    if text is None:
        long = isinstance(note, str) and len(note.strip()) > NOTE_MAX
        errors["note"] = [NOTE_LONG if long else NOTE]
    if errors:
        raise Refused(errors)
    return NewReader(clean, address, text)


@dataclass
class Change:
    """A checked change: each field that changes (None: stays as it is)."""

    name: str | None = None
    email: str | None = None
    email_key: str | None = None
    new_mailbox: bool = False  # another address, not the same one in another case
    reconfirm: bool = True
    answer: tuple[str, date | None] | None = None
    fields: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.fields


def change(
    subscriber: Subscriber,
    *,
    now: datetime,
    name: Any,
    email: Any,
    started_on: Any,
    job_answer: Any,
    reconfirm: Any,
) -> Change:
    """What `readers.change` will change, every field checked; `Refused` otherwise."""
    errors: dict[str, list[str]] = {}
    wanted = Change(reconfirm=reconfirm is not False)
    if not isinstance(reconfirm, bool):
        errors["reconfirm"] = ["Please say true or false."]
    if name is not UNCHANGED:
        clean = clean_name(name)
        if clean is None:
            errors["name"] = [messages.NAME]
        elif clean != subscriber.name:
            wanted.name = clean
            wanted.fields.append("name")
    if email is not UNCHANGED:
        _check_address(subscriber, email, wanted, errors)
    if started_on is not UNCHANGED or job_answer is not UNCHANGED:
        answer = _answer(subscriber, now, started_on, job_answer, errors)
        if answer is not None and answer != (subscriber.job_status, subscriber.started_job_on):
            wanted.answer = answer
            wanted.fields.append("job")
    if errors:
        raise Refused(errors)
    return wanted


def _check_address(subscriber: Subscriber, raw: object, wanted: Change, errors) -> None:
    address = _address(raw, errors, mine=subscriber)
    if address is None or "email" in errors or address == subscriber.email:
        return
    wanted.email, wanted.email_key = address, email_key(address)
    wanted.new_mailbox = wanted.email_key != subscriber.email_key
    wanted.fields.append("email")
    # On the list at an address without its confirmation by email: only for an address no
    # one asked to be forgotten.
    kept_on = subscriber.status in (Status.ACTIVE, Status.BOUNCED) and not wanted.reconfirm
    if wanted.new_mailbox and kept_on and is_suppressed(wanted.email_key):
        errors["reconfirm"] = [MUST_CONFIRM]


def _day(raw: object, subscriber: Subscriber, now: datetime, errors) -> date | None:
    """A start date as the start-date page takes one: ISO, two years back to six months on."""
    if type(raw) is date:
        raw = raw.isoformat()
    if isinstance(raw, str) and not raw.strip():
        errors["started_on"] = [NEEDS_DAY]
        return None
    try:
        date.fromisoformat(raw.strip() if isinstance(raw, str) else "")
    except ValueError:
        errors["started_on"] = [DAY_FORMAT]
        return None
    today = service.reader_today(subscriber, now)
    day = service.parse_start_date(raw, today=today)
    if day is None:
        earliest, latest = service.start_date_range(today)
        errors["started_on"] = [
            f"Please enter a start date between {long_date(earliest)} and {long_date(latest)}."
        ]
    return day


def _answer(
    subscriber: Subscriber, now: datetime, started_on: Any, job_answer: Any, errors
) -> tuple[str, date | None] | None:
    """(job status, start date) as asked: a day means `started`; clearing the day leaves
    the answer they never gave, unless another is given; `started` alone keeps their day."""
    if job_answer is not UNCHANGED and job_answer is not None and job_answer not in ANSWERS:
        errors["job_answer"] = ["Please choose started, looking or not_changing (or none)."]
        return None
    answer = JobStatus.UNKNOWN if job_answer in (UNCHANGED, None) else job_answer
    if started_on is not UNCHANGED and started_on is not None:
        if answer not in (JobStatus.STARTED, JobStatus.UNKNOWN) and job_answer is not UNCHANGED:
            errors["job_answer"] = [WITH_A_DAY]
        day = _day(started_on, subscriber, now, errors)
        return (JobStatus.STARTED, day) if day is not None else None
    if answer != JobStatus.STARTED:
        return answer, None
    day = subscriber.started_job_on if started_on is UNCHANGED else None
    if day is None:
        errors["started_on"] = [NEEDS_DAY]
        return None
    return answer, day


# ---- the sentences of the audit log and of refusals ---------------------------------------


def answer_sentence(job_status: str, day: date | None) -> str:
    if day is not None:
        return f"Set their start date to {long_date(day)}: the after-hire notes follow it."
    if job_status == JobStatus.UNKNOWN:
        return "Cleared their start date and job answer: the check-ins ask again."
    return f'Set their job answer to "{ANSWER_WORDS[job_status]}".'


def address_sentence(subscriber: Subscriber, wanted: Change, asked: bool) -> str:
    if asked:
        return "Corrected their email address: a request to confirm went to the new one."
    if wanted.new_mailbox and subscriber.status == Status.UNSUBSCRIBED:
        return "Corrected their email address; they stay unsubscribed."
    if wanted.new_mailbox:
        return "Corrected their email address, as they asked in person."
    return "Corrected the case of their email address."


def not_on_the_list(subscriber: Subscriber) -> str:
    if subscriber.status == Status.BOUNCED:
        return "Their address bounced: nothing goes to them."
    return "They are unsubscribed already: nothing goes to them."


def why_not_now(subscriber: Subscriber, now: datetime, resend: timedelta) -> str:
    """Why the worksheet email may not go again now, as `take_signup_email` decided."""
    last = subscriber.worksheet_sent_at
    if last is not None and last > now - resend:
        wait = max(1, math.ceil((last + resend - now).total_seconds() / 60))
        every = int(resend.total_seconds() // 60)
        sent = "The request to confirm" if subscriber.confirmed_at is None else "An email"
        return (
            f"{sent} went to them less than {every} minutes ago "
            f"(RESEND_MINUTES): try again in {wait} minute{'s' if wait != 1 else ''}."
        )
    return (
        f"They were asked to confirm {CONFIRM_REQUESTS_MAX} times and never did: "
        "Tend does not ask again."
    )
