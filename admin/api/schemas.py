"""Every shape the admin API takes or gives, declared once as JSON Schema (2020-12).

`openapi.json` publishes these as its components, requests are checked against them
(`admin.api.check`), and the tests check every response against them. Answers list every
field as `required` and allow no other (`additionalProperties: false`); a request may leave
out what its schema does not require.
"""

from __future__ import annotations

from typing import Any

from settings.table import Coach, rows

INT32 = 2**31 - 1  # the largest version or limit a database column takes


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def shape(required: dict[str, Any], optional: dict[str, Any] | None = None, **more) -> dict:
    """An object with these fields, the `required` ones required, and no other field."""
    return {
        "type": "object",
        "properties": required | (optional or {}),
        "required": list(required),
        "additionalProperties": False,
        **more,
    }


def listing(item: str) -> dict:
    return {"type": "array", "items": ref(item)}


TEXT = {"type": "string"}
LINE = {"type": "string", "maxLength": 1000}
WHEN = {"type": "string", "format": "date-time", "description": "ISO 8601, UTC"}
COUNT = {"type": "integer", "minimum": 0}
EMAIL_KINDS = ["worksheet", "confirm", "step", "checkin"]
# The reader states, as the dashboard's previews name them (a test keeps the two equal).
STATES = ["pending", "unknown", "looking", "not_changing", "started"]
STATE = {
    "type": "string",
    "enum": STATES,
    "description": "a reader's state, as the previews name it",
}
# What a reader told us of their job, as the start-date page names the answers.
JOB_ANSWER = {"enum": ["started", "looking", "not_changing", None]}
OFFSET = {
    "type": "string",
    "maxLength": 64,
    "description": 'how long after the start date (a step) or confirming (a check-in): "1 month", "6 weeks"',
    "examples": ["1 month", "6 weeks"],
}
# The coach's settings, by the lower-case name of their environment variable.
COACH_SETTINGS = [declared.name.lower() for group, _, declared in rows() if group == "coach"]
assert len(COACH_SETTINGS) == len(Coach.__dataclass_fields__)

EMAIL_CONTENT = {"subject": LINE, "preheader": LINE, "body": TEXT}
DATE = {"type": ["string", "null"], "format": "date", "description": "ISO 8601 date, or null"}


def _labelled(answer: bool) -> dict:
    """A box, a blank or a column of the worksheet: its label, and its field's key."""
    return shape({"key": TEXT, "label": TEXT}) if answer else shape({"label": TEXT}, {"key": TEXT})


def _item(kind: str, answer: bool, texts: dict, keyed: dict | None = None) -> dict:
    """One kind of worksheet item: in an answer every field is there; a request may leave
    out all but `kind` and the texts Tend cannot make up (a missing key is made)."""
    fields = {"kind": {"const": kind}, **texts, **(keyed or {})}
    needed = {"kind", "text"}  # a question's text; the rest has defaults
    return shape({n: fields[n] for n in fields if answer or n in needed}, fields)


def worksheet_shapes(answer: bool) -> dict[str, dict]:
    """The worksheet as `studio.worksheet` gives it (`answer`) or takes it back."""
    suffix = "" if answer else "Edit"
    labelled = ref("Labelled" + suffix)
    items = [
        _item(
            "question",
            answer,
            {"text": TEXT},
            {"key": TEXT, "lines": {"type": "integer", "minimum": 1}},
        ),  # fmt: skip
        _item(
            "checkboxes", answer, {"prompt": TEXT}, {"boxes": {"type": "array", "items": labelled}}
        ),  # fmt: skip
        _item("blanks", answer, {"hint": TEXT}, {"blanks": {"type": "array", "items": labelled}}),
        _item(
            "network",
            answer,
            {},
            {
                "rows": {"type": "integer", "minimum": 1},
                "columns": {"type": "array", "items": labelled},
                "ticks": {"type": "array", "items": labelled},
            },
        ),
    ]
    item = {"oneOf": items, "discriminator": {"propertyName": "kind"}}
    section = {"heading": TEXT, "note": TEXT, "items": {"type": "array", "items": item}}
    top = {"title": TEXT, "subject": TEXT, "intro": TEXT, "garden": TEXT, "closing": TEXT}
    read_only = {
        "version": {"type": "integer", "minimum": 1, "description": "read only"},
    }
    sheet = top | {"sections": {"type": "array", "items": ref("Section" + suffix)}}
    if answer:
        whole = shape(sheet | read_only | {"build": ref("WorksheetBuild")})
        return {
            "Labelled": _labelled(True),
            "Section": shape(section),
            "Worksheet": whole,
        }
    edit = read_only | {"build": {"type": "object", "description": "read only; ignored"}}
    return {
        "LabelledEdit": _labelled(False),
        "SectionEdit": shape({"heading": TEXT, "items": section["items"]}, section),
        "WorksheetEdit": shape({"title": TEXT, "sections": sheet["sections"]}, sheet | edit),
    }


