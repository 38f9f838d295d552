"""Tend's settings: read once per process from the environment (and `.env`), typed, frozen.

- `read(env)` gives the typed `Settings` (groups: service, mail, sender, guard, coach,
  drip, signup, worksheet, webhooks, operator) or raises `ConfigError` listing every problem.
- `examine(env)` gives the settings it could read and every problem and warning, without
  raising: `flask --app app doctor` is built on it.
- `load(env)` gives the Flask config (`app.config[NAME]`) from the typed settings.
- `settings_of(app)` and `coach(app)` read them back where code runs; `coach(app)` with
  the values the dashboard set over the environment's (`settings/overlay.py`).

The table itself is `settings/table.py`; the reference page is written from it
(`python -m settings reference > docs/configuration.md`). This package imports no feature.
"""

from __future__ import annotations

import os
import secrets as random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import checks, overlay, table
from .checks import Problem
from .parsers import Invalid, is_loopback
from .table import BY_NAME, DEFAULTS, GROUPS, Coach, rows

__all__ = [
    "BY_NAME",
    "DEFAULTS",
    "ConfigError",
    "Problem",
    "Settings",
    "coach",
    "environment",
    "examine",
    "is_loopback",
    "load",
    "read",
    "settings_of",
    "value_of",
]
ROOT = Path(__file__).resolve().parent.parent
EXTENSION = "tend.settings"


