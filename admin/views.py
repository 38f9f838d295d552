"""`/admin`: the operator's dashboard, behind ADMIN_PASSWORD (unset: every admin URL is a 404).

The blueprint and its guard are `admin.blueprint`'s; the ways in, `admin.entry`'s; the
readers' pages and the Activity page, `admin.readers`'."""

from __future__ import annotations

from flask import (
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
from admin.forms import EXPIRED, ActionForm, ImportForm
from campaigns import gate, relay_health
from campaigns.content import emails as content_emails
from models import Transfer, TransferState, db, utcnow
from transfers import service as transfers
from web.redis_edge import RedisDown

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
        error = "Please choose a CSV file." if "file" in form.errors else EXPIRED
        return _import_page(form, error=error, status=400)
    return _import_page(form)


QUEUE_DOWN = "The queue (Redis) is not answering, so the job could not start; try again shortly."


@bp.post("/export")
def export_start():
    """Queue an export; its status page offers the file once it is complete."""
    if not ActionForm().validate_on_submit():
        return _import_page(ImportForm(), error=EXPIRED, status=400)
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
