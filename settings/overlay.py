"""The coach's settings as the dashboard sets them, over the environment's.

The settings the table marks `editable` (the coach group: names, Reply-To, the sending
window, days, gap and holidays, the coach's zone) may be set in the dashboard while Tend
runs. A higher layer keeps those values (the studio, in the database) and registers a
reader of them in `app.extensions[READER]`: a function of the app giving the raw text of
each value set, by the setting's name. `settings.coach(app)` calls it on every read, so a
change applies to the next tick and the next render in every process, with no restart.

A value is parsed by its setting's own parser, the one that reads the environment: one
parse per idea. The parsed settings are kept per set of raw values, so a read costs the
reader's one small query and no parse. This module imports no feature and no database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import lru_cache
from typing import Any

from .parsers import Invalid
from .table import BY_NAME, Coach, rows

log = logging.getLogger(__name__)

# Where the higher layer registers its reader: `reader(app) -> {NAME: raw text}`.
READER = "tend.coach.stored"
Reader = Callable[[Any], Mapping[str, str]]

# The names the dashboard may set, in the reference's order, and each one's field of Coach.
FIELDS: dict[str, str] = {d.name: field for group, field, d in rows() if d.editable}
EDITABLE: tuple[str, ...] = tuple(FIELDS)
assert {g for g, _, d in rows() if d.editable} <= {"coach"}, "only the coach group is editable"


def parse(name: str, raw: str) -> Any:
    """A value given in the dashboard, read as the environment's is: stripped, then by
    the setting's own parser. `Invalid` (its message follows the setting's name) when it
    cannot be used; an empty value is the caller's (it means "the environment's")."""
    declared = BY_NAME[name]
    text = raw.strip() if declared.strip else raw
    if not text.strip():
        raise Invalid("must not be empty")
    return declared.parse(text)


def text_of(name: str, value: Any) -> str:
    """A parsed value as it would be typed: `09:00-17:00`, `Mon-Fri`, `US,GB`, `7`."""
    declared = BY_NAME[name]
    return str(declared.config(value) if declared.config else value)


def overlaid(built: Coach, stored: Mapping[str, str]) -> tuple[Coach, frozenset[str]]:
    """`built` (the environment's) with each stored value that parses in its place, and
    the names that did. A stored value that no longer parses (say, a holiday calendar a
    newer `holidays` package dropped) leaves the environment's, with a warning."""
    key = tuple(sorted((n, v) for n, v in stored.items() if n in FIELDS))
    return _overlaid(built, key)


@lru_cache(maxsize=64)
def _overlaid(built: Coach, stored: tuple[tuple[str, str], ...]) -> tuple[Coach, frozenset[str]]:
    values = {}
    for name, raw in stored:
        try:
            values[FIELDS[name]] = parse(name, raw)
        except Invalid as err:
            log.warning("the dashboard's %s is not used: %s %s", name, name, err)
    applied = frozenset(n for n, _ in stored if FIELDS[n] in values)
    return (replace(built, **values) if values else built), applied


def read(app: Any, built: Coach) -> Coach:
    """The coach's settings of `app`: the dashboard's over `built`, the environment's."""
    reader: Reader | None = app.extensions.get(READER)
    if reader is None:
        return built
    return overlaid(built, reader(app))[0]