class ConfigError(RuntimeError):
    """Settings Tend cannot start with; the message lists each, one line per problem."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(p.message for p in problems))


@dataclass(frozen=True)
class Settings:
    """Every setting, parsed once: `settings.mail.smtp_port`, `settings.coach.drip_days`…"""

    debug: bool
    secret_key: str  # SECRET_KEY, or a random one per run in debug
    service: table.Service
    web: table.Web
    mail: table.Mail
    sender: table.Sender
    guard: table.Guard
    coach: Coach
    drip: table.Drip
    signup: table.Signup
    worksheet: table.Worksheet
    webhooks: table.Webhooks
    operator: table.Operator


def environment(root: Path = ROOT) -> dict[str, str]:
    """This process's environment plus `.env` (python-dotenv; the environment wins).

    `FLASK_SKIP_DOTENV=1` leaves `.env` unread. Every process (web, worker, clock, CLI)
    reads it here, so quotes, spaces and `#` mean the same everywhere."""
    if os.environ.get("FLASK_SKIP_DOTENV", "").strip().lower() not in ("1", "true", "yes"):
        from dotenv import load_dotenv

        load_dotenv(root / ".env", override=False)
    return dict(os.environ)


def _parse(env: Mapping[str, str]) -> tuple[dict[str, Any], list[Problem]]:
    values: dict[str, Any] = {}
    problems = []
    for _, _, declared in rows():
        raw = env.get(declared.name, "")
        raw = raw.strip() if declared.strip or not raw.strip() else raw
        if not raw.strip():
            raw = declared.default
        try:
            values[declared.name] = declared.parse(raw) if raw else declared.unset
        except Invalid as err:
            problems.append(Problem(declared.name, f"{declared.name} {err}"))
            default = declared.default
            values[declared.name] = declared.parse(default) if default else declared.unset
    return values, problems


def _resolve(values: dict[str, Any], debug: bool) -> list[Problem]:
    """The defaults that come from another setting, and the debug-only signing key."""
    problems = []
    if not values["DKIM_DOMAIN"]:
        values["DKIM_DOMAIN"] = values["MAIL_FROM"].rpartition("@")[2].rstrip(">").strip().lower()
    values["COACH_TIMEZONE"] = values["COACH_TIMEZONE"] or values["DEFAULT_TIMEZONE"]
    values["WORKSHEET_PAPER"] = values["WORKSHEET_PAPER"] or table.PAPER_OF_LOCALE[values["LOCALE"]]
    if values["SECRET_KEY"].strip().lower() in checks.PLACEHOLDER_SECRETS:
        if not debug:
            problems.append(
                Problem(
                    "SECRET_KEY",
                    "SECRET_KEY is missing or a placeholder: set SECRET_KEY to a long random "
                    f"value, for example the output of {checks.MAKE_ONE}; {checks.LOCAL_WAY}",
                )
            )
        values["SECRET_KEY"] = random.token_hex(32)
    return problems


def examine(
    env: Mapping[str, str] | None = None, *, debug: bool = False
) -> tuple[Settings, list[Problem]]:
    """The settings as far as they can be read, and every problem and warning in them.

    Never raises: a value that cannot be read stands at its default, so the checks after it
    still run. Warnings (`problem.warning`) are advice; the rest stop a start."""
    env = os.environ if env is None else env
    values, problems = _parse(env)
    debug = debug or values["FLASK_DEBUG"]
    values["FLASK_DEBUG"] = debug
    placeholder = _resolve(values, debug)
    problems += placeholder + checks.together(values)
    if not debug:
        secrets = {s.name: s.least for s in BY_NAME.values() if s.secret}
        if placeholder:
            secrets.pop("SECRET_KEY")
        problems += checks.production(values, secrets)
    built = _build(values, debug)
    return built, problems + checks.advice(values)


def _build(values: Mapping[str, Any], debug: bool) -> Settings:
    groups = {}
    for group, kind in GROUPS:
        mine = {field: values[declared.name] for g, field, declared in rows() if g == group}
        groups[group] = kind(**mine)
    return Settings(debug=debug, secret_key=values["SECRET_KEY"], **groups)


def read(env: Mapping[str, str] | None = None, *, debug: bool = False) -> Settings:
    """The typed settings, or `ConfigError` listing every problem (not the warnings)."""
    built, problems = examine(env, debug=debug)
    refused = [p for p in problems if not p.warning]
    if refused:
        raise ConfigError(refused)
    return built


def flask_config(built: Settings) -> dict[str, Any]:
    """`app.config` from the typed settings: each setting under its name, as code reads it."""
    config: dict[str, Any] = {}
    for group, field, declared in rows():
        value = getattr(getattr(built, group), field)
        config[declared.name] = declared.config(value) if declared.config else value
    public = built.service.public_base_url
    key = built.sender.dkim_key
    return config | {
        "DEBUG": built.debug,
        "SECRET_KEY": built.secret_key,
        "SQLALCHEMY_DATABASE_URI": built.service.database_url,
        # hide_parameters: a logged database error never carries a reader's name or address.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "hide_parameters": True},
        "DKIM_PRIVATE_KEY": key.pem if key else b"",
        "SESSION_COOKIE_SECURE": public.startswith("https://"),
        # Only the dashboard has a session (the signup form needs no cookie), and it is
        # never framed: Lax keeps its cookie off every cross-site request.
        "SESSION_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": 3600 * 6,
    }


def load(env: Mapping[str, str] | None = None, *, debug: bool = False) -> dict[str, Any]:
    """The Flask config for `env` (default: this process's environment)."""
    return flask_config(read(env, debug=debug))


def value_of(name: str, env: Mapping[str, str] | None = None) -> Any:
    """One setting read alone (default when blank), for what runs before the app is built
    (`gunicorn.conf.py`, `make run`); `ConfigError` naming it when unusable."""
    declared = BY_NAME[name]
    raw = (os.environ if env is None else env).get(name, "").strip() or declared.default
    try:
        return declared.parse(raw) if raw else declared.unset
    except Invalid as err:
        raise ConfigError([Problem(name, f"{name} {err}")]) from None


def settings_of(app: Any = None) -> Settings:
    """The typed settings of `app` (default: the app being served)."""
    if app is None:
        from flask import current_app

        app = current_app
    return app.extensions[EXTENSION]


def coach(app: Any = None) -> Coach:
    """The coach's settings (names, reply address, sending window, days, gap, holidays,
    zone): the dashboard's values over the environment's (`settings.overlay`). Read this on
    every tick and every render, never keep it: the dashboard changes them at run time."""
    if app is None:
        from flask import current_app

        app = current_app._get_current_object()
    return overlay.read(app, settings_of(app).coach)
