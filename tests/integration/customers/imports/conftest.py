"""Fixtures of the import tests: the customers app with the real tags service over HTTP (or
nowhere, for the tags-down tests), the worker's job, uploads."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from services.customers.imports import runner
from services.customers.models import Customer
from services.customers.tagging.tags_client import RemoteTagsCatalogue
from shared.settings import Settings
from tests.integration.customers.conftest import closed_port
from tests.integration.customers.tagging.conftest import tags_service

__all__ = ["tags_service"]  # a fixture: the real tags app served over HTTP

Headers = dict[str, str]
TAGS_DOWN = "tags down"


@pytest.fixture
def tags_base_url(request: pytest.FixtureRequest) -> str:
    """The real tags service; `parametrize("tags_base_url", [TAGS_DOWN], indirect=True)` puts
    a port nothing listens on there instead."""
    if getattr(request, "param", None) == TAGS_DOWN:
        return f"http://127.0.0.1:{closed_port()}"
    url: str = request.getfixturevalue("tags_service")
    return url


@pytest.fixture
def customers_settings(pg_settings: Callable[..., Settings], tags_base_url: str) -> Settings:
    return pg_settings("customers", service_urls={"tags": tags_base_url})


class CountingCatalogue:
    """The real tags client, each `POST /tags/ensure` it makes recorded (a spy, not a fake)."""

    def __init__(self, real: RemoteTagsCatalogue) -> None:
        self.real = real
        self.calls: list[list[str]] = []

    def ensure(self, names: list[str]) -> list[dict[str, Any]]:
        self.calls.append(list(names))
        return self.real.ensure(names)

    def fetch(self, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
        return self.real.fetch(ids)

    def find_by_name(self, name: str) -> dict[str, Any] | None:
        return self.real.find_by_name(name)


@pytest.fixture
def tags(customers_settings: Settings) -> CountingCatalogue:
    return CountingCatalogue(RemoteTagsCatalogue(customers_settings))


@pytest.fixture
def importer(make_token: Callable[..., Headers]) -> Headers:
    return make_token("customers:read", "customers:import")


@pytest.fixture
def work(app: Flask, tags: CountingCatalogue) -> Callable[..., int]:
    """Run the worker's import job now, as the customers worker does."""

    def _work(chunk_size: int = 2) -> int:
        return runner.run_queued_imports(app.extensions["crm"].uow, chunk_size, lambda: tags, "FR")

    return _work


@pytest.fixture
def run_import(
    app: Flask,
    client: FlaskClient,
    importer: Headers,
    tags: CountingCatalogue,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., dict[str, Any]]:
    """Upload a file, run the worker's import job (in `processes` checking processes if any,
    chunks of `chunk_size` rows), and answer `GET /customers/imports/{id}`."""

    def _run_import(
        data: bytes, query: str = "", chunk_size: int = 2, processes: int = 0
    ) -> dict[str, Any]:
        answer = upload(client, importer, data, query)
        assert answer.status_code == 202, answer.json
        if processes:
            monkeypatch.setattr(runner, "PROCESSES_ABOVE", 0)
        uow = app.extensions["crm"].uow
        runner.run_queued_imports(uow, chunk_size, lambda: tags, "FR", processes=processes)
        job = client.get(f"/customers/imports/{answer.json['id']}", headers=importer).json
        assert isinstance(job, dict)
        return job

    return _run_import


def stored_customers(app: Flask) -> list[Customer]:
    """Every customer in the database, oldest first."""
    with app.extensions["crm"].session_factory() as session:
        return list(session.scalars(select(Customer).order_by(Customer.created_at)))


def upload(client: FlaskClient, headers: Headers, data: bytes, query: str = "") -> Any:
    return client.post(
        f"/customers/imports{query}", data=data, headers={**headers, "Content-Type": "text/csv"}
    )
