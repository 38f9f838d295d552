"""One admission for every signup, whichever door it came in by.

A submission from the hosted form, the API or a keyed API call passes the checks its
channel lists in `CHECKS`, in that order; the first check with an answer ends it. There
are four answers (`Verdict`): accepted, refused (its reasons counted once, here), "did you
mean" (a likely typo in the address) and "press once more" (the hosted form again, ready
for one press). The views only translate: HTML or JSON in, the outcome out the same way.

Every answer of an anonymous channel passes the client's rate limit; a signup about to be
stored passes it in the same Redis round trip that spends its proof (`signup.gate`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cached_property

from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from campaigns.content import pages as page_texts
from campaigns.content import store as content_store
from models import db
from signup import challenge, gate, messages, refused_origins, service
from signup.door import (
    bearer_key,
    believed_page,
    key_accepted,
    origin_of,
    post_from_allowed_page,
)
from signup.traps import FormToken, honeypot_filled, read_form_token
from signup.typos import suggest
from subscribers.fields import clean_email, clean_name, clean_page_url, clean_timezone
from subscribers.lifecycle import email_key
from web.metrics import count_rejection


class Channel(StrEnum):
    FORM = "form"  # the hosted page, alone or in an iframe
    API = "api"  # JSON or form fields, from a browser's page or an anonymous server
    KEYED = "keyed"  # a server presenting one of SIGNUP_API_KEYS


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    SUGGEST = "did you mean"
    AGAIN = "press once more"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    status: int
    reasons: tuple[str, ...] = ()  # metric labels, counted once by `record`
    errors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    message: str = messages.BANNER
    suggestion: str | None = None
    retry_after: int | None = None  # seconds, with a 429
    fresh: bool = False  # the form again with a fresh token and a fresh challenge
    counts: bool = True  # uses up one of the client's allowance


@dataclass
class Submission:
    """What arrived (read from the request by a view), then what the checks learned."""

    channel: Channel
    values: Mapping[str, object] | None  # None: a body that is no flat object of fields
    now: datetime
    origins: Callable[[], frozenset[str]]  # the origins that may post, when asked
    network: str  # the client, as the limit counts it
    route: str
    origin: str | None = None
    fetch_site: str | None = None
    referer: str | None = None
    authorization: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    name: str | None = None
    email: str | None = None
    token: FormToken | None = None
    solved: challenge.Solved | None = None
    gated: bool = False  # passed through the limit (and spent its proof) already

    @cached_property
    def allowed(self) -> frozenset[str]:
        return self.origins()

    def value(self, key: str) -> object:
        return (self.values or {}).get(key)


def refused(status: int, *reasons: str, message: str = messages.BANNER, **more) -> Outcome:
    return Outcome(Verdict.REFUSED, status, reasons, message=message, **more)


def record(outcome: Outcome) -> Outcome:
    """Count a refusal (or a "press once more") under its reasons: the one place they are."""
    if outcome.reasons:
        count_rejection(*outcome.reasons)
    return outcome


def keyed(authorization: str | None) -> bool:
    """A server presenting one of SIGNUP_API_KEYS (`Authorization: Bearer <key>`)."""
    key = bearer_key(authorization)
    return key is not None and key_accepted(key, current_app.config["SIGNUP_API_KEYS"])


def challenge_on() -> bool:
    return current_app.config["SIGNUP_CHALLENGE"] == "pow"


def solved(payload: object, now: datetime) -> challenge.Solved | None:
    return challenge.check(current_app.config["SECRET_KEY"], payload, now)


# ---- the checks, each: None to go on, or the answer ---------------------------------------


def origin_refusal(origin: str | None, route: str, *, now: datetime, counted: bool) -> Outcome:
    """A browser's request from a page that may not post: logged, kept for the dashboard."""
    refused_origins.note(origin or "null", route, now=now)
    return refused(403, "origin") if counted else refused(403)


