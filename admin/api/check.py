"""Checks a request's JSON against the same schema `openapi.json` publishes for it.

The schemas are JSON Schema (2020-12, as OpenAPI 3.1 takes it), and this reads the part of
it the request schemas use; `KEYWORDS` is that part, and a test holds every request schema
to it, so no keyword is ever silently skipped. The answer is the API's errors shape: each
field (`subject`, `sections.0.heading`) with its messages, naming the problem.

Beyond the schema, every string (keys too) must be text a database can hold: no NUL
character and no lone surrogate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

# The keywords this module enforces; the rest (`description`, `examples`…) only describe.
KEYWORDS = {
    "$ref",
    "type",
    "enum",
    "const",
    "properties",
    "required",
    "additionalProperties",
    "minProperties",
    "maxProperties",
    "items",
    "maxItems",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "format",
    "oneOf",
    "discriminator",
}
DESCRIBING = {"description", "title", "examples", "default"}
TYPES = {
    "string": (str,),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}
NAMES = {
    "string": "a string",
    "integer": "a whole number",
    "boolean": "true or false",
    "object": "an object",
    "array": "a list",
    "null": "null",
}
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")

Errors = dict[str, list[str]]


def resolve(schema: Mapping[str, Any], components: Mapping[str, Any]) -> Mapping[str, Any]:
    """A schema, its `$ref` (`#/components/schemas/Name`) followed."""
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored as text, or None."""
    if "\x00" in value:
        return "Must not contain a NUL character."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Must be valid Unicode text (no lone surrogate)."
    return None


def _is(value: Any, kind: str) -> bool:
    if isinstance(value, bool) and kind != "boolean":
        return False
    return isinstance(value, TYPES[kind])


def _type(schema: Mapping, value: Any) -> str | None:
    kinds = schema.get("type")
    if kinds is None:
        return None
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if any(_is(value, kind) for kind in kinds):
        return None
    return "Must be " + " or ".join(NAMES[kind] for kind in kinds) + "."


def _string(schema: Mapping, value: str) -> str | None:
    problem = text_problem(value)
    if problem:
        return problem
    if "minLength" in schema and len(value) < schema["minLength"]:
        return "Must not be empty." if schema["minLength"] == 1 else "Too short."
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        return f"Must be at most {schema['maxLength']} characters."
    if "pattern" in schema and not re.search(schema["pattern"], value):
        return schema.get("description") or "Is not in the expected form."
    if schema.get("format") == "date":
        try:
            ok = bool(ISO_DATE.match(value)) and bool(date.fromisoformat(value))
        except ValueError:
            ok = False
        if not ok:
            return "Must be a date, YYYY-MM-DD."
    return None


def _scalar(schema: Mapping, value: Any) -> str | None:
    """The first problem with `value` against the schema's own keywords (not its parts)."""
    problem = _type(schema, value)
    if problem:
        return problem
    if "const" in schema and value != schema["const"]:
        return f"Must be {schema['const']!r}."
    if "enum" in schema and value not in schema["enum"]:
        return "Must be one of: " + ", ".join(str(v) for v in schema["enum"]) + "."
    if isinstance(value, str):
        return _string(schema, value)
    if _is(value, "integer"):
        if "minimum" in schema and value < schema["minimum"]:
            return f"Must be at least {schema['minimum']}."
        if "maximum" in schema and value > schema["maximum"]:
            return f"Must be at most {schema['maximum']}."
    if isinstance(value, list) and len(value) > schema.get("maxItems", len(value)):
        return f"Must have at most {schema['maxItems']} items."
    return None


def _object(schema: Mapping, value: dict, where: str, components: Mapping, out: Errors) -> None:
    known = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for name in schema.get("required", ()):
        if name not in value:
            out.setdefault(_join(where, name), []).append("Required.")
    if len(value) < schema.get("minProperties", 0):
        out.setdefault(where or "request", []).append("Must not be empty.")
    if len(value) > schema.get("maxProperties", len(value)):
        out.setdefault(where or "request", []).append("Too many fields.")
    for name, item in value.items():
        field = _join(where, name)
        problem = text_problem(name)
        if problem:
            out.setdefault(where or "request", []).append(f"A field name: {problem}")
        elif name in known:
            _walk(known[name], item, field, components, out)
        elif extra is False:
            out.setdefault(field, []).append("Unknown field.")
        elif isinstance(extra, Mapping):
            _walk(extra, item, field, components, out)


def _join(where: str, name: str | int) -> str:
    return f"{where}.{name}" if where else str(name)


def _one_of(schema: Mapping, value: Any, where: str, components: Mapping, out: Errors) -> None:
    """`oneOf` by its `discriminator` (the field whose `const` picks the alternative)."""
    name = schema["discriminator"]["propertyName"]
    shapes = {resolve(s, components)["properties"][name]["const"]: s for s in schema["oneOf"]}
    chosen = value.get(name) if isinstance(value, dict) else None
    picked = shapes.get(chosen) if isinstance(chosen, str) else None
    if picked is None:
        out.setdefault(_join(where, name), []).append("Must be one of: " + ", ".join(shapes) + ".")
    else:
        _walk(picked, value, where, components, out)


def _walk(schema: Mapping, value: Any, where: str, components: Mapping, out: Errors) -> None:
    schema = resolve(schema, components)
    if "oneOf" in schema:
        _one_of(schema, value, where, components, out)
        return
    problem = _scalar(schema, value)
    if problem:
        out.setdefault(where or "request", []).append(problem)
    elif isinstance(value, dict):
        _object(schema, value, where, components, out)
    elif isinstance(value, list) and "items" in schema:
        for n, item in enumerate(value):
            _walk(schema["items"], item, _join(where, n), components, out)


def errors_of(schema: Mapping[str, Any], value: Any, components: Mapping[str, Any]) -> Errors:
    """Every problem of `value` against `schema`, by field; empty when it fits."""
    out: Errors = {}
    _walk(schema, value, "", components, out)
    return out


def keywords_of(schema: Any) -> set[str]:
    """Every keyword a schema uses, its parts' too (for the test that keeps `KEYWORDS` whole)."""
    found: set[str] = set()
    if isinstance(schema, Mapping):
        for key, value in schema.items():
            found.add(key)
            if key == "properties":
                for part in value.values():
                    found |= keywords_of(part)
            elif key in ("items", "additionalProperties"):
                found |= keywords_of(value)
            elif key == "oneOf":
                for part in value:
                    found |= keywords_of(part)
    return found
