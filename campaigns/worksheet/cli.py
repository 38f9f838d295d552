"""`flask --app app worksheet build`: lay out the worksheet PDF readers download."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from campaigns.worksheet import build, content, rebuild
from models import utcnow


@click.group("worksheet")
def worksheet() -> None:
    """The worksheet PDF: fillable, tagged, with the coach's name and site."""


@worksheet.command("build")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write it here instead (to look at it); readers still get the served build.",
)
@with_appcontext
def build_command(output: Path | None) -> None:
    """Build the worksheet's current words (the coach's newest published version, else the
    shipped ones) for COACH_NAME, PUBLIC_BASE_URL and WORKSHEET_PAPER."""
    cfg = current_app.config
    options = build.Options.from_config(cfg)
    if cfg["WORKSHEET_PATH"] and output is None:
        click.echo(f"worksheet: WORKSHEET_PATH is set, so readers get {cfg['WORKSHEET_PATH']}")
        return
    try:
        if output is not None:
            made = build.write(options, output)
        else:
            made = rebuild.build_current(utcnow())
    except build.CannotBuild as err:
        raise click.ClickException(str(err)) from None
    size = made.path.stat().st_size // 1024
    click.echo(
        f"worksheet: wrote {made.path} ({options.paper}, {made.pages} pages, {size} KB) "
        f"for {options.coach_name}, {options.site}{_words()}"
    )


def _words() -> str:
    """Which words were built, when they are the coach's own."""
    version = content.current().version
    return f" (the words of version {version})" if version > 1 else ""
