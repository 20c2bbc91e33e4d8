"""Attachments of custom entries: size and content checks, served as downloads, gone with
their customer."""

from __future__ import annotations

import dataclasses
import io
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.customers.timeline import attachments
from services.customers.timeline.attachments import sweep_orphans
from services.customers.timeline.stores import DirectoryStore
from shared.settings import Settings
from tests.integration.customers.conftest import closed_port
from tests.integration.customers.timeline.conftest import purchase

pytestmark = pytest.mark.needs_postgres

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def customers_settings(pg_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    settings = pg_settings("customers", service_urls={"tags": f"http://127.0.0.1:{closed_port()}"})
    return dataclasses.replace(settings, data_dir=tmp_path)


@pytest.fixture
def deleter(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_token("customers:read", "customers:write", "customers:delete")


@pytest.fixture
def custom_entry(
    client: FlaskClient, writer: dict[str, str], add_customer: Callable[..., uuid.UUID]
) -> Callable[..., tuple[uuid.UUID, str]]:
    def _make() -> tuple[uuid.UUID, str]:
        customer = add_customer()
        answer = client.post(
            f"/customers/{customer}/timeline", json={"title": "Visit"}, headers=writer
        )
        return customer, answer.get_json()["id"]

    return _make


def upload(client: FlaskClient, headers: dict[str, str], url: str, data: bytes, name: str) -> Any:
    return client.post(
        url,
        data={"file": (io.BytesIO(data), name, "text/html")},
        content_type="multipart/form-data",
        headers=headers,
    )


def test_a_file_is_known_by_its_content_and_served_back_as_a_download(
    client: FlaskClient,
    writer: dict[str, str],
    reader: dict[str, str],
    custom_entry: Callable[..., tuple[uuid.UUID, str]],
    timeline: Callable[..., list[dict[str, Any]]],
) -> None:
    customer, entry = custom_entry()
    url = f"/customers/{customer}/timeline/{entry}/attachments"

    pdf = upload(client, writer, url, PDF, "../../etc/quote.exe")
    page = upload(client, writer, url, b"<html><script>alert(1)</script></html>", "x.html")

    assert pdf.status_code == 201, pdf.get_json()
    assert pdf.get_json()["content_type"] == "application/pdf"
    assert pdf.get_json()["filename"] == "quote.exe"
    assert pdf.get_json()["size"] == len(PDF)
    served = client.get(f"{url}/{pdf.get_json()['id']}", headers=reader)
    assert served.status_code == 200
    assert served.data == PDF
    assert served.mimetype == "application/pdf"
    assert served.headers["Content-Disposition"].startswith("attachment;")
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    html = client.get(f"{url}/{page.get_json()['id']}", headers=reader)
    assert html.mimetype == "text/plain" and html.headers["Content-Disposition"].startswith(
        "attachment"
    )
    [shown] = timeline(customer)
    assert [a["id"] for a in shown["attachments"]] == [pdf.get_json()["id"], page.get_json()["id"]]


def test_too_large_unknown_content_or_an_events_entry_is_refused(
    monkeypatch: pytest.MonkeyPatch,
    client: FlaskClient,
    writer: dict[str, str],
    custom_entry: Callable[..., tuple[uuid.UUID, str]],
    deliver: Callable[..., None],
    timeline: Callable[..., list[dict[str, Any]]],
    tmp_path: Path,
) -> None:
    customer, entry = custom_entry()
    url = f"/customers/{customer}/timeline/{entry}/attachments"
    monkeypatch.setattr(attachments, "MAX_BYTES", 1000)

    assert upload(client, writer, url, b"a" * 1001, "big.txt").status_code == 413
    assert upload(client, writer, url, b"a" * 1000, "ok.txt").status_code == 201
    assert upload(client, writer, url, b"MZ\x90\x00\x03\x00\x00\x00", "x.pdf").status_code == 415
    assert upload(client, writer, url, b"\xff\xfe\x00bad", "x.txt").status_code == 415
    deliver(purchase(customer, "1.00"))
    event_entry = next(e for e in timeline(customer) if e["type"] != "custom")
    event_url = f"/customers/{customer}/timeline/{event_entry['id']}/attachments"
    assert upload(client, writer, event_url, PDF, "x.pdf").status_code == 409
    assert (
        upload(
            client, writer, f"/customers/{customer}/timeline/{uuid.uuid4()}/attachments", PDF, "x"
        ).status_code
        == 404
    )
    assert (
        upload(
            client, writer, f"/customers/{uuid.uuid4()}/timeline/{entry}/attachments", PDF, "x"
        ).status_code
        == 404
    )
    assert len(list((tmp_path / "attachments" / "customers").iterdir())) == 1


def test_merge_carries_attachments_and_delete_removes_them_bytes_included(
    app: Flask,
    monkeypatch: pytest.MonkeyPatch,
    client: FlaskClient,
    deleter: dict[str, str],
    custom_entry: Callable[..., tuple[uuid.UUID, str]],
    add_customer: Callable[..., uuid.UUID],
    timeline: Callable[..., list[dict[str, Any]]],
    tmp_path: Path,
) -> None:
    duplicate, entry = custom_entry()
    url = f"/customers/{duplicate}/timeline/{entry}/attachments"
    attachment = upload(client, deleter, url, PNG, "a.png").get_json()["id"]
    survivor = add_customer()
    store = DirectoryStore.of(app.extensions["crm"].settings)
    monkeypatch.setattr(attachments, "SWEEP_GRACE_SECONDS", -1.0)

    client.post(
        f"/customers/{survivor}/merge", json={"duplicate_id": str(duplicate)}, headers=deleter
    )

    moved = f"/customers/{survivor}/timeline/{entry}/attachments/{attachment}"
    assert client.get(moved, headers=deleter).data == PNG
    assert [a["id"] for a in timeline(survivor)[0]["attachments"]] == [attachment]
    assert sweep_orphans(app.extensions["crm"].session_factory, store) == 0

    assert client.delete(f"/customers/{survivor}", headers=deleter).status_code == 204

    assert sweep_orphans(app.extensions["crm"].session_factory, store) == 1
    assert not store.path(uuid.UUID(attachment)).exists()
    assert list((tmp_path / "attachments" / "customers").iterdir()) == []
