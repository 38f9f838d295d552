"""`flask --app app subscribers import FILE.csv` and `subscribers export [FILE]`."""

from __future__ import annotations

import contextlib
import sys

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from models import Subscriber, db, utcnow
from transfers import exporter, importer
from transfers.csvfile import ImportRefused


@click.group("subscribers")
def subscribers() -> None:
    """Import a list (Mailchimp, listmonk, Tend CSV) or export it with consent data."""


class _Silent:
    def update(self, _n: int) -> None:
        pass


def _progress(length: int, label: str):
    """A progress bar on a terminal; nothing in a pipe or a log, where click would only print
    its bare label."""
    if not sys.stderr.isatty():
        return contextlib.nullcontext(_Silent())
    return click.progressbar(length=length, label=label, file=sys.stderr)


@subscribers.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check the file and report; write nothing.")
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Import the valid rows and list the invalid ones by line (default: import nothing).",
)
@with_appcontext
def import_command(path: str, dry_run: bool, skip_invalid: bool) -> None:
    """Import FILE.csv, in the foreground, in one transaction: all of it or nothing.

    Any invalid row: each is reported by line and nothing is imported, unless
    --skip-invalid is given.
    """
    now = utcnow()
    try:
        checked = _checked(path, now)
    except UnicodeDecodeError:
        raise click.ClickException("the file is not UTF-8 text") from None
    except ImportRefused as err:
        raise click.ClickException(str(err)) from None
    invalid = checked.invalid
    if invalid.count:
        for bad in invalid.kept:
            click.echo(f"line {bad.line}: {bad.reason}", err=True)
        if invalid.more:
            click.echo(f"... and {invalid.more} more invalid row(s), not listed", err=True)
        if not skip_invalid:
            click.echo(f"{invalid.count} invalid row(s): nothing imported.", err=True)
            raise SystemExit(1)
        click.echo(f"{invalid.count} invalid row(s) skipped.", err=True)
    if dry_run:
        click.echo(
            f"format: {checked.format}; {checked.valid} valid row(s); nothing written (dry run)"
        )
        return
    try:
        with _open(path) as f, _progress(checked.valid, f"Importing {path}") as bar:
            report = importer.load(
                f, checked, now=now, progress=bar.update, skip_invalid=skip_invalid
            )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        click.echo("stopped: nothing imported.", err=True)
        raise
    for line in importer.describe(checked, report):
        click.echo(line)
    click.echo(f"done: {report.imported} subscriber(s) imported from {path}")


def _open(path: str):
    return open(path, encoding="utf-8-sig", newline="")


def _checked(path: str, now) -> importer.Checked:
    """The file scanned (refused at once if it cannot be imported at all), then checked."""
    with _open(path) as f:
        _fmt, rows, _big = importer.scan(f)
    with _open(path) as f, _progress(rows, f"Checking {path}") as bar:
        zone = current_app.config["DEFAULT_TIMEZONE"]
        return importer.check(f, default_timezone=zone, now=now, progress=bar.update)


@subscribers.command("export")
@click.argument("path", required=False, type=click.Path(dir_okay=False, writable=True))
@with_appcontext
def export_command(path: str | None) -> None:
    """Write every subscriber with consent data as CSV to PATH (default: standard output).

    PATH is written under PATH.part and renamed when complete: a file named PATH is whole.
    """
    if not path:
        for chunk in exporter.csv_chunks():
            sys.stdout.write(chunk)
        return
    total = db.session.scalar(select(func.count()).select_from(Subscriber))
    with _progress(total, f"Exporting to {path}") as bar:
        written = exporter.write_file(path, progress=bar.update)
    click.echo(f"wrote {written} subscriber(s) to {path}")
