"""The coach's settings at run time: names, Reply-To, when notes go out, the coach's zone.

The environment gives each one's default; a value set here (the dashboard's Settings page,
the admin API) is kept in the `settings` table under `coach:<NAME>`, as typed, and wins
over it. `settings.coach()` reads them on every tick and every render through the reader
`init_app` registers, so a change applies everywhere (web, worker, clock) with no restart.

A value is parsed by the setting's own parser, the one that reads the environment
(`settings.overlay.parse`): there is no second rule. Sender identity that DNS must match
(`MAIL_FROM`, DKIM) is not here: it stays in the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

import settings
from models import Setting, db
from settings import overlay
from settings.parsers import Invalid
from studio import audit
from studio.errors import Refused

PREFIX = "coach:"
DASHBOARD, ENVIRONMENT = "dashboard", "environment"
_NAME_OF_KEY = {PREFIX + name: name for name in overlay.EDITABLE}


def init_app(app: Any) -> None:
    """Have `settings.coach(app)` read the values set here over the environment's."""
    app.extensions[overlay.READER] = stored


def stored(app: Any = None) -> dict[str, str]:
    """The values set here, as typed, by setting name (`DRIP_DAYS`): one small query.

    Read without flushing what the caller has pending, so reading the settings in the
    middle of a change writes nothing early."""
    if app is not None and not (has_app_context() and current_app._get_current_object() is app):
        with app.app_context():
            return stored()
    with db.session.no_autoflush:
        rows = db.session.execute(
            select(Setting.key, Setting.value).where(Setting.key.in_(list(_NAME_OF_KEY)))
        ).all()
    return {_NAME_OF_KEY[key]: value for key, value in rows}


def _environment_text(name: str) -> str:
    built = settings.settings_of().coach
    return overlay.text_of(name, getattr(built, overlay.FIELDS[name]))


def _default_text(name: str) -> str:
    """Tend's own default for a setting, as it would be typed ("" when it has none)."""
    declared = settings.BY_NAME[name]
    return overlay.text_of(name, declared.parse(declared.default)) if declared.default else ""


def view() -> list[dict[str, Any]]:
    """Each setting, in the reference's order: `name` (lower case, `drip_days`), `value`
    (as it would be typed), `source` (`dashboard` or `environment`), `default` (the value
    is Tend's own default: the environment leaves it as shipped) and `doc`."""
    values = stored()
    _, applied = overlay.overlaid(settings.settings_of().coach, values)
    return [
        {
            "name": name.lower(),
            "value": values[name] if name in applied else _environment_text(name),
            "source": DASHBOARD if name in applied else ENVIRONMENT,
            "default": name not in applied and _environment_text(name) == _default_text(name),
            "doc": settings.BY_NAME[name].doc,
        }
        for name in overlay.EDITABLE
    ]


def environment() -> dict[str, str]:
    """What the environment gives each setting (by lower-case name), as it would be typed;
    for one it leaves unset, what that means ("MAIL_FROM's address")."""
    shown = {}
    for name in overlay.EDITABLE:
        unset = settings.BY_NAME[name].shown.replace("`", "")
        shown[name.lower()] = _environment_text(name) or unset
    return shown


def _checked(changes: Mapping[str, Any]) -> dict[str, str | None]:
    """Each change by setting name: the text to keep, or None for "the environment's".
    `Refused` naming every value that cannot be used, before anything is written."""
    wanted: dict[str, str | None] = {}
    errors: dict[str, list[str]] = {}
    for field, raw in changes.items():
        name = str(field).upper()
        if name not in overlay.FIELDS:
            known = ", ".join(n.lower() for n in overlay.EDITABLE)
            errors[str(field)] = [f"{field} is not a setting the coach can change ({known})"]
        elif not isinstance(raw, str):
            errors[str(field)] = [f"{name} must be given as text, like {_environment_text(name)!r}"]
        elif not raw.strip():
            wanted[name] = None
        else:
            try:
                overlay.parse(name, raw)
            except Invalid as err:
                errors[str(field)] = [f"{name} {err}"]
            else:
                wanted[name] = raw.strip()
    if errors:
        raise Refused(errors)
    return wanted


def _keep(name: str, text: str) -> None:
    """Insert or update one value (one statement: two changes at once cannot collide)."""
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    db.session.execute(
        dialect.insert(Setting)
        .values(key=PREFIX + name, value=text)
        .on_conflict_do_update(index_elements=[Setting.key], set_={"value": text})
    )


def change(
    changes: Mapping[str, str], *, actor: audit.Actor | str, now: datetime
) -> list[dict[str, Any]]:
    """Set settings by lower-case name (`{"drip_days": "Mon,Wed"}`); an empty value puts
    one back to the environment's. Every value is parsed first: one that cannot be used
    raises `Refused` naming it, and nothing changes. A value equal to what applies already
    changes nothing (one the environment gives keeps following the environment). Each
    change is one audit event, in the same commit. Answers `view()`."""
    wanted = _checked(changes)
    before = stored()
    for name, text in wanted.items():
        was = before.get(name)
        environment_text = _environment_text(name)
        if text == was or (text == environment_text and was is None):
            continue
        if text is None:
            db.session.execute(delete(Setting).where(Setting.key == PREFIX + name))
            summary = f"{name} back to the environment's value: {environment_text or 'unset'}"
            action = "settings.reset"
        else:
            _keep(name, text)
            summary = f"{name} set to {text}"
            action = "settings.change"
        old = was if was is not None else environment_text
        audit.record(
            actor,
            action,
            summary,
            detail={"setting": name.lower(), "before": old, "after": text or environment_text},
            now=now,
        )
    db.session.commit()
    return view()
