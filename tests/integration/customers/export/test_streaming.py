"""An export is streamed: the memory it takes does not grow with the number of rows."""

from __future__ import annotations

import tracemalloc
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert

from services.customers.models import Customer
from shared.db import utcnow
from tests.integration.customers.export.conftest import Headers

pytestmark = pytest.mark.needs_postgres


def _add_customers(app: Flask, count: int, first: int = 0) -> None:
    start = utcnow() - timedelta(days=1)
    rows = [
        {
            "id": uuid.uuid4(),
            "kind": "individual",
            "first_name": f"First{index}",
            "last_name": f"Last name number {index}",
            "sort_name": f"last name number {index}",
            "email": f"person{index}@example.com",
            "email_key": f"person{index}@example.com",
            "address_city": "Paris",
            "notes": "n" * 200,
            "status": "lead",
            "custom_fields": {},
            "created_at": start + timedelta(microseconds=index),
            "updated_at": start,
        }
        for index in range(first, first + count)
    ]
    with app.extensions["crm"].session_factory() as session:
        session.execute(insert(Customer), rows)
        session.commit()


def _resident_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096


def _export(client: FlaskClient, staff: Headers) -> tuple[int, int, int]:
    """Exports everyone, reading the answer chunk by chunk; the bytes received, the peak of
    Python memory traced meanwhile, and the largest growth of the resident size seen."""
    rss_before = _resident_bytes()
    rss_growth = 0
    tracemalloc.start()
    try:
        response = client.get("/customers/export.csv", headers=staff, buffered=False)
        assert response.status_code == 200
        received = 0
        for chunk in response.response:
            received += len(chunk)
            rss_growth = max(rss_growth, _resident_bytes() - rss_before)
        response.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return received, peak, rss_growth


def test_exporting_many_rows_takes_no_more_memory_than_exporting_few(
    app: Flask, client: FlaskClient, staff: Headers
) -> None:
    _add_customers(app, 3_000)
    small, small_peak, _ = _export(client, staff)
    _add_customers(app, 27_000, first=3_000)
    large, large_peak, large_rss = _export(client, staff)
    assert large > 9 * small  # ten times the rows, ten times the bytes...
    assert large_peak < 1.5 * small_peak + 1_000_000  # ...in the same memory
    # The database's rows arrive a batch at a time too (a named cursor), not all at once.
    assert large_rss < large / 4, (large_rss, large)
