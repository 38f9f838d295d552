"""The pages behind the links in emails: confirm, unsubscribe, the worksheet and the start
date. Each link has a GET view that only shows a page and a POST view that acts: Flask
answers HEAD (link scanners, previewers) with the GET view, so HEAD never acts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import (
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)

import settings
from campaigns import schedule
from campaigns.compose import long_date
from campaigns.content import pages as page_texts
from campaigns.links import make_token, read_token
from campaigns.plan import Outcome, Rules
from campaigns.worksheet import build as worksheet_build
from models import JobStatus, Status, Subscriber, utcnow
from signup import service
from signup.blueprint import bp
from subscribers.fields import IP_MAX
from subscribers.lifecycle import StopReason, find_by_public_id


def subscriber_for(purpose: str, token: str) -> Subscriber:
    """The subscriber a link's token names, or a 404 page for a tampered or stale one."""
    public_id = read_token(current_app.config["SECRET_KEY"], purpose, token)
    subscriber = find_by_public_id(public_id)
    if subscriber is None:
        abort(404)
    return subscriber


def worksheet_file() -> Response:
    path = worksheet_build.served(current_app.config, current_app.instance_path)
    response = send_file(path, mimetype="application/pdf", download_name="worksheet.pdf", max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/confirm/<token>")
def confirm_page(token: str):
    subscriber_for("confirm", token)
    return render_template("confirm.html", token=token)


@bp.post("/confirm/<token>")
def confirm(token: str):
    subscriber = subscriber_for("confirm", token)
    ip = (request.remote_addr or "")[:IP_MAX] or None
    service.confirm(subscriber, now=utcnow(), ip=ip)
    # The thank-you page: the download, and the question the drip follows.
    started = make_token(current_app.config["SECRET_KEY"], "started", subscriber.public_id)
    return redirect(url_for("signup.started_page", token=started, welcome=1), code=303)


@bp.get("/worksheet/<token>")
def worksheet(token: str):
    subscriber_for("worksheet", token)
    return worksheet_file()


@bp.get("/unsubscribe/<token>")
def unsubscribe_page(token: str):
    subscriber_for("unsubscribe", token)
    return render_template("unsubscribe.html", token=token, done=False)


@bp.post("/unsubscribe/<token>")
def unsubscribe(token: str):
    subscriber = subscriber_for("unsubscribe", token)
    service.unsubscribe(subscriber, now=utcnow())
    return render_template("unsubscribe.html", token=token, done=True)


def _offsets_phrase(steps) -> str:
    """`1 month, 3 months and 6 months`: the sequence's steps, as a sentence says them."""
    texts = [s.offset_text for s in steps]
    return ", ".join(texts[:-1]) + " and " + texts[-1] if len(texts) > 1 else "".join(texts)


# What the buttons of the start-date page say, as the answers the service takes.
ANSWERS = (JobStatus.STARTED, JobStatus.LOOKING, JobStatus.NOT_CHANGING)


@dataclass(frozen=True)
class PlannedNote:
    """One line of the start-date page: a note, and when it comes or why it won't."""

    kind: str
    subject: str
    outcome: str
    day: date | None  # in the reader's zone


def _planned(subscriber: Subscriber, now) -> list[PlannedNote]:
    """The reader's notes as `campaigns.plan.forecast` sees them: the dispatcher's rules."""
    sequence = service.sequence()
    rules = Rules.current()
    zone = rules.zone(subscriber.timezone)
    subjects = {(schedule.DRIP, s.key): s.subject for s in sequence.steps} | {
        (schedule.CHECKIN, s.key): s.subject for s in sequence.checkins
    }
    return [
        PlannedNote(
            f.kind,
            subjects[(f.kind, f.key)],
            f.outcome,
            f.at.astimezone(zone).date() if f.at else None,
        )
        for f in schedule.upcoming(subscriber, sequence, now=now, rules=rules)
    ]


def _taken_off(subscriber: Subscriber) -> bool:
    """Whether the coach took this unsubscribed reader off the list (their newest consent
    ended for the reason `operator`), rather than the reader asking."""
    if subscriber.status != Status.UNSUBSCRIBED or not subscriber.consents:
        return False
    newest = max(subscriber.consents, key=lambda c: c.id or 0)
    return newest.left_reason == StopReason.OPERATOR


def _started_page(token: str, subscriber: Subscriber, *, status: int = 200, **extra):
    now = utcnow()
    today = service.reader_today(subscriber, now)
    earliest, latest = service.start_date_range(today)
    hint = request.args.get("answer")
    secret = current_app.config["SECRET_KEY"]
    coach, default_zone = settings.coach(), current_app.config["DEFAULT_TIMEZONE"]
    context = {
        "token": token,
        "subscriber": subscriber,
        "earliest": earliest,
        "latest": latest,
        "error": None,
        "saved": None,
        "entered": subscriber.started_job_on or "",
        "hint": hint if hint in ANSWERS else None,
        # After the confirm button: the worksheet, for an active reader and for one who has
        # left since (an old link: the button promised the worksheet, not emails).
        "welcome": request.args.get("welcome") == "1" and subscriber.status != Status.PENDING,
        "worksheet_url": url_for(
            "signup.worksheet", token=make_token(secret, "worksheet", subscriber.public_id)
        ),
        "notes": _planned(subscriber, now),
        # How they left, for the words: the coach took them off, or they asked.
        "taken_off": _taken_off(subscriber),
        "offsets": _offsets_phrase(service.sequence().steps),
        "texts": page_texts.current(),
        "window": str(coach.drip_window).replace("-", " and "),
        "days": str(coach.drip_days),
        "zone": Rules.of(coach, default_zone).zone(subscriber.timezone).key,
        "Outcome": Outcome,
        "JobStatus": JobStatus,
        "Status": Status,
    } | extra
    return render_template("started.html", **context), status


@bp.get("/started/<token>")
def started_page(token: str):
    return _started_page(token, subscriber_for("started", token))


@bp.post("/started/<token>")
def started(token: str):
    subscriber = subscriber_for("started", token)
    now = utcnow()
    choice = request.form.get("answer") or JobStatus.STARTED  # Enter in the date field
    if choice not in ANSWERS:
        abort(400)
    started_on = None
    if choice == JobStatus.STARTED:
        raw = request.form.get("started_on")
        started_on = service.parse_start_date(raw, today=service.reader_today(subscriber, now))
        if started_on is None:
            earliest, latest = service.start_date_range(service.reader_today(subscriber, now))
            message = (
                "Please enter the day you start, or started, your new job."
                if not (raw or "").strip()
                else f"Please enter a start date between {long_date(earliest)} and "
                f"{long_date(latest)}."
            )
            entered = raw if isinstance(raw, str) else ""
            return _started_page(token, subscriber, status=400, error=message, entered=entered[:10])
    service.answer(subscriber, choice, now=now, started_on=started_on)
    return _started_page(token, subscriber, saved=choice)
