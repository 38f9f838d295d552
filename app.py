"""Composition root: `create_app()` wires config, extensions, blueprints and commands.

Nothing is built at import. `flask --app app ...` finds `create_app` by itself, and the
Procfile has gunicorn call it (`gunicorn --preload 'app:create_app()'`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from dotenv import load_dotenv
from flask import Flask
from flask_migrate import Migrate
from werkzeug.middleware.proxy_fix import ProxyFix

import logs
import settings
from admin import blueprint as admin_blueprint
from admin import cli as admin_cli
from admin import entry, login_link, views  # noqa: F401 (their routes are on admin_blueprint.bp)
from bounces import views as bounce_views
from campaigns import sequence
from campaigns.worksheet import cli as worksheet_cli
from models import db
from signup import effort, greeting, privacy
from signup import views as signup_views
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


def _process_settings() -> dict:
    if os.environ.get("FLASK_SKIP_DOTENV", "") not in ("1", "true"):
        load_dotenv(ROOT / ".env", override=False)
    try:
        return settings.load()
    except settings.ConfigError as err:
        # One line naming the variable, not a traceback.
        print(f"tend: {err}", file=sys.stderr)
        raise SystemExit(2) from None


def create_app(env: Mapping[str, str] | None = None, **overrides) -> Flask:
    """Build the app from `env`; a bad setting raises `settings.ConfigError`.

    Without `env` it is this process starting (web, worker, clock, a command): the settings
    come from the process environment plus `.env`, and a bad one ends the process with one
    line naming the variable (exit status 2) rather than a traceback.
    """
    config = settings.load(env) if env is not None else _process_settings()
    app = Flask(__name__, instance_path=str(ROOT / "instance"), template_folder="templates")
    app.config.update(config)
    app.config.update(overrides)
    app.config["SQLALCHEMY_DATABASE_URI"] = _database_url(app.config["SQLALCHEMY_DATABASE_URI"])
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
    app.extensions["tend.sequence"] = sequence.load(app.config["SEQUENCE_PATH"] or None)
    # A job must die before its lease ends, or the dispatcher could hand its rows to another.
    job_timeout = max(30, app.config["SEND_LEASE_SECONDS"] * 9 // 10)
    app.extensions["tend.conveyor"] = RQConveyor(redis_edge.of(app), job_timeout=job_timeout)

    app.register_blueprint(signup_views.bp)
    app.register_blueprint(greeting.bp)  # the start-date page's computed words, "call me"
    health.init_app(app)
    icon.init_app(app)
    app.register_blueprint(privacy.bp)
    app.register_blueprint(admin_blueprint.bp)  # its routes: admin_entry, admin_views
    bounce_views.init_app(app)
    metrics.init_app(app)
    app.cli.add_command(worker_cli.worker_command)
    app.cli.add_command(worker_cli.drip)
    app.cli.add_command(worker_cli.sending_group)
    app.cli.add_command(worker_cli.dkim_group)
    app.cli.add_command(admin_cli.subscribers)
    app.cli.add_command(login_link.admin_group)
    app.cli.add_command(worksheet_cli.worksheet)
    return app
