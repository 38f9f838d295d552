"""The readers' pages of the dashboard: find one, their page with a form per action, add one
by hand, and the Activity page. Every action is a `studio.readers` function: a refusal
shows the page again (400) with each message beside its field; a change shows a line at
the top of the reader's page, after a 303."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flask import abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm

from admin import stats
from admin.actor import dashboard_actor
from admin.blueprint import bp
from admin.email_page import KINDS
from admin.forms import (
    EXPIRED,
    JOB_CHOICES,
    ActionForm,
    AddReaderForm,
    AddressForm,
    JobForm,
    NameForm,
    StartForm,
)
from campaigns import schedule
from campaigns.content import emails as content_emails
from campaigns.plan import Rules
from models import Status, Subscriber, db, utcnow
from studio import activity, readers
from studio.errors import NotFound, Refused
from subscribers.privacy import data_of, data_response

ACTIVITY_LIMIT = 200  # the events a reader's page shows
ACTIVITY_PAGE = 100  # the events a page of Activity shows

# The profile as the dashboard labels it (the privacy download keeps its own keys).
PROFILE = {
    "email": "Email",
    "name": "Name",
    "status": "Status",
    "timezone": "Time zone",
    "signed_up_at": "Signed up",
    "confirmed_at": "Confirmed",
    "unsubscribed_at": "Unsubscribed",
    "job_status": "Their job answer",
    "started_job_on": "Start of the new job",
    "called_name": "Greeted as",
    "drip_anchor_at": "After-hire notes count from",
    "soft_bounces": "Soft bounces",
    "confirmation_emails": "Requests to confirm sent",
}
STATUS_WORDS = {
    Status.PENDING: "Has not confirmed yet",
    Status.ACTIVE: "On the list",
    Status.UNSUBSCRIBED: "Unsubscribed",
    Status.BOUNCED: "Bounced",
}
JOB_WORDS = {value or "unknown": label for value, label in JOB_CHOICES}


def _profile(found: Subscriber) -> list[tuple[str, str, object]]:
    """(key, label, value) of each line of the profile, the status and job answer in words."""
    profile = data_of(found)["profile"]
    words = {"status": STATUS_WORDS, "job_status": JOB_WORDS}
    return [
        (key, PROFILE.get(key, key), words[key].get(value, value) if key in words else value)
        for key, value in profile.items()
    ]


def _subscriber_or_404(public_id: str) -> Subscriber:
    try:
        return readers.by_public_id(public_id)
    except NotFound:
        abort(404)


@bp.get("/subscribers")
def subscribers():
    query = (request.args.get("email") or "").strip()
    if query:
        try:
            found = readers.find(query)
        except NotFound:
            pass
        else:
            return redirect(url_for("admin.subscriber", public_id=found.public_id))
    return render_template(
        "admin/subscribers.html",
        query=query,
        recent=stats.recent_signups(limit=50),
        action=ActionForm(),
    )


def _reader_page(
    found: Subscriber,
    *,
    errors: Mapping[str, list[str]] | None = None,
    entered: Mapping[str, str] | None = None,
    status: int = 200,
):
    """The reader's page; after a refusal, what was typed and each message by its field."""
    rules = Rules.current()
    forecast = schedule.upcoming(found, content_emails.sequence(), now=utcnow(), rules=rules)
    return render_template(
        "admin/subscriber.html",
        subscriber=found,
        data=data_of(found),
        profile=_profile(found),
        emails=[
            (d, key, subject, KINDS[readers.email_of(found, d)[0]])
            for d, key, subject in readers.emails_of(found)
        ],
        planned={(f.kind, f.key): f for f in forecast},
        zone=rules.zone(found.timezone),
        events=activity.recent(subscriber=found, limit=ACTIVITY_LIMIT),
        errors=errors or {},
        entered=entered or {},
        job_choices=JOB_CHOICES,
        Status=Status,
        action=ActionForm(),
    ), status


@bp.get("/subscribers/<public_id>")
def subscriber(public_id: str):
    return _reader_page(_subscriber_or_404(public_id))


def _act(public_id: str, form: FlaskForm, act: Callable[[Subscriber], str | None]):
    """Run one action on the reader from its form: a flash and a 303 to their page, or
    their page again with the refusal's messages (400). `act` returns the flash line."""
    found = _subscriber_or_404(public_id)
    if not form.validate_on_submit():
        flash(EXPIRED, "error")
        return redirect(url_for("admin.subscriber", public_id=public_id), code=303)
    try:
        done = act(found)
    except Refused as refused:
        db.session.rollback()
        return _reader_page(found, errors=refused.errors, entered=request.form, status=400)
    if done:
        flash(done, "ok")
    return redirect(url_for("admin.subscriber", public_id=found.public_id), code=303)


