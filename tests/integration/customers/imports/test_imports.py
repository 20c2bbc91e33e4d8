"""CSV imports over PostgreSQL: the API, the worker's job, tags, duplicates, resuming."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from services.customers.imports import runner, writing
from services.customers.imports.models import ImportJob
from services.customers.models import CustomerTag
from shared.db import utcnow
from tests.integration.customers.imports.conftest import (
    TAGS_DOWN,
    CountingCatalogue,
    Headers,
    stored_customers,
    upload,
)

pytestmark = pytest.mark.needs_postgres


GOOD_AND_BAD = (
    "\ufeffPrénom;Nom;Email;Téléphone;Langue;Tags;notes\r\n"
    "Élodie;Dupré;elodie@example.com;06 12 34 56 78;fr;VIP|Lyon;=1+2\r\n"
    "Bad;Mail;not-an-email;;;;\r\n"
    "Dup;Licate;ELODIE@example.com;;;;\r\n"
    "Lang;Unknown;lang@example.com;;xx_YY;;\r\n"
    "Short;Row\r\n"
    "Paul;Martin;paul@example.com;;en;vip;\r\n"
    ";;nobody@example.com;;;;\r\n"
).encode()


def test_an_import_accepts_good_rows_and_reports_bad_ones(
    app: Flask,
    client: FlaskClient,
    importer: Headers,
    work: Callable[..., int],
    tags: CountingCatalogue,
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    answer = upload(client, importer, GOOD_AND_BAD)
    assert answer.status_code == 202, answer.json
    job_id = answer.json["id"]
    assert answer.json["status"] == "queued"
    assert work() == 1

    job = client.get(f"/customers/imports/{job_id}", headers=importer).json
    assert (job["status"], job["total"], job["processed"]) == ("done", 7, 7)
    assert (job["accepted"], job["rejected"]) == (2, 5)
    errors = {(error["row"], error["field"]) for error in job["errors"]}
    assert errors == {
        (2, "email"),
        (3, "email"),
        (4, "language"),
        (5, None),
        (7, "first_name"),
        (7, "last_name"),
    }
    assert "already on row 1" in next(e["message"] for e in job["errors"] if e["row"] == 3)

    rows = {c.email: c for c in stored_customers(app)}
    assert set(rows) == {"elodie@example.com", "paul@example.com"}
    assert rows["elodie@example.com"].notes == "=1+2"
    assert rows["elodie@example.com"].phones[0].number == "+33612345678"
    # No consent column: every channel off, as POST /customers without `consent`.
    assert not rows["elodie@example.com"].phones[0].sms
    assert len(outbox("customer.created")) == 2
    # The tags: asked once for the whole file (VIP and vip are one name), linked to each row.
    assert tags.calls == [["VIP", "Lyon"]]
    with app.extensions["crm"].session_factory() as session:
        links = session.scalar(select(func.count()).select_from(CustomerTag))
    assert links == 3
    assert len(outbox("customer.tagged")) == 3


def test_errors_csv_gives_the_rejected_rows_back_with_their_reason(
    client: FlaskClient, importer: Headers, work: Callable[..., int]
) -> None:
    job_id = upload(client, importer, GOOD_AND_BAD).json["id"]
    work()
    answer = client.get(f"/customers/imports/{job_id}/errors.csv", headers=importer)
    assert answer.status_code == 200
    lines = answer.get_data(as_text=True).splitlines()
    assert lines[0] == "Prénom,Nom,Email,Téléphone,Langue,Tags,notes,reason"
    assert lines[1].startswith("Bad,Mail,not-an-email,,,,,email: not a valid email address")
    assert len(lines) == 1 + 5


def test_a_dry_run_validates_and_writes_nothing(
    app: Flask,
    run_import: Callable[..., dict[str, Any]],
    tags: CountingCatalogue,
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    job = run_import(GOOD_AND_BAD, "?dry_run=true")
    assert (job["status"], job["accepted"], job["rejected"]) == ("done", 2, 5)
    assert stored_customers(app) == []
    assert outbox() == []
    assert tags.calls == []


def test_an_email_already_known_is_skipped_by_default(
    app: Flask, run_import: Callable[..., dict[str, Any]]
) -> None:
    run_import(b"Nom,Email\nOne,one@example.com\n")
    job = run_import(b"Nom,Email\nAgain,ONE@example.com\nTwo,two@example.com\n")
    assert (job["accepted"], job["skipped"], job["rejected"]) == (1, 1, 0)
    assert sorted(c.last_name for c in stored_customers(app) if c.last_name) == ["One", "Two"]
    one = next(c for c in stored_customers(app) if c.last_name == "One")
    assert job["known_rows"] == [
        {"row": 1, "outcome": "skipped", "customer_id": str(one.id), "changed": None}
    ]


def test_a_worker_that_died_mid_import_resumes_without_doubling_a_row(
    app: Flask,
    client: FlaskClient,
    importer: Headers,
    work: Callable[..., int],
    tags: CountingCatalogue,
    outbox: Callable[..., list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = b"Nom,Email,Tags\n" + b"".join(
        f"N{i},n{i}@example.com,t{i % 2}\n".encode() for i in range(7)
    )
    job_id = uuid.UUID(upload(client, importer, data).json["id"])
    real_write = writing.write_new_customers
    calls = []

    def dies_in_its_second_chunk(*args: Any) -> set[int]:
        written = real_write(*args)
        calls.append(written)
        if len(calls) == 2:  # the chunk's rows are written, not committed: the worker dies
            raise SystemExit("killed")
        return written

    monkeypatch.setattr(runner, "write_new_customers", dies_in_its_second_chunk)
    with pytest.raises(SystemExit):
        work(3)
    # The first chunk (3 rows) is committed; the second is gone with the worker.
    assert sorted(c.last_name or "" for c in stored_customers(app)) == ["N0", "N1", "N2"]
    job = client.get(f"/customers/imports/{job_id}", headers=importer).json
    assert (job["status"], job["processed"], job["accepted"]) == ("running", 3, 3)
    monkeypatch.setattr(runner, "write_new_customers", real_write)
    # Not abandoned yet: nobody takes it over.
    assert work(3) == 0
    with app.extensions["crm"].session_factory() as session:
        row = session.get(ImportJob, job_id)
        assert row is not None
        stale = (utcnow() - timedelta(minutes=5)).isoformat()
        row.params = {**row.params, "progress": {**row.params["progress"], "heartbeat_at": stale}}
        session.commit()
    assert work(3) == 1
    job = client.get(f"/customers/imports/{job_id}", headers=importer).json
    assert (job["status"], job["total"], job["processed"]) == ("done", 7, 7)
    assert (job["accepted"], job["rejected"], job["skipped"]) == (7, 0, 0)
    assert sorted(c.last_name or "" for c in stored_customers(app)) == [f"N{i}" for i in range(7)]
    assert len(outbox("customer.created")) == 7
    assert len(outbox("customer.tagged")) == 7
    assert len(tags.calls) == 1  # the second worker did not ask again


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        (b"foo,bar\n1,2\n", "no known column"),
    ],
)
def test_what_is_no_csv_of_customers_is_a_422_at_once(
    app: Flask, client: FlaskClient, importer: Headers, data: bytes, message: str
) -> None:
    answer = upload(client, importer, data)
    assert answer.status_code == 422
    assert message in answer.json["errors"]["files"]["file"][0]
    with app.extensions["crm"].session_factory() as session:
        assert session.scalar(select(func.count()).select_from(ImportJob)) == 0


def test_a_file_over_the_limit_is_a_422(app: Flask, client: FlaskClient, importer: Headers) -> None:
    app.config["CUSTOMERS_IMPORT_MAX_BYTES"] = 100
    answer = upload(client, importer, b"Nom\n" + b"x\n" * 100)
    assert answer.status_code == 422
    assert "limit of 100 bytes" in answer.json["message"]


def test_a_file_over_the_app_wide_limit_is_accepted_by_the_imports_route(
    client: FlaskClient, importer: Headers, writer: Headers
) -> None:
    big = b"Nom,notes\n" + b"Li," + b"x" * (21 * 1024 * 1024) + b"\n"
    assert upload(client, importer, big).status_code == 202
    # Elsewhere the app's 20 MB limit still stands.
    answer = client.post(
        "/customers", data=big, headers={**writer, "Content-Type": "application/json"}
    )
    assert answer.status_code == 413


def test_a_multipart_upload_is_accepted(client: FlaskClient, importer: Headers) -> None:
    import io

    answer = client.post(
        "/customers/imports",
        data={"file": (io.BytesIO("Nom;Ville\nDurand;Zürich\n".encode("cp1252")), "c.csv")},
        headers=importer,
        content_type="multipart/form-data",
    )
    assert answer.status_code == 202, answer.json


def test_importing_needs_the_import_scope(client: FlaskClient, writer: Headers) -> None:
    assert upload(client, writer, b"Nom\nLi\n").status_code == 403
    assert client.get(f"/customers/imports/{uuid.uuid4()}", headers=writer).status_code == 403


def test_an_unknown_import_is_a_404(client: FlaskClient, importer: Headers) -> None:
    assert client.get(f"/customers/imports/{uuid.uuid4()}", headers=importer).status_code == 404


def test_imports_are_listed(client: FlaskClient, importer: Headers) -> None:
    upload(client, importer, b"Nom\nLi\n")
    items = client.get("/customers/imports", headers=importer).json["items"]
    assert [item["status"] for item in items] == ["queued"]


def test_on_duplicate_update_applies_each_row_to_the_customer_as_patch_would(
    client: FlaskClient,
    writer: Headers,
    run_import: Callable[..., dict[str, Any]],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    acme = client.post(
        "/customers",
        json={"kind": "company", "company_name": "ACME", "email": "acme@example.com"},
        headers=writer,
    ).json
    one = client.post(
        "/customers",
        json={"kind": "individual", "last_name": "One", "email": "one@example.com"},
        headers=writer,
    ).json
    data = (
        "Société,Nom,Email,Langue,Tags\n"
        "ACME SA,,ACME@example.com,fr,VIP\n"  # no kind column: ACME stays a company
        ",Uno,one@example.com,xx_YY,\n"  # refused as PATCH refuses it: nothing changes
        ",Two,two@example.com,en,\n"
    ).encode()
    job = run_import(data, "?on_duplicate=update")
    assert (job["status"], job["on_duplicate"]) == ("done", "update")
    assert (job["accepted"], job["updated"], job["skipped"], job["rejected"]) == (1, 1, 0, 1)
    assert [(e["row"], e["field"]) for e in job["errors"]] == [(2, "language")]
    assert job["known_rows"] == [
        {
            "row": 1,
            "outcome": "updated",
            "customer_id": acme["id"],
            "changed": ["company_name", "language", "email", "tags"],
        }
    ]
    after = client.get(f"/customers/{acme['id']}", headers=writer).json
    assert (after["kind"], after["company_name"], after["language"]) == ("company", "ACME SA", "fr")
    assert [tag["name"] for tag in after["tags"]] == ["VIP"]
    assert client.get(f"/customers/{one['id']}", headers=writer).json["last_name"] == "One"
    updated = outbox("customer.updated")
    assert [(e["subject"], sorted(e["data"]["changed"])) for e in updated] == [
        (acme["id"], ["company_name", "email", "language"])  # as written in the file
    ]
    assert len(outbox("customer.created")) == 3  # two by the API, one by the import


def test_the_events_of_an_import_are_those_of_post_customers(
    client: FlaskClient,
    importer: Headers,
    writer: Headers,
    work: Callable[..., int],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    upload(client, importer, "Prénom,Nom,Email,Tags\nÉlodie,Dupré,e@example.com,VIP\n".encode())
    work()
    by_api = client.post(
        "/customers",
        json={"kind": "individual", "first_name": "Élodie", "last_name": "Dupré"},
        headers=writer,
    ).json
    imported, created = outbox("customer.created")
    assert created["subject"] == by_api["id"]
    assert imported["data"]["customer"] == {**created["data"]["customer"], "email": "e@example.com"}
    assert {k: v for k, v in imported["data"].items() if k not in ("customer_id", "customer")} == {
        "kind": "individual",
        "status": "lead",
    }
    assert imported["correlationid"]
    (tagged,) = outbox("customer.tagged")
    assert (tagged["data"]["tag_name"], tagged["data"]["reason"]) == ("VIP", "import")
    assert tagged["data"]["customer_id"] == imported["subject"]


@pytest.mark.parametrize("tags_base_url", [TAGS_DOWN], indirect=True)
def test_with_the_tags_service_down_an_import_with_tags_fails_whole_and_writes_nothing(
    app: Flask,
    run_import: Callable[..., dict[str, Any]],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    data = b"Nom,Email,Tags\nLi,li@example.com,VIP\nMo,mo@example.com,\n"
    job = run_import(data)
    assert (job["status"], job["processed"], job["accepted"]) == ("failed", 0, 0)
    assert "tags" in job["error"] and "try again" in job["error"]
    assert stored_customers(app) == []
    assert outbox() == []


@pytest.mark.parametrize("tags_base_url", [TAGS_DOWN], indirect=True)
def test_with_the_tags_service_down_an_import_without_tags_goes_in(
    run_import: Callable[..., dict[str, Any]],
) -> None:
    job = run_import(b"Nom,Email\nLi,li@example.com\n")
    assert (job["status"], job["accepted"]) == ("done", 1)


def test_rows_checked_in_processes_of_their_own_give_the_same_import(
    app: Flask, run_import: Callable[..., dict[str, Any]]
) -> None:
    job = run_import(GOOD_AND_BAD, chunk_size=3, processes=2)
    assert (job["status"], job["accepted"], job["rejected"]) == ("done", 2, 5)
    assert {(e["row"], e["field"]) for e in job["errors"]} >= {(2, "email"), (4, "language")}
    rows = {c.email: c for c in stored_customers(app)}
    assert rows["elodie@example.com"].phones[0].number == "+33612345678"


def test_the_size_limit_comes_from_the_environment(
    client: FlaskClient, importer: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_CUSTOMERS_IMPORT_MAX_BYTES", "50")
    answer = upload(client, importer, b"Nom\n" + b"x\n" * 30)
    assert answer.status_code == 422
    assert "limit of 50 bytes" in answer.json["message"]
