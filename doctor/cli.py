"""The `doctor` command: settings, database, Redis, relay, DKIM, worksheet; then DNS."""

from __future__ import annotations

import logging

import click
from flask import current_app
from flask.cli import with_appcontext

import settings

from . import dns, probes


def _problems(app) -> tuple[list[settings.Problem], str | None]:
    """Every problem; a service whose own setting is unusable is not asked (its problem is
    already listed, and asking the default in its place would mislead)."""
    built = settings.settings_of(app)
    found = list(app.extensions.get("tend.problems", []))
    unusable = {p.name for p in found if not p.warning}

    def usable(*names: str) -> bool:
        return not unusable.intersection(names)

    found += probes.base_url(built)
    if usable("DATABASE_URL"):
        found += probes.database(app)
    if usable("REDIS_URL"):
        found += probes.redis(built)
    if usable("MAIL_BACKEND", *(n for n in settings.BY_NAME if n.startswith("SMTP_"))):
        found += probes.relay(built)
    public = None
    if usable("DKIM_SELECTOR", "DKIM_PRIVATE_KEY_PATH", "DKIM_DOMAIN", "MAIL_FROM"):
        keyed, public = probes.dkim(built)
        found += keyed
    if usable("WORKSHEET_PATH", "WORKSHEET_PAPER", "COACH_NAME", "PUBLIC_BASE_URL"):
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
