"""`/admin/settings`: the coach's settings (names, Reply-To, when notes go out, the coach's
zone), each with its value, where it comes from and its help. The page only calls
`studio.coach`; the rules for a value are the settings table's."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from admin.actor import dashboard_actor
from admin.blueprint import bp
from admin.forms import EXPIRED, ActionForm
from models import utcnow
from studio import coach
from studio.errors import Refused

# What the page calls each setting; the table's own line is its help.
LABELS = {
    "coach_name": "Your name",
    "list_name": "The list's name",
    "reply_to": "Replies go to",
    "drip_window": "Sending hours",
    "drip_days": "Sending days",
    "drip_min_gap_days": "Fewest days between two notes",
    "drip_holidays": "Public holidays",
    "coach_timezone": "Your time zone",
}


def _page(*, typed: dict[str, str] | None = None, errors=None, status: int = 200):
    return render_template(
        "admin/settings.html",
        rows=coach.view(),
        environment=coach.environment(),
        labels=LABELS,
        typed=typed or {},
        errors=errors or {},
        action=ActionForm(),
    ), status


def _saved(before: list[dict], after: list[dict]) -> None:
    """ "Saved Your name, Sending days and Your time zone: ... use them." """
    changed = [LABELS[b["name"]] for b, a in zip(before, after, strict=True) if a != b]
    if changed:
        named = changed[0] if len(changed) == 1 else f"{', '.join(changed[:-1])} and {changed[-1]}"
        them = "it" if len(changed) == 1 else "them"
        flash(f"Saved {named}: the next tick and the next email use {them}.", "ok")
    else:
        flash("Nothing changed.", "ok")


@bp.route("/settings", methods=["GET", "POST"])
def coach_settings():
    if request.method == "GET":
        return _page()
    if not ActionForm().validate_on_submit():
        flash(EXPIRED, "error")
        return redirect(url_for("admin.coach_settings"), code=303)
    before = coach.view()
    typed = {r["name"]: request.form[r["name"]] for r in before if r["name"] in request.form}
    try:
        after = coach.change(typed, actor=dashboard_actor(), now=utcnow())
    except Refused as refused:
        return _page(typed=typed, errors=refused.errors, status=400)
    _saved(before, after)
    return redirect(url_for("admin.coach_settings"), code=303)


@bp.post("/settings/reset")
def coach_settings_reset():
    """One setting back to the environment's value (the button beside it)."""
    if not ActionForm().validate_on_submit():
        flash(EXPIRED, "error")
        return redirect(url_for("admin.coach_settings"), code=303)
    name = request.form.get("reset", "")
    try:
        coach.change({name: ""}, actor=dashboard_actor(), now=utcnow())
    except Refused as refused:
        flash(" ".join(m for ms in refused.errors.values() for m in ms), "error")
        return redirect(url_for("admin.coach_settings"), code=303)
    flash(f"{name.upper()} is the environment's again: {coach.environment()[name.lower()]}.", "ok")
    return redirect(url_for("admin.coach_settings", _anchor=f"setting-{name}"), code=303)