SCHEMAS: dict[str, dict[str, Any]] = {
    "Errors": shape(
        {
            "errors": {
                "type": "object",
                "description": "each field (or `request`) with its messages",
                "additionalProperties": {"type": "array", "items": TEXT},
            }
        }
    ),
    "Email": shape(
        {
            "key": TEXT,
            "kind": {"type": "string", "enum": EMAIL_KINDS},
            "subject": TEXT,
            "preheader": TEXT,
            "body": {"type": "string", "description": "Markdown with the documented variables"},
            "offset": {
                "type": ["string", "null"],
                "description": "steps and check-ins; null for the worksheet and confirm emails",
            },
            "version": {"type": "integer", "minimum": 1},
        }
    ),
    "EmailPublish": shape(EMAIL_CONTENT, {"offset": OFFSET | {"type": ["string", "null"]}}),
    "NewCheckin": shape({"kind": {"const": "checkin"}, "offset": OFFSET, **EMAIL_CONTENT}),
    "PreviewRequest": shape({}, {"state": STATE, **EMAIL_CONTENT}),
    "Preview": shape({"subject": TEXT, "html": TEXT, "text": TEXT}),
    "TestRequest": shape(
        {"email": {"type": "string", "maxLength": 320}}, {"state": STATE, **EMAIL_CONTENT}
    ),
    "TestSent": shape({"key": TEXT, "email": TEXT, "state": {"type": ["string", "null"]}}),
    "ImpactRequest": shape(
        {}, {"offset": OFFSET, "remove": {"type": "boolean", "description": "a removal"}}
    ),
    "Impact": shape(
        {
            "reach": COUNT | {"description": "planned emails that will carry the new words"},
            "moved": COUNT | {"description": "planned notes whose day a new offset changes"},
            "dropped": COUNT | {"description": "planned notes a removal drops"},
        }
    ),
    "Removed": shape({"key": TEXT, "dropped": COUNT}),
    "Version": shape(
        {
            "version": {"type": "integer", "minimum": 1},
            "published_at": WHEN | {"type": ["string", "null"]},
            "published_by": {"type": "string", "examples": ["shipped", "api"]},
            "subject": TEXT,
        }
    ),
    "Revert": shape({"version": {"type": "integer", "minimum": 1, "maximum": INT32}}),
    "Page": shape({"key": TEXT, "fields": {"type": "object", "additionalProperties": TEXT}}),
    "PagePublish": shape(
        {"fields": {"type": "object", "additionalProperties": {"type": "string"}}}
    ),
    "PagePublished": shape(
        {
            "key": TEXT,
            "fields": {"type": "object", "additionalProperties": TEXT},
            "warnings": {"type": "array", "items": TEXT},
        }
    ),
    **worksheet_shapes(answer=True),
    **worksheet_shapes(answer=False),
    "WorksheetBuild": shape(
        {
            "state": {"type": "string", "enum": ["building", "ready", "failed"]},
            "version": {"type": "integer", "minimum": 1},
            "built": {"type": "boolean", "description": "the PDF file is there"},
            "error": {"type": ["string", "null"]},
            "at": WHEN | {"type": ["string", "null"]},
            "own_pdf": {"type": "boolean", "description": "WORKSHEET_PATH is served instead"},
        }
    ),
    "Planned": shape({"key": TEXT, "subject": TEXT, "due_at": WHEN}),
    "Sent": shape({"key": TEXT, "subject": TEXT, "sent_at": WHEN}),
    "Reader": shape(
        {
            "public_id": TEXT,
            "name": TEXT,
            "email": TEXT,
            "status": {"type": "string", "examples": ["pending", "active", "unsubscribed"]},
            "job_answer": JOB_ANSWER,
            "started_on": DATE,
            "planned": listing("Planned"),
            "sent": listing("Sent"),
        }
    ),
    "NewReader": shape(
        {
            "name": {"type": "string", "maxLength": 200},
            "email": {"type": "string", "maxLength": 320},
            "note": {"type": "string", "maxLength": 2000, "description": "how they asked"},
        },
        {"confirmed": {"type": "boolean", "description": "confirmed in person: no request"}},
    ),
    "ReaderChange": shape(
        {},
        {
            "name": {"type": "string", "maxLength": 200},
            "email": {"type": "string", "maxLength": 320},
            "started_on": DATE,
            "job_answer": JOB_ANSWER,
            "reconfirm": {"type": "boolean", "description": "false: a new address is taken as is"},
        },
    ),
    "Setting": shape(
        {
            "name": {"type": "string", "enum": COACH_SETTINGS},
            "value": TEXT,
            "source": {"type": "string", "enum": ["dashboard", "environment"]},
            "doc": TEXT,
        }
    ),
    "SettingsChange": shape(
        {},
        {
            name: {"type": "string", "maxLength": 1000, "description": "empty: the environment's"}
            for name in COACH_SETTINGS
        },
        minProperties=1,
    ),
    "Event": shape(
        {
            "at": WHEN,
            "actor": {"type": "string", "examples": ["api", "dashboard:1a2b3c4d"]},
            "action": TEXT,
            "summary": TEXT,
            "subscriber": {"type": ["string", "null"], "description": "the reader's public_id"},
            "detail": {"type": "object", "description": "what changed, as the action records it"},
        }
    ),
}