def check_origin(s: Submission) -> Outcome | None:
    if s.channel is Channel.FORM:
        allowed = post_from_allowed_page(
            origin=s.origin, fetch_site=s.fetch_site, referer=s.referer, allowed=s.allowed
        )
        sender = s.origin or origin_of(s.referer or "")
    else:
        allowed = s.origin is None or s.origin in s.allowed
        sender = s.origin
    return None if allowed else origin_refusal(sender, s.route, now=s.now, counted=True)


def check_key(s: Submission) -> Outcome | None:
    # A key that is no key of ours: the server is told, not the reader.
    return refused(401, "key") if s.authorization is not None else None


def check_body(s: Submission) -> Outcome | None:
    return refused(400, "malformed") if s.values is None else None


def check_honeypot(s: Submission) -> Outcome | None:
    # A bot is answered as a success, so it learns nothing; nothing is stored.
    return Outcome(Verdict.ACCEPTED, 202) if honeypot_filled(s.value("website")) else None


def check_form_token(s: Submission) -> Outcome | None:
    s.token = read_form_token(current_app.config["SECRET_KEY"], s.value("csrf_token"))
    if s.token is None:
        return refused(400, "csrf")
    if s.token.expired(s.now):
        # The form was open for hours: a fresh token, and the reader presses again.
        return Outcome(Verdict.AGAIN, 400, ("expired",), message=messages.AGAIN, fresh=True)
    return None


def check_fields(s: Submission) -> Outcome | None:
    s.name, s.email = clean_name(s.value("name")), clean_email(s.value("email"))
    errors = {}
    if s.name is None:
        errors["name"] = (messages.NAME,)
    if s.email is None:
        errors["email"] = (messages.EMAIL,)
    if not errors:
        return None
    # The reader has a field to fix: that uses none of their allowance.
    return refused(400, *errors, errors=errors, counts=False)


def check_challenge(s: Submission) -> Outcome | None:
    if not challenge_on():
        return None
    payload = s.value("altcha")
    if s.channel is Channel.FORM and not payload:
        return None  # no JavaScript: the time trap decides
    s.solved = solved(payload, s.now)
    return refused(400, "challenge") if s.solved is None else None


def check_time_trap(s: Submission) -> Outcome | None:
    """Without a proof of work (no JavaScript), the form must have been open a little while."""
    if s.solved is None and s.token.too_fast(s.now, current_app.config["SIGNUP_MIN_SECONDS"]):
        return Outcome(Verdict.AGAIN, 400, ("too_fast",), message=messages.AGAIN)
    return None


def check_suggestion(s: Submission) -> Outcome | None:
    chosen = clean_email(s.value("email_suggestion"))
    if chosen is not None and chosen == suggest(s.email):
        s.email = chosen  # the reader took the "Did you mean …?"
        return None
    # Only a page that can show a suggestion is given one: the hosted form, or a page that
    # sends `email_checked` (the address a suggestion was shown for, kept when sent again).
    if s.channel is not Channel.FORM and "email_checked" not in (s.values or {}):
        return None
    if s.value("email_checked") == s.email:
        return None
    suggestion = suggest(s.email)
    if suggestion is None:
        return None
    return Outcome(Verdict.SUGGEST, 200, suggestion=suggestion, counts=False)


def _proof(s: Submission) -> tuple[str, datetime] | None:
    """The single-use key this signup spends: its solution, or the form's token."""
    if s.solved is not None:
        return "pow:" + s.solved.id, s.solved.expires_at
    if s.token is not None:
        return "form:" + s.token.nonce, s.token.expires_at()
    return None


def check_gate(s: Submission) -> Outcome | None:
    """The limit and the single use, in one round trip before anything is stored."""
    s.gated = True
    answer = gate.pass_(s.network, gate.Mode.SPEND, now=s.now, spend=_proof(s))
    if answer.passage is gate.Passage.LIMITED:
        return limited(answer.retry_after)
    if answer.passage is gate.Passage.REPLAY:
        # Sent twice (the back button), or replayed.
        if s.channel is Channel.FORM:
            return Outcome(Verdict.AGAIN, 400, ("replay",), message=messages.AGAIN, fresh=True)
        return refused(400, "replay")
    return None


