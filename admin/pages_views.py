"""`/admin/pages`: the words of the signup form, the thank-you page and the start-date page.

Each page's texts are one form; publishing is one POST (with the admin CSRF) that calls
`studio.pages.publish`. Errors are shown beside their fields, with what was typed kept;
warnings (the fine print without its rule) beside the message that it was published.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from admin.actor import dashboard_actor
from admin.blueprint import bp
from admin.forms import EXPIRED, ActionForm
from models import utcnow
from signup import messages
from studio import pages
from studio.errors import NotFound, Refused

# What readers see that is not the coach's to change, shown so the coach knows it.
FIXED = (messages.NAME, messages.EMAIL, messages.BANNER, messages.RATE_LIMITED)


def _page(*, typed=None, errors=None, status: int = 200):
    """The page; `typed` and `errors` are one page's own (by key) after a refused publish."""
    shown = pages.view()
    if typed is not None:
        key, fields = typed
        shown[key] = shown[key] | fields
    return render_template(
        "admin/pages.html",
        pages=pages.PAGES,
        texts=shown,
        errors=errors or {},
        fixed=FIXED,
        versions=pages.versions()[:20],
        current=pages.version(),
        action=ActionForm(),
    ), status


@bp.get("/pages")
def page_texts():
    return _page()


@bp.post("/pages/<key>")
def publish_page(key: str):
    if key not in pages.PAGES:
        abort(404)
    if not ActionForm().validate_on_submit():
        flash(EXPIRED, "error")
        return redirect(url_for("admin.page_texts"), code=303)
    fields = {f.name: request.form.get(f.name, "") for f in pages.PAGES[key][1]}
    try:
        warnings = pages.publish(key, fields, actor=dashboard_actor(), now=utcnow())
    except Refused as refused:
        return _page(typed=(key, fields), errors={key: refused.errors}, status=400)
    flash(f"Published: {pages.PAGES[key][0].lower()} shows the new words now.", "ok")
    for warning in warnings:
        flash(warning, "warning")
    return redirect(url_for("admin.page_texts", _anchor=f"{key}-h"), code=303)


@bp.post("/pages/revert")
def revert_pages():
    if not ActionForm().validate_on_submit():
        flash(EXPIRED, "error")
        return redirect(url_for("admin.page_texts"), code=303)
    version = request.form.get("version", "")
    try:
        warnings = pages.revert(int(version), actor=dashboard_actor(), now=utcnow())
    except (ValueError, NotFound):
        flash("There is no such version to put back.", "error")
        return redirect(url_for("admin.page_texts"), code=303)
    flash(f"Put back the texts of version {int(version)}, as a new version.", "ok")
    for warning in warnings:
        flash(warning, "warning")
    return redirect(url_for("admin.page_texts"), code=303)
