"""`/admin/worksheet`: the worksheet's words, and where the rebuild of its PDF stands.

One form holds the whole worksheet; its fields are named by their place in the data
(`sections.2.items.0.text`), as `studio.worksheet` names its errors, so each error lands
beside its field. "Add a question" and "Add a box" show the form again with an empty one
to fill in (nothing is published until "Publish"); a ticked "Remove" leaves that item out.
"""

from __future__ import annotations

import re
from typing import Any

from flask import flash, jsonify, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from admin.actor import dashboard_actor
from admin.blueprint import bp
from admin.forms import EXPIRED, ActionForm
from models import utcnow
from studio import worksheet
from studio.errors import NotFound, Refused
from studio.worksheet_check import MAX_ITEMS, MAX_SECTIONS, TOP

LISTS = {"checkboxes": ("boxes",), "blanks": ("blanks",), "network": ("columns", "ticks")}
OWN_TEXTS = {
    "question": ("text", "lines"),
    "checkboxes": ("prompt",),
    "blanks": ("hint",),
    "network": ("rows",),
}


def _indices(form: MultiDict, prefix: str, most: int) -> list[int]:
    """The list positions the form has under `prefix` (`sections.0.items.`), in order."""
    pattern = re.compile(re.escape(prefix) + r"(\d{1,3})\.")
    found = {int(m.group(1)) for name in form if (m := pattern.match(name))}
    return sorted(n for n in found if n < most)


def _labelled(form: MultiDict, prefix: str) -> list[dict[str, str]]:
    return [
        {"key": form.get(f"{prefix}{n}.key", ""), "label": form.get(f"{prefix}{n}.label", "")}
        for n in _indices(form, prefix, 50)
        if not form.get(f"{prefix}{n}.remove")
    ]


def _item(form: MultiDict, prefix: str) -> dict[str, Any]:
    kind = form.get(f"{prefix}kind", "")
    item: dict[str, Any] = {"kind": kind}
    if kind == "question":
        item["key"] = form.get(f"{prefix}key", "")
    for name in OWN_TEXTS.get(kind, ()):
        item[name] = form.get(f"{prefix}{name}", "")
    for name in LISTS.get(kind, ()):
        item[name] = _labelled(form, f"{prefix}{name}.")
    return item


def from_form(form: MultiDict) -> dict[str, Any]:
    """The worksheet the form describes, every value as typed (text)."""
    data: dict[str, Any] = {name: form.get(name, "") for name, *_ in TOP}
    data["sections"] = []
    for s in _indices(form, "sections.", MAX_SECTIONS):
        prefix = f"sections.{s}."
        items = [
            _item(form, f"{prefix}items.{i}.")
            for i in _indices(form, f"{prefix}items.", MAX_ITEMS * 2)
            if not form.get(f"{prefix}items.{i}.remove")
        ]
        data["sections"].append(
            {
                "heading": form.get(f"{prefix}heading", ""),
                "note": form.get(f"{prefix}note", ""),
                "items": items,
            }
        )
    return data


def _added(data: dict[str, Any], where: str) -> str | None:
    """Add an empty question to a section (`sections.2`) or an empty box to a group of
    checkboxes (`sections.3.items.0`); the path of the new field's text, to focus it."""
    parts = where.split(".")
    if not all(p.isdigit() for p in parts[1::2]) or parts[0] != "sections":
        return None
    try:
        section = data["sections"][int(parts[1])]
        if len(parts) == 2:
            section["items"].append({"kind": "question", "key": "", "text": "", "lines": "5"})
            return f"{where}.items.{len(section['items']) - 1}.text"
        item = section["items"][int(parts[3])]
        if len(parts) == 4 and item.get("kind") == "checkboxes":
            item["boxes"].append({"key": "", "label": ""})
            return f"{where}.boxes.{len(item['boxes']) - 1}.label"
    except (IndexError, KeyError):
        return None
    return None


def _page(data: dict[str, Any] | None = None, *, errors=None, focus=None, status: int = 200):
    return render_template(
        "admin/worksheet.html",
        data=data or worksheet.view(),
        errors=errors or {},
        focus=focus,
        build=worksheet.status(utcnow()),
        versions=worksheet.versions()[:20],
        current=worksheet.view()["version"],
        action=ActionForm(),
    ), status


@bp.route("/worksheet", methods=["GET", "POST"])
def worksheet_words():
    if request.method == "GET":
        return _page()
    if not ActionForm().validate_on_submit():
        flash(EXPIRED, "error")
        return redirect(url_for("admin.worksheet_words"), code=303)
    data = from_form(request.form)
    if request.form.get("add"):
        return _page(data, focus=_added(data, request.form["add"]))
    try:
        worksheet.publish(data, actor=dashboard_actor(), now=utcnow())
    except Refused as refused:
        return _page(data, errors=refused.errors, status=400)
    flash("Published. The PDF is being rebuilt; readers get the new one once it is ready.", "ok")
    return redirect(url_for("admin.worksheet_words"), code=303)


@bp.get("/worksheet/status")
def worksheet_status():
    """Where the rebuild stands, for the page to show without a reload (the form keeps what
    is being typed)."""
    held = worksheet.status(utcnow())
    at = held["at"].strftime("%Y-%m-%d %H:%M") if held["at"] else None
    return jsonify(held | {"at": at})


@bp.post("/worksheet/revert")
def revert_worksheet():
    if not ActionForm().validate_on_submit():
        flash(EXPIRED, "error")
        return redirect(url_for("admin.worksheet_words"), code=303)
    version = request.form.get("version", "")
    try:
        worksheet.revert(int(version), actor=dashboard_actor(), now=utcnow())
    except (ValueError, NotFound):
        flash("There is no such version to put back.", "error")
        return redirect(url_for("admin.worksheet_words"), code=303)
    flash(f"Put back the worksheet of version {int(version)}; the PDF is being rebuilt.", "ok")
    return redirect(url_for("admin.worksheet_words"), code=303)
