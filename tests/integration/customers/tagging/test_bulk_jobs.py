"""Bulk actions over the sync limit: 202 and a job the worker runs in chunks, with progress."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from services.customers.models import BulkJob, Customer
from services.customers.tagging.bulk_jobs import (
    claim_next_job,
    run_chunk,
    run_job,
    run_queued_jobs,
)
from services.customers.worker import build_worker
from shared.db import utcnow
from shared.events.envelope import CloudEvent
from shared.settings import Settings
from tests.backbone import wait_until
from tests.servers import cut_database_sessions

pytestmark = pytest.mark.needs_postgres

LIMIT = 3


@pytest.fixture
def bulk_sync_limit() -> int:
    return LIMIT


def post_bulk(client: FlaskClient, headers: dict[str, str], **body: Any) -> Any:
    for name in ("ids", "tag_ids"):
        if name in body:
            body[name] = [str(value) for value in body[name]]
    return client.post("/customers/bulk", json=body, headers=headers)


def run_jobs(app: Flask) -> int:
    return run_queued_jobs(app.extensions["crm"].uow, LIMIT)


def start_job(app: Flask) -> tuple[Callable[[], Any], tuple[uuid.UUID, str]]:
    """Claim the queued job and run its first chunk, as a worker would before it stops."""
    uow = app.extensions["crm"].uow
    claimed = claim_next_job(uow())
    assert claimed is not None
    assert run_chunk(uow(), claimed[0], claimed[1], LIMIT)
    return uow, claimed


def job_of(client: FlaskClient, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    response = client.get(f"/customers/bulk/{job_id}", headers=headers)
    assert response.status_code == 200
    return dict(response.get_json())


def test_over_the_limit_the_request_answers_202_with_a_queued_job_and_changes_nothing(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    customers = [add_customer() for _ in range(LIMIT + 2)]

    response = post_bulk(client, writer, action="add_tags", ids=customers, tag_ids=[new_tag()])

    assert response.status_code == 202
    job = response.get_json()
    assert response.headers["Location"].endswith(f"/customers/bulk/{job['id']}")
    assert job["status"] == "queued"
    assert (job["matched"], job["processed"], job["changed"], job["progress"]) == (5, 0, 0, 0.0)
    assert all(tags_of(customer) == set() for customer in customers)
    assert outbox("customer.tagged") == []


def test_at_the_limit_the_request_does_it_at_once(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
) -> None:
    customers = [add_customer() for _ in range(LIMIT)]

    response = post_bulk(client, writer, action="add_tags", ids=customers, tag_ids=[new_tag()])

    assert response.status_code == 200
    assert response.get_json() == {"matched": LIMIT, "changed": LIMIT}


def test_the_job_runs_in_chunks_to_done_with_an_event_per_changed_customer(
    app: Flask,
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    tag = new_tag("Campaign")
    already = add_customer(tags=(tag,))
    customers = [add_customer() for _ in range(7)]
    job_id = post_bulk(
        client, writer, action="add_tags", ids=[already, *customers], tag_ids=[tag]
    ).get_json()["id"]

    assert run_jobs(app) == 1

    job = job_of(client, writer, job_id)
    assert job["status"] == "done"
    assert (job["matched"], job["processed"], job["changed"], job["progress"]) == (8, 8, 7, 1.0)
    assert job["error"] is None and job["finished_at"] is not None
    assert all(tags_of(customer) == {tag} for customer in customers)
    events = outbox("customer.tagged")
    assert sorted(e["subject"] for e in events) == sorted(str(c) for c in customers)
    assert run_jobs(app) == 0


def test_a_filter_job_deletes_everyone_it_matches(
    app: Flask,
    client: FlaskClient,
    deleter: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    customer_row: Callable[[uuid.UUID], Customer | None],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    inactive = [add_customer(status="inactive") for _ in range(5)]
    active = add_customer(status="active")
    response = post_bulk(client, deleter, action="delete", filter={"status": "inactive"})
    assert response.status_code == 202

    run_jobs(app)

    job = job_of(client, deleter, response.get_json()["id"])
    assert (job["status"], job["processed"], job["changed"]) == ("done", 5, 5)
    assert all(customer_row(customer) is None for customer in inactive)
    assert customer_row(active) is not None
    assert len(outbox("customer.deleted")) == 5


def test_a_status_job_carries_the_requests_correlation_id_to_its_events(
    app: Flask,
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    customers = [add_customer(status="lead") for _ in range(4)]
    headers = {**writer, "X-Correlation-ID": "bulk-request-42"}
    post_bulk(client, headers, action="set_status", ids=customers, status="vip")

    run_jobs(app)

    events = outbox("customer.status_changed")
    assert len(events) == 4
    assert {e["correlationid"] for e in events} == {"bulk-request-42"}
    assert {(e["data"]["from"], e["data"]["to"]) for e in events} == {("lead", "vip")}


def test_a_failure_mid_job_is_recorded_with_what_was_done(
    app: Flask,
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    tag = new_tag("Short-lived")
    customers = [add_customer() for _ in range(7)]
    job_id = post_bulk(client, writer, action="add_tags", ids=customers, tag_ids=[tag]).get_json()[
        "id"
    ]
    uow, claimed = start_job(app)
    # The tag is deleted while the job runs: the next chunk cannot go on.
    deliver("tag.deleted", {"id": str(tag), "name": "Short-lived"})

    run_job(uow, claimed[0], claimed[1], LIMIT)

    job = job_of(client, writer, job_id)
    assert job["status"] == "failed"
    assert (job["processed"], job["changed"]) == (LIMIT, LIMIT)
    assert str(tag) in job["error"]
    assert f"after {LIMIT} customers processed" in job["error"]
    assert len(outbox("customer.tagged")) == LIMIT
    assert run_jobs(app) == 0


def test_a_job_whose_worker_died_is_resumed_after_its_last_chunk(
    app: Flask,
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    tag = new_tag()
    customers = [add_customer() for _ in range(7)]
    job_id = post_bulk(client, writer, action="add_tags", ids=customers, tag_ids=[tag]).get_json()[
        "id"
    ]
    uow, claimed = start_job(app)
    assert run_jobs(app) == 0  # still running, recently: nobody else takes it
    with app.extensions["crm"].session_factory() as session:
        job = session.get(BulkJob, uuid.UUID(job_id))
        assert job is not None
        progress = {
            **job.params["progress"],
            "heartbeat_at": (utcnow() - timedelta(hours=1)).isoformat(),
        }
        job.params = {**job.params, "progress": progress}
        session.commit()

    assert run_jobs(app) == 1

    job_view = job_of(client, writer, job_id)
    assert (job_view["status"], job_view["processed"], job_view["changed"]) == ("done", 7, 7)
    assert all(tags_of(customer) == {tag} for customer in customers)
    assert len(outbox("customer.tagged")) == 7
    # The worker that died cannot write over the job any more.
    assert not run_chunk(uow(), claimed[0], claimed[1], LIMIT)


def test_a_job_another_worker_is_claiming_is_skipped_not_waited_for(
    app: Flask,
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
) -> None:
    customers = [add_customer() for _ in range(LIMIT + 1)]
    post_bulk(client, writer, action="add_tags", ids=customers, tag_ids=[new_tag()])
    with app.extensions["crm"].session_factory() as other_worker:
        other_worker.scalars(select(BulkJob).with_for_update()).all()

        assert claim_next_job(app.extensions["crm"].uow()) is None


@pytest.mark.needs_rabbitmq
def test_the_worker_runs_queued_jobs_by_itself(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    customers_settings: Settings,
    broker_urls: Callable[[str], str],
) -> None:
    customers = [add_customer() for _ in range(LIMIT * 2 + 1)]
    job_id = post_bulk(
        client, writer, action="add_tags", ids=customers, tag_ids=[new_tag()]
    ).get_json()["id"]
    settings = dataclasses.replace(customers_settings, broker_url=broker_urls("customers"))
    worker = build_worker(settings)
    worker.start()
    try:
        job = wait_until(
            lambda: (found := job_of(client, writer, job_id))["status"] == "done" and found,
            timeout=20,
        )
    finally:
        worker.stop()

    assert (job["processed"], job["changed"]) == (7, 7)


def test_an_unknown_job_is_404(client: FlaskClient, reader: dict[str, str]) -> None:
    response = client.get(f"/customers/bulk/{uuid.uuid4()}", headers=reader)

    assert response.status_code == 404


def test_reading_a_job_needs_customers_read(
    client: FlaskClient, make_token: Callable[..., dict[str, str]]
) -> None:
    response = client.get(f"/customers/bulk/{uuid.uuid4()}", headers=make_token("tags:write"))

    assert response.status_code == 403


def test_a_filter_job_acts_on_whom_the_filter_matched_when_it_started(
    app: Flask,
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
) -> None:
    tag = new_tag("Lyon campaign")
    lyon = [add_customer(address_city="Lyon") for _ in range(LIMIT + 2)]
    response = post_bulk(client, writer, action="add_tags", filter={"city": "Lyon"}, tag_ids=[tag])
    assert response.status_code == 202
    uow, claimed = start_job(app)
    latecomer = add_customer(address_city="Lyon")  # matches only after the job started

    run_job(uow, claimed[0], claimed[1], LIMIT)

    job = job_of(client, writer, response.get_json()["id"])
    assert (job["status"], job["matched"], job["processed"]) == ("done", LIMIT + 2, LIMIT + 2)
    assert all(tags_of(customer) == {tag} for customer in lyon)
    assert tags_of(latecomer) == set()


def test_a_chunk_cut_off_from_the_database_is_run_again_and_the_job_finishes(
    app: Flask,
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    tag = new_tag("Resilient")
    customers = [add_customer() for _ in range(LIMIT + 2)]
    response = post_bulk(client, writer, action="add_tags", ids=customers, tag_ids=[tag])
    uow, claimed = start_job(app)
    # The database drops every connection (a restart) between two chunks.
    assert cut_database_sessions(app.extensions["crm"].settings.database_url) >= 1

    run_job(uow, claimed[0], claimed[1], LIMIT)

    job = job_of(client, writer, response.get_json()["id"])
    assert (job["status"], job["processed"], job["changed"]) == ("done", LIMIT + 2, LIMIT + 2)
    assert all(tags_of(customer) == {tag} for customer in customers)
    assert len(outbox("customer.tagged")) == LIMIT + 2


def test_a_job_failed_by_an_internal_error_shows_a_generic_message_and_logs_the_details(
    app: Flask,
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    caplog: pytest.LogCaptureFixture,
) -> None:
    customers = [add_customer(status="lead") for _ in range(LIMIT + 2)]
    response = post_bulk(client, writer, action="set_status", ids=customers, status="vip")
    engine = app.extensions["crm"].engine
    # A database error whose text carries SQL and data, as a real one does.
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE FUNCTION refuse_vip() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                " RAISE EXCEPTION 'secret detail for %', NEW.email; END $$"
            )
        )
        connection.execute(
            text(
                "CREATE TRIGGER refuse_vip BEFORE UPDATE ON customers FOR EACH ROW"
                " WHEN (NEW.status = 'vip') EXECUTE FUNCTION refuse_vip()"
            )
        )
    try:
        run_jobs(app)
    finally:
        with engine.begin() as connection:
            connection.execute(text("DROP TRIGGER refuse_vip ON customers"))
            connection.execute(text("DROP FUNCTION refuse_vip()"))

    job = job_of(client, writer, response.get_json()["id"])
    assert job["status"] == "failed"
    assert job["error_id"] and job["error_id"] in job["error"]
    for leak in ("secret", "SQL", "UPDATE", "refuse_vip", "@example.com", "psycopg", "Raise"):
        assert leak not in job["error"]
    assert "after 0 customers processed (0 changed)" in job["error"]
    [record] = [r for r in caplog.records if r.getMessage() == "bulk job failed"]
    assert record.__dict__["error_id"] == job["error_id"]
    assert record.exc_info is not None and "secret detail" in str(record.exc_info[1])