def store(s: Submission) -> Outcome:
    keyed_call = s.channel is Channel.KEYED
    framed = s.channel is Channel.FORM

    def believed(candidate: object) -> str | None:
        return believed_page(
            clean_page_url(candidate),
            keyed=keyed_call,
            origin=s.origin,
            framed=framed,
            allowed=s.allowed if framed else (),  # only a framed page is checked against them
        )

    entry = service.Entry(
        name=s.name,
        email=s.email,
        email_key=email_key(s.email),
        timezone=clean_timezone(s.value("timezone"), current_app.config["DEFAULT_TIMEZONE"]),
    )
    context = service.Context(
        ip=s.ip,
        user_agent=s.user_agent,
        page_url=believed(s.value("page")) or believed(s.referer),
        form_version=form_version(),
        source=_SOURCES[s.channel] if s.origin is None else _BROWSER_SOURCES[s.channel],
    )
    service.subscribe(entry, context, now=s.now)
    return Outcome(Verdict.ACCEPTED, 202)


def form_version() -> str:
    """What the consent records of the sentence beside the form, so every consent names
    the words its reader saw: the shipped sentence's name while it reads as shipped; else
    the content version of the pages that holds the coach's sentence (`pages-v3`); and when
    its placeholders made it from a sequence the coach changed, also the content store's
    stamp (`pages-v3.41`: every version published up to row 41), which pins those too."""
    texts = page_texts.current()
    said = texts.fine_print
    if said == messages.FORM_SENTENCE:
        return messages.FORM_VERSION
    if said == texts.form["fine_print"]:
        return f"pages-v{texts.version}"
    return f"pages-v{texts.version}.{content_store.stamp()}"


_SOURCES = {Channel.FORM: "form", Channel.API: "api", Channel.KEYED: "api"}
_BROWSER_SOURCES = {Channel.FORM: "form", Channel.API: "embed", Channel.KEYED: "api"}


def limited(retry_after: int | None) -> Outcome:
    return refused(429, "rate_limited", message=messages.RATE_LIMITED, retry_after=retry_after)


Check = Callable[[Submission], Outcome | None]

# The channels whose every answer passes the client's rate limit.
LIMITED = frozenset({Channel.FORM, Channel.API})

# Each channel's checks, in order; `store` follows the last. A keyed call is a server of the
# coach's: no proof of work, no limit, and any page it names.
CHECKS: dict[Channel, tuple[Check, ...]] = {
    Channel.FORM: (
        check_origin,
        check_honeypot,
        check_form_token,
        check_fields,
        check_challenge,
        check_time_trap,
        check_suggestion,
        check_gate,
    ),
    Channel.API: (
        check_origin,
        check_key,
        check_body,
        check_honeypot,
        check_fields,
        check_challenge,
        check_suggestion,
        check_gate,
    ),
    Channel.KEYED: (check_origin, check_body, check_honeypot, check_fields, check_suggestion),
}


def admit(s: Submission) -> Outcome:
    """The one answer to a submission, its refusal counted."""
    try:
        outcome = _run(s)
    except SQLAlchemyError:
        db.session.rollback()
        current_app.logger.exception("signup not stored: database unavailable")
        outcome = refused(503, "unavailable")
    return record(outcome)


def _run(s: Submission) -> Outcome:
    for check in CHECKS[s.channel]:
        outcome = check(s)
        if outcome is not None:
            break
    else:
        return store(s)
    if s.channel not in LIMITED or s.gated:
        return outcome
    # Ended before the gate: the answer still passes the client's limit (counted or not).
    mode = gate.Mode.COUNT if outcome.counts else gate.Mode.CHECK
    answer = gate.pass_(s.network, mode, now=s.now)
    return limited(answer.retry_after) if answer.passage is gate.Passage.LIMITED else outcome
