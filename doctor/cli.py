"""The `doctor` command: settings, database, Redis, relay, DKIM, worksheet; then DNS."""

from __future__ import annotations

import logging

import click
from flask import current_app
from flask.cli import with_appcontext

import settings

from . import dns, probes


def _problems(app) -> tuple[list[settings.Problem], str | None]:
    built = settings.settings_of(app)
    found = list(app.extensions.get("tend.problems", []))
    found += probes.base_url(built)
    found += probes.database(app)
    found += probes.redis(built)
    found += probes.relay(built)
    keyed, public = probes.dkim(built)
    found += keyed
    found += probes.worksheet(app, built)
    return found, public


@click.command("doctor")
@with_appcontext
def doctor_command() -> None:
    """List every problem of this deployment at once, then the DNS records to publish."""
    app = current_app._get_current_object()
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its chatter is not a finding
    found, public = _problems(app)
    failing = [p for p in found if not p.warning]
    for problem in failing:
        click.echo(f"problem: {problem.message}")
    for problem in found:
        if problem.warning:
            click.echo(f"warning: {problem.message}")
    if not failing:
        click.echo("doctor: no problems")
    lines = dns.records(settings.settings_of(app), public)
    if lines:
        click.echo("")
        click.echo("\n".join(lines))
    if failing:
        click.echo(f"doctor: {len(failing)} problem(s); Tend will not start until they are fixed")
        raise SystemExit(1)
