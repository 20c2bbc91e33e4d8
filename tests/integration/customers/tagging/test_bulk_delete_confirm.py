"""A bulk delete of more than 1,000 customers needs `"confirm": <the number it matches>`; without
it, or with another number, it is a 409 that says how many would go, and nothing is deleted."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, insert, select

from services.customers.models import Customer
from services.customers.tagging.bulk_jobs import run_queued_jobs
from shared.db import utcnow
from tests.integration.customers.tagging.conftest import Snapshot

pytestmark = pytest.mark.needs_postgres

THRESHOLD = 1_000


@pytest.fixture
def add_many(app: Flask) -> Callable[..., None]:
    """Puts `count` customers in the database in one statement (columns as keywords)."""

    def _add(count: int, **columns: Any) -> None:
        now = utcnow()
        rows = [
            {
                "id": uuid.uuid4(),
                "kind": "individual",
                "last_name": f"Many{n}",
                "language": "fr",
                "created_at": now,
                "updated_at": now,
                **columns,
            }
            for n in range(count)
        ]
        with app.extensions["crm"].session_factory() as session:
            session.execute(insert(Customer), rows)
            session.commit()

    return _add


def customers_left(app: Flask) -> int:
    with app.extensions["crm"].session_factory() as session:
        return session.scalar(select(func.count()).select_from(Customer)) or 0


def delete_all(client: FlaskClient, headers: dict[str, str], **extra: Any) -> Any:
    return client.post(
        "/customers/bulk", json={"action": "delete", "filter": {}, **extra}, headers=headers
    )


@pytest.mark.parametrize("confirm", [None, THRESHOLD, THRESHOLD + 2, 0])
def test_deleting_over_1000_without_the_matched_count_is_409_with_it(
    app: Flask,
    client: FlaskClient,
    deleter: dict[str, str],
    add_many: Callable[..., None],
    snapshot: Callable[[], Snapshot],
    confirm: int | None,
) -> None:
    add_many(THRESHOLD + 1)
    before = snapshot()

    response = delete_all(client, deleter, **({} if confirm is None else {"confirm": confirm}))

    assert response.status_code == 409
    body = response.get_json()
    assert "1001" in body["message"]
    assert "1001" in body["errors"]["json"]["confirm"][0]
    assert snapshot() == before


def test_deleting_over_1000_with_the_matched_count_deletes_them(
    app: Flask, client: FlaskClient, deleter: dict[str, str], add_many: Callable[..., None]
) -> None:
    add_many(THRESHOLD + 1)

    response = delete_all(client, deleter, confirm=THRESHOLD + 1)

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"matched": THRESHOLD + 1, "changed": THRESHOLD + 1}
    assert customers_left(app) == 0


def test_deleting_1000_or_fewer_needs_no_confirmation(
    app: Flask, client: FlaskClient, deleter: dict[str, str], add_many: Callable[..., None]
) -> None:
    add_many(THRESHOLD, status="inactive")
    add_many(5, status="active")

    response = client.post(
        "/customers/bulk",
        json={"action": "delete", "filter": {"status": "inactive"}},
        headers=deleter,
    )

    assert response.status_code == 200
    assert response.get_json() == {"matched": THRESHOLD, "changed": THRESHOLD}
    assert customers_left(app) == 5


def test_deleting_over_1000_by_ids_needs_it_too(
    app: Flask,
    client: FlaskClient,
    deleter: dict[str, str],
    add_many: Callable[..., None],
) -> None:
    add_many(THRESHOLD + 1)
    with app.extensions["crm"].session_factory() as session:
        ids = [str(customer_id) for customer_id in session.scalars(select(Customer.id))]

    refused = client.post("/customers/bulk", json={"action": "delete", "ids": ids}, headers=deleter)
    done = client.post(
        "/customers/bulk",
        json={"action": "delete", "ids": ids, "confirm": THRESHOLD + 1},
        headers=deleter,
    )

    assert refused.status_code == 409
    assert done.status_code == 200 and done.get_json()["changed"] == THRESHOLD + 1


@pytest.mark.parametrize("bulk_sync_limit", [500], indirect=True)
def test_a_delete_job_deletes_the_confirmed_number_and_no_other(
    app: Flask,
    client: FlaskClient,
    deleter: dict[str, str],
    add_many: Callable[..., None],
    bulk_sync_limit: int,
) -> None:
    add_many(THRESHOLD + 1)
    unconfirmed = delete_all(client, deleter)
    confirmed = delete_all(client, deleter, confirm=THRESHOLD + 1)
    assert unconfirmed.status_code == 409
    assert confirmed.status_code == 202
    add_many(1)  # one more matches by the time the worker takes the job's targets

    run_queued_jobs(app.extensions["crm"].uow, bulk_sync_limit)

    job = client.get(f"/customers/bulk/{confirmed.get_json()['id']}", headers=deleter).get_json()
    assert job["status"] == "failed"
    assert "1002" in job["error"] and "not 1001" in job["error"]
    assert customers_left(app) == THRESHOLD + 2
    again = delete_all(client, deleter, confirm=THRESHOLD + 2)
    run_queued_jobs(app.extensions["crm"].uow, bulk_sync_limit)
    job = client.get(f"/customers/bulk/{again.get_json()['id']}", headers=deleter).get_json()
    assert (job["status"], job["changed"]) == ("done", THRESHOLD + 2)
    assert customers_left(app) == 0


def test_confirm_belongs_to_delete_alone(
    client: FlaskClient, writer: dict[str, str], add_many: Callable[..., None]
) -> None:
    add_many(1)

    response = client.post(
        "/customers/bulk",
        json={"action": "set_status", "filter": {}, "status": "vip", "confirm": 1},
        headers=writer,
    )
    negative = client.post(
        "/customers/bulk",
        json={"action": "delete", "filter": {}, "confirm": -1},
        headers=writer,
    )

    assert response.status_code == 422
    assert "confirm" in response.get_json()["errors"]["json"]
    assert negative.status_code == 422
    assert "confirm" in negative.get_json()["errors"]["json"]
