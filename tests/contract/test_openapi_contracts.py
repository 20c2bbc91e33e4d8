"""Every OpenAPI document fuzzed with schemathesis: no 5xx, every response matches its schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from shared.auth import STAFF_SCOPES, issue_token
from shared.settings import SERVICES
from shared.suite import create_app
from tests.conftest import settings_for

AUTH = {
    "Authorization": "Bearer "
    + issue_token(settings_for("customers"), "staff:contract", list(STAFF_SCOPES))
}


def fuzz(operation) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    def check(case) -> None:
        response = case.call(headers=AUTH)
        assert response.status_code < 500, (case.method, case.path, response.text[:500])
        case.validate_response(
            response, checks=[response_schema_conformance, content_type_conformance]
        )

    check()


@pytest.mark.parametrize("service", SERVICES)
def test_no_server_error_and_every_answer_matches_its_schema(service, pg_settings):
    app = create_app(pg_settings(service))
    schema = schemathesis.openapi.from_wsgi(f"/{service}/openapi.json", app)
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        try:
            fuzz(operation)
        except Exception as exc:  # noqa: BLE001  (report every failing operation at once)
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
