"""One email for one reader: which template, filled with what, as the message that goes out.

The send job and the dashboard's previews both call `compose`, so what the operator sees
is byte for byte what a subscriber gets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from campaigns.content import markdown
from campaigns.mime import Outgoing, build_message, list_slug
from campaigns.names import first_name
from campaigns.plan import Rules
from campaigns.render import Sender, links_for, render
from campaigns.sequence import CHECKIN, WORKSHEET, WORKSHEET_KINDS, Sequence, Step, Worksheet
from campaigns.sequence import load as load_sequence
from campaigns.words import ReaderWords, current_locale, locale_of, reader_words
from models import JobStatus, Status


@dataclass(frozen=True)
class Recipient:
    """Who one delivery goes to, and what we know of them that their email depends on."""

    name: str
    address: str
    public_id: str
    # A pending reader's worksheet email carries the confirm link, and so does the one to a
    # reader who left and asked to come back (still unsubscribed until they confirm).
    status: str
    message_id: str  # fixed when the delivery was scheduled, the same on every retry
    # What they told us of their job: the words that are true for them depend on it (the
    # footer asks for a start date, or offers to change the one they gave).
    job_status: str = JobStatus.UNKNOWN
    started_on: date | str | None = None  # with job_status "started" (a date, or ISO text)
    called: str | None = None  # the name they asked to be greeted by, if they gave one
    zone: str | None = None  # their IANA zone: whose "today" their plan is counted from


def long_date(day: date, locale: str | None = None) -> str:
    """A day as a reader reads it in an email or on a page, in LOCALE (the running app's
    when none is given): "Monday, April 5, 2027" (en-US) or "Monday 5 April 2027" (en-GB)."""
    return (locale_of(locale) if locale else current_locale()).long_date(day)


def _start_date(recipient: Recipient) -> date | None:
    if recipient.job_status != JobStatus.STARTED or not recipient.started_on:
        return None
    if isinstance(recipient.started_on, date):
        return recipient.started_on
    try:
        return date.fromisoformat(recipient.started_on)
    except ValueError:
        return None


def _sequence() -> Sequence:
    from flask import current_app, has_app_context

    if has_app_context() and "tend.sequence" in current_app.extensions:
        from campaigns.content.emails import sequence

        return sequence()
    return load_sequence()


def words_for(
    recipient: Recipient, sender: Sender, now: datetime, *, asking: bool, sequence: Sequence
) -> ReaderWords:
    """The reader's computed pieces: their start date's tense, the notes still to come."""
    rules = sender.rules or Rules(window=(time(0), time(23, 59)), min_gap=timedelta(0))
    return reader_words(
        job_status=recipient.job_status,
        asking=asking,
        start=_start_date(recipient),
        today=now.astimezone(rules.zone(recipient.zone)).date(),
        steps=sequence.steps,
        locale=locale_of(sender.locale),
        days=rules.days,
        holidays=rules.holidays,
    )


def email_for(sequence: Sequence, kind: str, step: str) -> Step | Worksheet | None:
    """What a delivery sends: the worksheet email, its drip step or its check-in (None once
    it left the sequence)."""
    if kind in WORKSHEET_KINDS:
        return sequence.worksheet
    return sequence.checkin(step) if kind == CHECKIN else sequence.step(step)


def compose(
    recipient: Recipient,
    email: Step | Worksheet,
    sender: Sender,
    now: datetime,
    *,
    subject_prefix: str = "",
    sequence: Sequence | None = None,
) -> Outgoing:
    """The message `email` makes for `recipient`, dated `now`.

    The worksheet email to a reader not on the list (pending, or unsubscribed and asking
    to come back) is transactional: it asks them to confirm and carries no
    List-Unsubscribe. To anyone on the list (single opt-in, or a reader who asks again) it
    is list mail, like every other email: List-Unsubscribe with one-click, and an
    unsubscribe link in the footer. Each template is given what the reader told us of
    their job and computed from their plan (`campaigns.words`): the notes still to come
    follow `sequence` (the app's). `subject_prefix` marks the Subject header only (a test
    send).
    """
    pending = isinstance(email, Worksheet) and recipient.status != Status.ACTIVE
    sequence = sequence or _sequence()
    words = words_for(recipient, sender, now, asking=pending, sequence=sequence)
    # The reader's state shapes the email (one cached skeleton per email kind and shape);
    # their own dates are printed into it.
    extra = {**words.shape, "confirm": pending}
    kind = kind_of(email, sequence, pending=pending)
    body = email.confirm_body if pending else email.body
    compiled = markdown.compile_body(body, kind, bool(words.shape["looking"]))
    greeting = (recipient.called or "").strip() or None
    values = _line_values(recipient, sender, words, greeting)
    rendered = render(
        compiled.name,
        subject=_line(email.confirm_subject if pending else email.subject, values),
        preheader=_line(email.confirm_preheader if pending else email.preheader, values),
        name=recipient.name,
        public_id=recipient.public_id,
        sender=sender,
        transactional=pending,
        extra=extra,
        greeting=greeting,
        slots=words.slots,
    )
    if subject_prefix:
        rendered = replace(rendered, subject=subject_prefix + rendered.subject)
    return build_message(
        rendered,
        to_name=recipient.name,
        to_address=recipient.address,
        message_id=recipient.message_id,
        sender=sender,
        unsubscribe=None if pending else links_for(sender, recipient.public_id).unsubscribe,
        date=now,
        feedback_id=feedback_id(email, sender, transactional=pending),
    )


def kind_of(email: Step | Worksheet, sequence: Sequence, *, pending: bool = False) -> str:
    """Which kind of email this is (what Tend adds below its body depends on it)."""
    if isinstance(email, Worksheet):
        return markdown.CONFIRM if pending else markdown.WORKSHEET
    is_checkin = any(c.key == email.key for c in sequence.checkins)
    return markdown.CHECKIN if is_checkin else markdown.STEP


def _line_values(recipient: Recipient, sender: Sender, words: ReaderWords, greeting) -> dict:
    return {
        "first_name": greeting or first_name(recipient.name),
        "name": recipient.name,
        "coach_name": sender.signature,
        "list_name": sender.list_name,
        "resume": words.shape["resume"],
        "start_date": words.slots["started_on"],
    }


def _line(source: str, values: dict) -> str:
    """A subject or preheader with its variables put in (most have none)."""
    return markdown.render_line(source, values) if "{" in source else source


def feedback_id(email: Step | Worksheet, sender: Sender, *, transactional: bool) -> str:
    """Feedback-ID (Gmail's feedback loop): email:kind:list:sender, so complaint figures
    come back per email of the sequence, list mail apart from the one transactional email
    (the request to confirm), for the list LIST_NAME names."""
    campaign = WORKSHEET if isinstance(email, Worksheet) else email.key
    kind = "transactional" if transactional else "list"
    return f"{campaign}:{kind}:{list_slug(sender.list_name)}:{sender.domain}"
