"""schemathesis fuzzes the admin API from its own openapi.json, through WSGI, on the real
database: no answer is a 5xx, every answer is what the description says (status, content
type, body schema), data the description refuses is refused (4xx), and no route answers
without the token.

A fixed, small number of examples per operation (and a fixed seed) keeps the run short and
replayable.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks
from support import ADMIN_PASSWORD
from support.admin_api import API_TOKEN

from admin.api import framework
from models import Consent, Subscriber, db
from studio import audit

EXAMPLES = 12
# Keys that exist, besides the random ones.
KEYS = ["month-1", "checkin-1", "worksheet", "confirm", "form", "thanks"]
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
CHECKS = [
    checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.negative_data_rejection,
    openapi_checks.ignored_auth,
]


@pytest.fixture
def api_schema(make_app):
    """The app's own description, on an app with a reader and an event to find."""
    # Schemathesis tries wrong tokens on every route: room for all of them (the limit on
    # guessing is test_admin_api.py's).
    app = make_app(
        ADMIN_API_TOKEN=API_TOKEN,
        ADMIN_PASSWORD=ADMIN_PASSWORD,
        ADMIN_LOGIN_RATE_LIMIT="10000/minute",
    )
    with app.app_context():
        ann = Subscriber(email="ann@example.com", email_key="ann@example.com", name="Ann")
        ann.consents.append(Consent(form_version="t", source="form", ip="192.0.2.1"))
        db.session.add(ann)
        db.session.flush()
        audit.record(audit.API, "test", "Seeded", subscriber=ann, detail={"n": 1})
        db.session.commit()
        known = {"key": KEYS, "public_id": [ann.public_id]}
    return schemathesis.openapi.from_wsgi("/api/admin/openapi.json", app, headers=AUTH), known


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _cases(operation, mode: GenerationMode, known: dict[str, list[str]]):
    """schemathesis' cases for the operation; positive ones also on the keys and the reader
    that exist (random ones would find nothing, and only ever answer 404)."""
    found = operation.as_strategy(generation_mode=mode)
    names = [p.name for p in operation.path_parameters]
    if mode is GenerationMode.NEGATIVE or not names:
        return found
    real = [operation.as_strategy(generation_mode=mode, path_parameters={names[0]: value}) for value in known[names[0]]]  # fmt: skip
    return st.one_of(found, *real)


# schemathesis' own pytest loader (`from_fixture`) does not run under pytest 9, so each
# operation is its own test here, with the case strategy schemathesis makes for it.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("operation_id", [op.endpoint for op in framework.OPERATIONS])
def test_the_admin_api_holds_to_its_description_under_fuzzing(api_schema, operation_id, mode):
    schema, known = api_schema
    operation = schema.find_operation_by_id(operation_id)

    @FUZZ
    @given(case=_cases(operation, mode, known))
    def call(case):
        case.call_and_validate(headers=AUTH, checks=CHECKS)

    call()
