"""`/admin`: the operator's dashboard, behind ADMIN_PASSWORD (unset: every admin URL is a 404).

The blueprint and its guard are `admin.blueprint`'s; the ways in, `admin.entry`'s."""

from __future__ import annotations

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)

from admin import charts, stats
from admin.blueprint import bp
from admin.forms import ActionForm, ImportForm, TestSendForm
from campaigns import gate, relay_health, schedule
from campaigns.content import emails as content_emails
from campaigns.plan import Rules
from models import Subscriber, Transfer, TransferState, db, utcnow
from studio import previews
from subscribers.fields import clean_email
from subscribers.lifecycle import find_by_address, find_by_public_id
from subscribers.privacy import data_of, data_response, forget
from subscribers.suppression import Reason
from transfers import service as transfers
from web.redis_edge import RedisDown
from workers.transport import PermanentFailure, TemporaryFailure, Undeliverable

MAX_UPLOAD = 64 * 1024 * 1024


IFRAME_PAGE = (
    "<script>document.currentScript.previousElementSibling.src"
    ' += "?page=" + encodeURIComponent(location.href);</script>'
)


def embed_codes(base: str) -> dict[str, str]:
    """The snippets a blog pastes: the script embed and the iframe."""
    return {
        "script": (
            f'<div data-tend-signup><a href="{base}/signup">Get the worksheet</a></div>'
            f'<script src="{base}/embed.js" async></script>'
        ),
        # embed.js beside the frame sizes it to the form in every state (no clipping); the
        # line between names the post in `?page=`, which a framed page can't see itself.
        "iframe": (
            f'<iframe src="{base}/signup" title="Get the worksheet" '
            'style="width:100%;max-width:36rem;height:36rem;border:0" loading="lazy"></iframe>'
            + IFRAME_PAGE
            + f'<script src="{base}/embed.js" async></script>'
        ),
    }


@bp.get("/")
def dashboard():
    now = utcnow()
    figures = stats.counts()
    said = stats.answers()
    per_day = stats.signups_per_day(now=now)
    funnel = stats.funnel(content_emails.sequence(), figures, said, now=now)
    return render_template(
        "admin/dashboard.html",
        now=now,
        statuses=figures.statuses,
        answers=said,
        total=figures.total,
        chart=charts.signups_svg(per_day, title="Signups per day, last 90 days (UTC)"),
        signups_90=sum(per_day.values()),
        funnel=funnel,
        funnel_top=max((s.count for s in funnel), default=0),
        bar_width=charts.bar_width,
        due=stats.by_day(stats.due_next(now=now)),
        pages=stats.by_page(),
        failures=stats.recent_failures(),
        recent=stats.recent_signups(),
        embed=embed_codes(current_app.config["PUBLIC_BASE_URL"]),
        embed_origins=current_app.config["EMBED_ALLOWED_ORIGINS"],
        action=ActionForm(),
        sending_state=gate.state(fresh=True),
        relay=relay_health.current(),
        pending_bounces=gate.pending_bounces(now),
        pending_bounce_alert=gate.PENDING_ALERT,
    )


# ---- previews --------------------------------------------------------------------------


def _preview_or_404(key: str) -> previews.Preview:
    preview = previews.find(content_emails.sequence(), key)
    if preview is None:
        abort(404)
    return preview


@bp.get("/emails")
def emails():
    catalogue = previews.catalogue(content_emails.sequence())
    return render_template("admin/emails.html", catalogue=catalogue, action=ActionForm())


def _reader_state_or_404(preview: previews.Preview) -> previews.ReaderState:
    # ?reader=<state>: the email as a reader in that state gets it (its footer, its words).
    return preview.state(request.args.get("reader")) or abort(404)


@bp.route("/emails/<key>", methods=["GET", "POST"])
def email(key: str):
    preview = _preview_or_404(key)
    state = _reader_state_or_404(preview)
    form = TestSendForm()
    now = utcnow()
    if request.method == "POST" and form.validate_on_submit():
        address = clean_email(form.email.data)
        try:
            previews.send_test(preview, address, now=now, state=state)
        except (TemporaryFailure, PermanentFailure, Undeliverable) as err:
            flash(f"The test was not sent: {err}", "error")
        else:
            flash(f"Test sent to {address}.", "ok")
            current_app.logger.info("test email sent", extra={"email_key": key})
        return redirect(url_for("admin.email", key=key, reader=state.key), code=303)
    return render_template(
        "admin/email.html",
        preview=preview,
        state=state,
        rendered=previews.sample(preview, now=now, state=state),
        form=form,
        sample_name=previews.SAMPLE_NAME,
        sample_email=previews.SAMPLE_EMAIL,
        action=ActionForm(),
    ), 400 if form.errors else 200


@bp.get("/emails/<key>/body.html")
def email_html(key: str):
    preview = _preview_or_404(key)
    rendered = previews.sample(preview, now=utcnow(), state=_reader_state_or_404(preview))
    response = Response(rendered.html, mimetype="text/html")
    # Shown in a sandboxed frame on the preview page; it may load nothing itself.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data: https:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
    )
    return response


# ---- subscribers -----------------------------------------------------------------------


def _subscriber_or_404(public_id: str) -> Subscriber:
    return find_by_public_id(public_id) or abort(404)


@bp.get("/subscribers")
def subscribers():
    query = (request.args.get("email") or "").strip()
    found = None
    if query:
        address = clean_email(query)
        if address:
            found = find_by_address(address)
        if found is not None:
            return redirect(url_for("admin.subscriber", public_id=found.public_id))
    return render_template(
        "admin/subscribers.html",
        query=query,
        recent=stats.recent_signups(limit=50),
        action=ActionForm(),
    )


