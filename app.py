"""Composition root: `create_app()` wires config, extensions, blueprints and commands.

Nothing is built at import. `flask --app app ...` finds `create_app` by itself, and the
Procfile has gunicorn call it (`gunicorn --preload 'app:create_app()'`).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from flask import Flask, request
from flask_migrate import Migrate
from werkzeug.middleware.proxy_fix import ProxyFix

import logs
import settings
from admin import api as admin_api
from admin import blueprint as admin_blueprint
from admin import cli as admin_cli
from admin import entry, login_link, views  # noqa: F401 (their routes are on admin_blueprint.bp)
from bounces import views as bounce_views
from campaigns import sequence
from campaigns.worksheet import cli as worksheet_cli
from doctor import cli as doctor
from models import db
from signup import effort, greeting, privacy
from signup import views as signup_views
from studio import cli as content_cli
from web import (
    bodies,
    errors,
    health,
    icon,
    limits,
    metrics,
    redis_edge,
    request_log,
    security,
)
from workers import cli as worker_cli
from workers.queue import RQConveyor

ROOT = Path(__file__).resolve().parent


def _database_url(url: str) -> str:
    """Relative SQLite paths are taken from the project folder, which is created if needed.

    A `sqlite:///file:...?uri=true` URL (e.g. `?mode=ro`) is SQLite's own and left as it is."""
    prefix = "sqlite:///"
    rest = url[len(prefix) :]
    if url.startswith(prefix) and not rest.startswith(("/", "file:")) and rest != ":memory:":
        path = ROOT / rest
        path.parent.mkdir(parents=True, exist_ok=True)
        return prefix + str(path)
    return url


def _doctoring(argv: list[str]) -> bool:
    """Whether this process is `flask ... doctor`, which must start whatever the settings."""
    words = iter(argv[1:])
    for word in words:
        if word in ("--app", "-A", "--env-file", "-e"):
            next(words, None)
        elif not word.startswith("-"):
            return word == "doctor"
    return False


def _stop(problems: list[settings.Problem]) -> None:
    """End this process on settings it cannot run with: one line per problem, no traceback."""
    for problem in problems:
        print(f"tend: {problem.message}", file=sys.stderr)
    raise SystemExit(2)


def _sequence(path: str) -> tuple[sequence.Sequence | None, list[settings.Problem]]:
    try:
        return sequence.load(path or None), []
    except (OSError, ValueError) as err:
        return None, [
            settings.Problem(
                "SEQUENCE_PATH",
                f"SEQUENCE_PATH cannot be used ({path}): {err}; fix the file, or unset "
                "SEQUENCE_PATH to send the shipped sequence",
            )
        ]


class Tend(Flask):
    """Flask, whose line for an unhandled exception names the route's pattern
    (`/confirm/<token>`), never the path: a live token must not reach a log."""

    def log_exception(self, exc_info) -> None:
        rule = request.url_rule
        where = rule.rule if rule is not None else logs.mask_tokens(request.path)
        self.logger.error("Exception on %s [%s]", where, request.method, exc_info=exc_info)


def create_app(env: Mapping[str, str] | None = None, **overrides) -> Flask:
    """Build the app from `env`; settings it cannot run with raise `settings.ConfigError`,
    which lists every problem.

    Without `env` it is this process starting (web, worker, clock, a command): the settings
    come from the process environment plus `.env` (python-dotenv, unless
    FLASK_SKIP_DOTENV=1), and bad ones end the process with one line per problem (exit
    status 2) rather than a traceback. `flask --app app doctor` starts anyway, on the
    settings as far as they can be read, to list every problem itself.
    """
    starting = env is None
    doctoring = starting and _doctoring(sys.argv)
    built, examined = settings.examine(settings.environment() if starting else env)
    flows, unusable = _sequence(built.drip.sequence_path)
    examined += unusable
    problems = [p for p in examined if not p.warning]
    if problems and not doctoring:
        if starting:
            _stop(problems)
        raise settings.ConfigError(problems)
    app = Tend(__name__, instance_path=str(ROOT / "instance"), template_folder="templates")
    app.config.update(settings.flask_config(built))
    app.config.update(overrides)
    app.config["SQLALCHEMY_DATABASE_URI"] = _database_url(app.config["SQLALCHEMY_DATABASE_URI"])
    app.extensions[settings.EXTENSION] = built
    app.extensions["tend.problems"] = examined  # what `doctor` lists, warnings too
    logs.init_app(app)
    request_log.init_app(app)  # first: even a request refused early has its id
    security.init_app(app)
    errors.init_app(app)
    bodies.init_app(app)
    if app.config["PROXY_FIX_HOPS"]:
        hops = app.config["PROXY_FIX_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    db.init_app(app)
    Migrate(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    limits.init_app(app)
    effort.init_app(app)
    app.extensions["tend.sequence"] = flows if flows is not None else sequence.load(None)
    # A job must die before its lease ends, or the dispatcher could hand its rows to another.
    job_timeout = max(30, app.config["SEND_LEASE_SECONDS"] * 9 // 10)
    app.extensions["tend.conveyor"] = RQConveyor(redis_edge.of(app), job_timeout=job_timeout)

    _wire(app)
    return app


def _wire(app: Flask) -> None:
    """The blueprints, the public endpoints and the commands, on a configured app."""
    app.register_blueprint(signup_views.bp)
    app.register_blueprint(greeting.bp)  # the start-date page's computed words, "call me"
    health.init_app(app)
    icon.init_app(app)
    app.register_blueprint(privacy.bp)
    app.register_blueprint(admin_blueprint.bp)  # its routes: admin_entry, admin_views
    admin_api.init_app(app)  # /api/admin/: Bearer ADMIN_API_TOKEN, OpenAPI 3.1
    bounce_views.init_app(app)
    metrics.init_app(app)
    for command in (
        worker_cli.worker_command,
        worker_cli.drip,
        worker_cli.sending_group,
        worker_cli.dkim_group,
        admin_cli.subscribers,
        login_link.admin_group,
        worksheet_cli.worksheet,
        content_cli.content,
        doctor.doctor_command,
    ):
        app.cli.add_command(command)
