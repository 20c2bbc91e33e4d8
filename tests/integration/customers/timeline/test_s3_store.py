"""Attachments in an S3-compatible store, when one is configured: against a real S3 HTTP server
on this machine (moto's server mode, spoken to over HTTP by boto3, as MinIO or AWS would be)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from flask import Flask
from flask.testing import FlaskClient
from moto.server import ThreadedMotoServer

from services.customers.timeline import attachments
from services.customers.timeline.attachments import sweep_orphans
from services.customers.timeline.config import TimelineConfig
from services.customers.timeline.stores import S3Store, attachment_store
from shared.settings import Settings
from tests.integration.customers.conftest import closed_port
from tests.integration.customers.timeline.test_attachments import PDF, PNG, upload

pytestmark = pytest.mark.needs_postgres

BUCKET = "crm-attachments"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A local S3-compatible server, its bucket created."""
    port = closed_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-3",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
    )
    yield endpoint
    server.stop()


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment that puts attachments in the bucket (a prefix of this test's own)."""
    env = {
        "CRM_ATTACHMENTS_S3_ENDPOINT": s3_endpoint,
        "CRM_ATTACHMENTS_S3_BUCKET": BUCKET,
        "CRM_ATTACHMENTS_S3_REGION": "eu-west-3",
        "CRM_ATTACHMENTS_S3_ACCESS_KEY_ID": "test",
        "CRM_ATTACHMENTS_S3_SECRET_ACCESS_KEY": "test",
        "CRM_ATTACHMENTS_S3_PREFIX": f"test-{uuid.uuid4().hex[:8]}/",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def customers_settings(pg_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    settings = pg_settings("customers", service_urls={"tags": f"http://127.0.0.1:{closed_port()}"})
    return dataclasses.replace(settings, data_dir=tmp_path)


@pytest.fixture
def store(s3_env: dict[str, str], customers_settings: Settings) -> S3Store:
    found = attachment_store(customers_settings, TimelineConfig.from_env(s3_env))
    assert isinstance(found, S3Store)
    return found


@pytest.fixture
def deleter(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_token("customers:read", "customers:write", "customers:delete")


def keys(store: S3Store) -> list[str]:
    listed = store.client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_attachments_go_to_the_bucket_and_come_back_as_downloads(
    store: S3Store,
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    tmp_path: Path,
) -> None:
    customer = add_customer()
    entry = client.post(
        f"/customers/{customer}/timeline", json={"title": "Visit"}, headers=writer
    ).get_json()["id"]
    url = f"/customers/{customer}/timeline/{entry}/attachments"

    answer = upload(client, writer, url, PDF, "devis.pdf")

    assert answer.status_code == 201, answer.get_json()
    attachment = answer.get_json()["id"]
    assert keys(store) == [f"{store.prefix}{attachment}"]
    head = store.client.head_object(Bucket=store.bucket, Key=f"{store.prefix}{attachment}")
    assert head["ContentType"] == "application/pdf"
    assert not (tmp_path / "attachments").exists()  # nothing on the local disk
    served = client.get(f"{url}/{attachment}", headers=writer)
    assert served.status_code == 200 and served.data == PDF
    assert served.headers["Content-Disposition"].startswith("attachment;")
    assert served.headers["X-Content-Type-Options"] == "nosniff"


def test_merge_carries_them_and_deleting_the_customer_deletes_them_in_the_bucket(
    app: Flask,
    store: S3Store,
    client: FlaskClient,
    deleter: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    duplicate, survivor, other = add_customer(), add_customer(), add_customer()
    uploaded: dict[uuid.UUID, Any] = {}
    for customer in (duplicate, other):
        entry = client.post(
            f"/customers/{customer}/timeline", json={"title": "Visit"}, headers=deleter
        ).get_json()["id"]
        url = f"/customers/{customer}/timeline/{entry}/attachments"
        uploaded[customer] = (entry, upload(client, deleter, url, PNG, "a.png").get_json()["id"])
    monkeypatch.setattr(attachments, "SWEEP_GRACE_SECONDS", -1.0)
    sessions = app.extensions["crm"].session_factory

    client.post(
        f"/customers/{survivor}/merge", json={"duplicate_id": str(duplicate)}, headers=deleter
    )

    entry, attachment = uploaded[duplicate]
    moved = f"/customers/{survivor}/timeline/{entry}/attachments/{attachment}"
    assert client.get(moved, headers=deleter).data == PNG
    assert sweep_orphans(sessions, store) == 0
    assert len(keys(store)) == 2

    assert client.delete(f"/customers/{survivor}", headers=deleter).status_code == 204
    assert sweep_orphans(sessions, store) == 1

    assert keys(store) == [f"{store.prefix}{uploaded[other][1]}"]
    assert client.get(moved, headers=deleter).status_code == 404
