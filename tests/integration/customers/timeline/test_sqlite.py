"""The timeline and summary on SQLite, as the embedded mode runs them (migrated file)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.customers.app import create_app
from shared.migrations import migrate
from shared.settings import Settings
from tests.conftest import settings_for
from tests.integration.customers.timeline.conftest import purchase


@pytest.fixture
def customers_settings(tmp_path: Path) -> Settings:
    settings = settings_for(
        "customers", database_urls={"customers": f"sqlite:///{tmp_path / 'customers.sqlite3'}"}
    )
    migrate(settings)
    return settings


@pytest.fixture
def app(customers_settings: Settings) -> Iterator[Flask]:
    app = create_app(customers_settings)
    yield app
    app.extensions["crm"].engine.dispose()


def test_entries_pages_and_exact_sums_on_sqlite(
    add_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., None],
    timeline: Callable[..., list[dict[str, Any]]],
    client: FlaskClient,
    reader: dict[str, str],
) -> None:
    customer = add_customer(language="en")
    events = [
        purchase(customer, amount, time=f"2026-11-0{day}T00:00:00Z")
        for day, amount in ((3, "1234567890.0001"), (1, "0.10"), (2, "0.20"))
    ]
    deliver(*events, events[0])
    deliver(purchase(customer, "0.05", "USD", time="2026-11-02T00:00:00+00:00"))

    shown = timeline(customer, limit=1)
    assert [e["event_id"] for e in shown][:1] == [events[0].id]
    assert len(shown) == 4
    assert shown[-1]["event_id"] == events[1].id
    summary = client.get(f"/customers/{customer}/summary", headers=reader).get_json()
    assert summary["revenue"] == {"EUR": "1234567890.3001", "USD": "0.05"}
    assert summary["purchases_count"] == 4