@bp.get("/subscribers/<public_id>")
def subscriber(public_id: str):
    found = _subscriber_or_404(public_id)
    rules = Rules.current()
    forecast = schedule.upcoming(found, content_emails.sequence(), now=utcnow(), rules=rules)
    return render_template(
        "admin/subscriber.html",
        subscriber=found,
        data=data_of(found),
        planned={(f.kind, f.key): f for f in forecast},
        zone=rules.zone(found.timezone),
        action=ActionForm(),
    )


@bp.get("/subscribers/<public_id>/data.json")
def subscriber_data(public_id: str):
    return data_response(_subscriber_or_404(public_id), now=utcnow())


@bp.post("/subscribers/<public_id>/delete")
def subscriber_delete(public_id: str):
    found = _subscriber_or_404(public_id)
    if not ActionForm().validate_on_submit():
        flash("That form expired. Please try again.", "error")
        return redirect(url_for("admin.subscriber", public_id=public_id), code=303)
    forget(found, now=utcnow(), reason=Reason.OPERATOR)
    flash("Deleted. The address stays suppressed until it signs up and confirms again.", "ok")
    return redirect(url_for("admin.subscribers"), code=303)


# ---- import and export -----------------------------------------------------------------


def _import_page(form: ImportForm, *, error: str | None = None, invalid=(), status: int = 200):
    return render_template(
        "admin/import.html",
        form=form,
        export_form=ActionForm(),
        error=error,
        invalid=list(invalid),
        recent=transfers.recent(),
        progress_of=transfers.progress_of,
        action=ActionForm(),
    ), status


@bp.route("/import", methods=["GET", "POST"])
def import_list():
    """The upload is saved and checked for what refuses a whole file, then queued: the
    answer is at once a 303 to its status page, however long the list."""
    if request.method == "POST":
        request.max_content_length = MAX_UPLOAD
    form = ImportForm()
    if form.validate_on_submit():
        try:
            transfer = transfers.start_import(
                form.file.data,
                form.file.data.filename or "",
                skip_invalid=bool(form.skip_invalid.data),
                now=utcnow(),
            )
        except transfers.ImportRefused as err:
            return _import_page(form, error=str(err), invalid=err.invalid, status=400)
        except UnicodeDecodeError:
            return _import_page(form, error="The file is not UTF-8 text.", status=400)
        except RedisDown:
            return _import_page(form, error=QUEUE_DOWN + " Nothing was imported.", status=503)
        return redirect(url_for("admin.transfer", transfer_id=transfer.id), code=303)
    if request.method == "POST":
        error = (
            "Please choose a CSV file."
            if "file" in form.errors
            else "That form expired. Please try again."
        )
        return _import_page(form, error=error, status=400)
    return _import_page(form)


QUEUE_DOWN = "The queue (Redis) is not answering, so the job could not start; try again shortly."


@bp.post("/export")
def export_start():
    """Queue an export; its status page offers the file once it is complete."""
    if not ActionForm().validate_on_submit():
        return _import_page(ImportForm(), error="That form expired. Please try again.", status=400)
    try:
        transfer = transfers.start_export(utcnow())
    except RedisDown:
        return _import_page(ImportForm(), error=QUEUE_DOWN, status=503)
    return redirect(url_for("admin.transfer", transfer_id=transfer.id), code=303)


@bp.get("/export.csv")
def export_csv():
    """The old download link: an export is now made by a worker (POST /admin/export)."""
    return redirect(url_for("admin.import_list", _anchor="export-h"), code=303)


def _transfer_or_404(transfer_id: str) -> Transfer:
    # Ids are 32 hex digits (`transfers._new_id`); anything else is not asked of the database.
    if not transfers.is_id(transfer_id):
        abort(404)
    transfer = db.session.get(Transfer, transfer_id)
    if transfer is None:
        abort(404)
    return transfer


@bp.get("/transfers/<transfer_id>")
def transfer(transfer_id: str):
    """An import's or export's progress and result. Read only: it refreshes itself while
    the job runs (a meta refresh), and changes nothing."""
    found = _transfer_or_404(transfer_id)
    progress = transfers.progress_of(found)
    return render_template(
        "admin/transfer.html",
        transfer=found,
        progress=progress,
        running=found.state in TransferState.OPEN and not progress.lost,
        summary=transfers.summary_of(found),
        invalid=transfers.invalid_of(found),
        downloadable=transfers.downloadable(found),
        action=ActionForm(),
    )


@bp.get("/transfers/<transfer_id>/download")
def transfer_download(transfer_id: str):
    """A finished export's file, whole (it was renamed into place only when complete)."""
    found = _transfer_or_404(transfer_id)
    if not transfers.downloadable(found):
        abort(404)
    return send_file(
        found.path, mimetype="text/csv", as_attachment=True, download_name=found.filename
    )


# ---- sending ---------------------------------------------------------------------------


@bp.post("/sending/resume")
def resume_sending():
    """The banner's Resume button: sending goes on, the next tick queues what waited."""
    if ActionForm().validate_on_submit():
        was = gate.state(fresh=True)
        gate.resume(by="the operator (dashboard)")
        if was.paused:
            flash("Sending resumed. What waited goes out with the next tick.", "ok")
    return redirect(url_for("admin.dashboard"), code=303)
