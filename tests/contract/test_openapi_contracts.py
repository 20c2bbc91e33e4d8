"""Every OpenAPI document fuzzed with schemathesis: no 5xx, every response matches its schema.

A second run puts a control character (NUL, other C0, DEL, C1, a lone surrogate) into one text
of each generated request, which schemathesis alone never sends: the answer is the 422 that
names it (api.md, errors), on PostgreSQL and on SQLite.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from shared.auth.issuing import issue_token
from shared.auth.tokens import CUSTOMER, STAFF_SCOPES
from shared.migrations import migrate
from shared.settings import SERVICES, Settings
from shared.suite import create_app
from tests.conftest import settings_for
from tests.wsgi_server import served as served_app

AUTH = {
    "Authorization": "Bearer "
    + issue_token(settings_for("customers"), "staff:contract", STAFF_SCOPES, audience=SERVICES)
}
_CUSTOMER_ID = "3f0c8a4e-2b1d-4c5e-9f6a-7b8c9d0e1f2a"
CUSTOMER_AUTH = {
    "Authorization": "Bearer "
    + issue_token(
        settings_for("customers"),
        f"customer:{_CUSTOMER_ID}",
        [],
        audience=SERVICES,
        kind=CUSTOMER,
        customer_id=_CUSTOMER_ID,
    )
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


PEERS = {"customers": ["tags", "registration"], "registration": ["customers"]}
"""The services each one calls on a request path (customers asks tags about a tag id it does not
know yet, and registration about a sign-up; registration asks customers about an account's
customer): they answer for real in these tests, or their calls would be 503s."""


@contextmanager
def service_app(service: str, settings_of: Callable[[str], Settings]) -> Iterator[Flask]:
    """The service's app, its peers served over HTTP on settings of the same kind."""
    with ExitStack() as stack:
        urls = {
            peer: stack.enter_context(served(settings_of(peer))) for peer in PEERS.get(service, [])
        }
        settings = settings_of(service)
        yield create_app(
            dataclasses.replace(settings, service_urls={**settings.service_urls, **urls})
        )


@contextmanager
def served(settings: Settings) -> Iterator[str]:
    """A service's app on a local port, in a thread; its base URL."""
    with served_app(create_app(settings)) as url:
        yield url


@pytest.mark.parametrize("service", SERVICES)
def test_no_server_error_and_every_answer_matches_its_schema(service, pg_settings):
    with service_app(service, pg_settings) as app:
        fuzz_every_operation(app, service, fuzz)


def fuzz_every_operation(app: Flask, service: str, fuzzer: Callable[[Any], None]) -> None:
    """Every operation of the service's document fuzzed; every failing one reported at once."""
    schema = schemathesis.openapi.from_wsgi(f"/{service}/openapi.json", app)
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        try:
            fuzzer(operation)
        except Exception as exc:  # noqa: BLE001  (report every failing operation at once)
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)


# NUL, other C0, DEL and C1 (lone surrogates, which schemathesis cannot encode as UTF-8, are in
# the integration tests).
CONTROL_CHARACTERS = ["\x00", "\x01", "\x08", "\x0b", "\x1b", "\x1f", "\x7f", "\x85", "\x9f"]


def text_slots(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Where `value` holds text: the path to each string, and to each object key (marked)."""
    if isinstance(value, str):
        return [path]
    if isinstance(value, list):
        return [slot for i, item in enumerate(value) for slot in text_slots(item, (*path, i))]
    if isinstance(value, dict):
        return [
            slot
            for key, item in value.items()
            for slot in [(*path, ("key", key)), *text_slots(item, (*path, key))]
        ]
    return []


def inject(value: Any, slot: tuple[Any, ...], char: str, at: int) -> Any:
    """A copy of `value` with `char` inserted into the text at `slot`."""
    if not slot:
        return value[:at] + char + value[at:]
    step, rest = slot[0], slot[1:]
    if isinstance(step, tuple):  # an object key
        key = step[1]
        return {(inject(k, (), char, at) if k == key else k): v for k, v in value.items()}
    copy = list(value) if isinstance(value, list) else dict(value)
    copy[step] = inject(value[step], rest, char, at)
    return copy


def _value(slot: tuple[Any, ...]) -> bool:
    return bool(slot) and not isinstance(slot[0], tuple)


def fuzz_control_characters(operation) -> None:
    @given(case=operation.as_strategy(), data=st.data())
    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    def check(case, data) -> None:
        places = []
        if isinstance(case.body, dict | list) and "json" in (case.media_type or ""):
            places += [("body", slot) for slot in text_slots(case.body)]
        # Parameters' values only: a name with a NUL is another, undeclared parameter.
        places += [("query", slot) for slot in text_slots(case.query or {}) if _value(slot)]
        places += [
            ("path", slot) for slot in text_slots(case.path_parameters or {}) if _value(slot)
        ]
        if not places:
            return
        where, slot = data.draw(st.sampled_from(places))
        char = data.draw(st.sampled_from(CONTROL_CHARACTERS))
        if where == "body":
            case.body = inject(case.body, slot, char, data.draw(st.integers(0, 3)))
        elif where == "query":
            case.query = inject(case.query, slot, char, data.draw(st.integers(0, 3)))
        else:
            case.path_parameters = inject(case.path_parameters, slot, char, 1)

        response = case.call(headers=AUTH)
        if response.status_code == 403:
            # An endpoint of a customer's own data refuses staff: a customer token reaches it.
            response = case.call(headers=CUSTOMER_AUTH)

        sent = (case.method, case.path, where, slot, repr(char))
        assert response.status_code < 500, (*sent, response.text[:500])
        # A path parameter that must be a UUID no longer matches the route: 404.
        expected = (404, 422) if where == "path" else (422,)
        assert response.status_code in expected, (*sent, response.status_code, response.text[:500])
        case.validate_response(
            response, checks=[response_schema_conformance, content_type_conformance]
        )

    check()


@pytest.fixture(params=["postgresql", "sqlite"])
def backend_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Settings of a service on its PostgreSQL test database, then on a migrated SQLite file."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_settings")

    def _make(service: str) -> Any:
        url = f"sqlite:///{tmp_path / f'{service}.sqlite3'}"
        settings = settings_for(service, database_urls={service: url})
        migrate(settings)
        return settings

    return _make


@pytest.mark.parametrize("service", SERVICES)
def test_a_control_character_anywhere_is_a_422_never_a_server_error(service, backend_settings):
    with service_app(service, backend_settings) as app:
        fuzz_every_operation(app, service, fuzz_control_characters)
