"""`flask --app app content export|import DIR`: the coach's words as files, for version
control. One Markdown file per email with front matter (`emails/<key>.md`) and one TOML
file for the pages and the worksheet (`pages.toml`). Importing publishes what differs as
new versions; an export imported again changes nothing."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from campaigns.content import markdown
from models import utcnow
from studio import audit, content_file, emails, pages, worksheet
from studio.errors import NotFound, Refused

EMAILS = "emails"
PAGES_FILE = "pages.toml"


@click.group("content")
def content() -> None:
    """The coach's words as files: export them, or import (publish) them."""


@content.command("export")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@with_appcontext
def export_command(folder: Path) -> None:
    """Write every email as published (and the pages and worksheet) into FOLDER."""
    written = export_to(folder)
    click.echo(f"content export: {written} files in {folder}")


def export_to(folder: Path) -> int:
    (folder / EMAILS).mkdir(parents=True, exist_ok=True)
    written = 0
    for email in emails.catalogue():
        path = folder / EMAILS / f"{email['key']}.md"
        path.write_text(markdown.write_file(email), encoding="utf-8")
        written += 1
    (folder / PAGES_FILE).write_text(content_file.export_text(), encoding="utf-8")
    return written + 1


@content.command("import")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@with_appcontext
def import_command(folder: Path) -> None:
    """Publish FOLDER's emails (and pages and worksheet) where they differ from what is
    published; a bad file is named and nothing of it is published."""
    try:
        published, unchanged = import_from(folder, actor=audit.CLI)
    except (Refused, ValueError) as err:
        raise click.ClickException(str(err)) from None
    named = f" ({', '.join(published)})" if published else ""
    click.echo(f"content import: {len(published)} published{named}, {unchanged} unchanged")


def import_from(folder: Path, *, actor: audit.Actor | str) -> tuple[list[str], int]:
    """Check every file first, then publish those that differ: each email, the pages and
    the worksheet count one each. A folder without `pages.toml` leaves them as they are.
    Returns what was published (`emails/month-3.md`, `pages.toml [worksheet]`) and how
    many were unchanged."""
    now = utcnow()
    words = _read_words(folder / PAGES_FILE, actor=actor, now=now)
    wanted = {}
    for path in sorted((folder / EMAILS).glob("*.md")):
        data = markdown.read_file(path)
        key = path.stem
        try:
            current = emails.get(key)
        except NotFound:
            current = None
        kind = current["kind"] if current else markdown.CHECKIN
        if current is None and not key.startswith("checkin-"):
            raise ValueError(f"{path.name}: no email {key!r} (a new file must be checkin-<n>.md)")
        problems = markdown.check(
            kind=kind,
            subject=data.get("subject", ""),
            preheader=data.get("preheader", ""),
            body=data["body"],
            offset=data.get("offset"),
        )
        if problems:
            raise ValueError(f"{path.name}: " + "; ".join(p.message for p in problems))
        wanted[key] = (current, data)
    published: list[str] = []
    unchanged = 0
    for name, data, module in words:
        if module.import_data(data, actor=actor, now=now)["changed"]:
            published.append(f"{PAGES_FILE} [{name}]")
        else:
            unchanged += 1
    for key, (current, data) in wanted.items():
        fields = {k: data.get(k) for k in ("subject", "preheader", "body", "offset")}
        if current is not None and all(
            (current.get(k) or "") == (v or "") for k, v in fields.items() if v is not None
        ):
            unchanged += 1
            continue
        if current is None:
            emails.add_checkin(
                **{**fields, "preheader": fields["preheader"] or ""}, actor=actor, now=now, key=key
            )
        else:
            emails.publish(key, **fields, actor=actor, now=now)
        published.append(f"{EMAILS}/{key}.md")
    return published, unchanged


def _read_words(path: Path, *, actor: audit.Actor | str, now) -> list[tuple[str, dict, object]]:
    """The pages and worksheet of `pages.toml`, each checked (nothing published yet), as
    (name, data, module); a part the file leaves out is left as it is."""
    if not path.exists():
        return []
    try:
        data = content_file.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ValueError(f"{path.name}: {err}") from None
    unknown = sorted(set(data) - {"pages", "worksheet"})
    if unknown:
        raise ValueError(f"{path.name}: {', '.join(unknown)} is not pages or worksheet")
    found = []
    for name, module in (("pages", pages), ("worksheet", worksheet)):
        if name not in data:
            continue
        try:
            module.import_data(data[name], actor=actor, now=now, dry_run=True)
        except Refused as err:
            raise ValueError(f"{path.name}, {name}: {err}") from None
        found.append((name, data[name], module))
    return found