@bp.post("/subscribers/<public_id>/unsubscribe")
def subscriber_unsubscribe(public_id: str):
    """The first POST asks (what unsubscribing does, and that it cannot be undone here);
    the second (`confirmed`) unsubscribes."""
    if request.form.get("confirmed") != "1" and ActionForm().validate_on_submit():
        return render_template(
            "admin/subscriber_unsubscribe.html",
            subscriber=_subscriber_or_404(public_id),
            action=ActionForm(),
        )

    def act(found: Subscriber) -> str:
        readers.unsubscribe(found, actor=dashboard_actor(), now=utcnow())
        return "Unsubscribed. Nothing more goes to them; their history stays on this page."

    return _act(public_id, ActionForm(), act)


@bp.post("/subscribers/<public_id>/name")
def subscriber_name(public_id: str):
    form = NameForm()

    def act(found: Subscriber) -> str:
        readers.change(found, actor=dashboard_actor(), now=utcnow(), name=form.name.data or "")
        return "Name saved."

    return _act(public_id, form, act)


@bp.post("/subscribers/<public_id>/email")
def subscriber_email(public_id: str):
    form = AddressForm()

    def act(found: Subscriber) -> str:
        reconfirm = not form.in_person.data
        readers.change(
            found,
            actor=dashboard_actor(),
            now=utcnow(),
            email=form.email.data or "",
            reconfirm=reconfirm,
        )
        if found.status == Status.PENDING:
            return "Address corrected. A request to confirm is on its way to it."
        return "Address corrected."

    return _act(public_id, form, act)


@bp.post("/subscribers/<public_id>/start")
def subscriber_start(public_id: str):
    form = StartForm()

    def act(found: Subscriber) -> str:
        if request.form.get("clear"):
            readers.change(found, actor=dashboard_actor(), now=utcnow(), started_on=None)
            return "Start date cleared: the check-ins ask again."
        readers.change(
            found, actor=dashboard_actor(), now=utcnow(), started_on=form.started_on.data or ""
        )
        return "Start date saved: the after-hire notes count from it."

    return _act(public_id, form, act)


@bp.post("/subscribers/<public_id>/job")
def subscriber_job(public_id: str):
    form = JobForm()

    def act(found: Subscriber) -> str:
        answer = form.job_answer.data or None
        readers.change(found, actor=dashboard_actor(), now=utcnow(), job_answer=answer)
        return "Job answer saved."

    return _act(public_id, form, act)


@bp.post("/subscribers/<public_id>/resend")
def subscriber_resend(public_id: str):
    def act(found: Subscriber) -> str:
        asking = found.status != Status.ACTIVE
        readers.resend_worksheet(found, actor=dashboard_actor(), now=utcnow())
        what = "The request to confirm" if asking else "The worksheet email"
        return f"{what} is on its way again."

    return _act(public_id, ActionForm(), act)


@bp.get("/subscribers/<public_id>/data.json")
def subscriber_data(public_id: str):
    return data_response(_subscriber_or_404(public_id), now=utcnow())


@bp.post("/subscribers/<public_id>/delete")
def subscriber_delete(public_id: str):
    found = _subscriber_or_404(public_id)
    if not ActionForm().validate_on_submit():
        flash(EXPIRED, "error")
        return redirect(url_for("admin.subscriber", public_id=public_id), code=303)
    readers.forget(found, actor=dashboard_actor(), now=utcnow())
    flash("Deleted. The address stays suppressed until it signs up and confirms again.", "ok")
    return redirect(url_for("admin.subscribers"), code=303)


@bp.route("/subscribers/new", methods=["GET", "POST"])
def subscriber_add():
    form = AddReaderForm()
    errors: Mapping[str, list[str]] = {}
    if request.method == "POST":
        if not form.validate_on_submit():
            errors = {"form": [EXPIRED]}
        else:
            try:
                added = readers.add(
                    form.name.data or "",
                    form.email.data or "",
                    form.note.data or "",
                    confirmed=bool(form.confirmed.data),
                    actor=dashboard_actor(),
                    now=utcnow(),
                )
            except Refused as refused:
                db.session.rollback()
                errors = refused.errors
            else:
                flash(
                    "Added. The worksheet email is on its way."
                    if form.confirmed.data
                    else "Added. A request to confirm is on its way.",
                    "ok",
                )
                return redirect(url_for("admin.subscriber", public_id=added.public_id), code=303)
    return render_template(
        "admin/subscriber_add.html", form=form, errors=errors, action=ActionForm()
    ), 400 if errors else 200


@bp.get("/activity")
def activity_page():
    """The audit log, ACTIVITY_PAGE events a page, newest first (`?page=2` the next ones);
    a page past the end or not a number shows the last or the first."""
    total = activity.count()
    pages = max(1, -(-total // ACTIVITY_PAGE))
    asked = request.args.get("page", "1")
    page = min(int(asked), pages) if asked.isascii() and asked.isdigit() and asked != "0" else 1
    return render_template(
        "admin/activity.html",
        events=activity.recent(limit=ACTIVITY_PAGE, offset=(page - 1) * ACTIVITY_PAGE),
        total=total,
        page=page,
        pages=pages,
        first=(page - 1) * ACTIVITY_PAGE + 1,
        action=ActionForm(),
    )
