"""Every shape the admin API takes or gives, declared once as JSON Schema (2020-12).

`openapi.json` publishes these as its components, requests are checked against them
(`admin.api.check`), and the tests check every response against them. Answers list every
field as `required` and allow no other (`additionalProperties: false`); a request may leave
out what its schema does not require.
"""

from __future__ import annotations

from typing import Any

from admin.previews import STATES
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
STATE = {
    "type": "string",
    "enum": [state.key for state in STATES],
    "description": "the reader's state, as the dashboard's previews name them",
}
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
    "EmailPublish": shape(EMAIL_CONTENT, {"offset": OFFSET}),
    "NewCheckin": shape({"kind": {"const": "checkin"}, "offset": OFFSET, **EMAIL_CONTENT}),
    "PreviewRequest": shape({}, {"state": STATE, **EMAIL_CONTENT}),
    "Preview": shape({"subject": TEXT, "html": TEXT, "text": TEXT}),
    "TestRequest": shape({"email": {"type": "string", "maxLength": 320}}, {"state": STATE}),
    "TestSent": shape(
        {"key": TEXT, "email": TEXT, "state": {"type": ["string", "null"]}},
    ),
    "ImpactRequest": shape({}, {"offset": OFFSET}),
    "Impact": shape(
        {
            "planned": COUNT
            | {"description": "planned deliveries of this email a publish reaches"},
            "moved": COUNT | {"description": "planned deliveries the new offset moves"},
            "dropped": COUNT | {"description": "planned deliveries the change drops"},
        }
    ),
    "Version": shape(
        {
            "version": {"type": "integer", "minimum": 1},
            "published_at": WHEN | {"type": ["string", "null"]},
            "subject": TEXT,
        }
    ),
    "Revert": shape({"version": {"type": "integer", "minimum": 1, "maximum": INT32}}),
    "Page": shape(
        {
            "key": TEXT,
            "fields": {"type": "object", "additionalProperties": TEXT},
        }
    ),
    "PagePublish": shape(
        {
            "fields": {
                "type": "object",
                "additionalProperties": {"type": "string", "maxLength": 5000},
            }
        }
    ),
    "PagePublished": shape(
        {
            "key": TEXT,
            "fields": {"type": "object", "additionalProperties": TEXT},
            "warnings": {"type": "array", "items": TEXT},
        }
    ),
    "Question": shape(
        {"key": TEXT, "text": TEXT}, {"lines": {"type": "integer", "minimum": 1, "maximum": 40}}
    ),  # fmt: skip
    "Blank": shape({"key": TEXT, "label": TEXT}),
    "Check": shape({"key": TEXT, "label": TEXT}),
    "Section": shape(
        {"heading": TEXT},
        {
            "note": TEXT,
            "questions": listing("Question"),
            "blanks": listing("Blank"),
            "blanks_hint": TEXT,
            "checks": listing("Check"),
            "checks_prompt": TEXT,
            "after": listing("Question"),
            "network": {"type": "boolean"},
        },
    ),
    "WorksheetContent": shape(
        {"title": TEXT, "sections": listing("Section")},
        {"intro": TEXT, "garden": TEXT, "closing": TEXT},
    ),
    "Worksheet": shape(
        {
            "content": ref("WorksheetContent"),
            "status": {"type": "string", "description": "the PDF's rebuild"},
        }
    ),
    "WorksheetPublish": shape({"content": ref("WorksheetContent")}),
    "Planned": shape({"key": TEXT, "subject": TEXT, "due_at": WHEN}),
    "Sent": shape({"key": TEXT, "subject": TEXT, "sent_at": WHEN}),
    "Reader": shape(
        {
            "public_id": TEXT,
            "name": TEXT,
            "email": TEXT,
            "status": {"type": "string", "examples": ["pending", "active", "unsubscribed"]},
            "job_answer": {"type": ["string", "null"]},
            "started_on": {"type": ["string", "null"], "format": "date"},
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
            "started_on": {"type": ["string", "null"], "format": "date"},
            "job_answer": {"type": ["string", "null"], "maxLength": 64},
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
        {name: {"type": "string", "maxLength": 1000} for name in COACH_SETTINGS},
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
