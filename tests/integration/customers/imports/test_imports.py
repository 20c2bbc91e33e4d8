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

from services.customers.imports import usecases
from services.customers.imports.models import ImportJob
from services.customers.models import Customer, CustomerTag
from shared.db import utcnow

Headers = dict[str, str]


class FakeTags:
    """The tags service as the import sees it: get-or-create by name, each call recorded."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.tags: dict[str, dict[str, Any]] = {}

    def ensure(self, names: list[str]) -> list[dict[str, Any]]:
        self.calls.append(list(names))
        for name in names:
            self.tags.setdefault(
                name.casefold(),
                {
                    "id": uuid.uuid4(),
                    "name": name,
                    "color": "#123456",
                    "order": None,
                    "is_fixed": False,
                    "updated_at": utcnow(),
                },
            )
        return [self.tags[name.casefold()] for name in names]


@pytest.fixture
def importer(make_token: Callable[..., Headers]) -> Headers:
    return make_token("customers:read", "customers:import")


@pytest.fixture
def tags() -> FakeTags:
    return FakeTags()


@pytest.fixture
def work(app: Flask, tags: FakeTags) -> Callable[..., int]:
    """Run the worker's import job now, as the customers worker does."""

    def _work(chunk_size: int = 2) -> int:
        return usecases.run_queued_imports(
            app.extensions["crm"].uow, chunk_size, lambda: tags, "FR"
        )

    return _work


def upload(client: FlaskClient, headers: Headers, data: bytes, query: str = "") -> Any:
    return client.post(
        f"/customers/imports{query}", data=data, headers={**headers, "Content-Type": "text/csv"}
    )


def customers(app: Flask) -> list[Customer]:
    with app.extensions["crm"].session_factory() as session:
        return list(session.scalars(select(Customer).order_by(Customer.created_at)))


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
    tags: FakeTags,
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

    rows = {c.email: c for c in customers(app)}
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
    client: FlaskClient,
    importer: Headers,
    work: Callable[..., int],
    tags: FakeTags,
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    job_id = upload(client, importer, GOOD_AND_BAD, "?dry_run=true").json["id"]
    work()
    job = client.get(f"/customers/imports/{job_id}", headers=importer).json
    assert (job["status"], job["accepted"], job["rejected"]) == ("done", 2, 5)
    assert customers(app) == []
    assert outbox() == []
    assert tags.calls == []


def test_an_email_already_known_is_skipped_by_default(
    app: Flask, client: FlaskClient, importer: Headers, work: Callable[..., int]
) -> None:
    upload(client, importer, b"Nom,Email\nOne,one@example.com\n")
    work()
    job_id = upload(
        client, importer, b"Nom,Email\nAgain,ONE@example.com\nTwo,two@example.com\n"
    ).json["id"]
    work()
    job = client.get(f"/customers/imports/{job_id}", headers=importer).json
    assert (job["accepted"], job["skipped"], job["rejected"]) == (1, 1, 0)
    assert sorted(c.last_name for c in customers(app) if c.last_name) == ["One", "Two"]


def test_a_worker_that_died_mid_import_resumes_without_doubling_a_row(
    app: Flask, client: FlaskClient, importer: Headers, work: Callable[..., int], tags: FakeTags
) -> None:
    data = b"Nom,Email,Tags\n" + b"".join(
        f"N{i},n{i}@example.com,t{i % 2}\n".encode() for i in range(7)
    )
    job_id = uuid.UUID(upload(client, importer, data).json["id"])
    uow = app.extensions["crm"].uow
    # A worker claims it, prepares it, commits one chunk of 3 rows, and dies.
    claimed = usecases.claim_next_import(uow())
    assert claimed is not None
    usecases._prepare(uow, job_id, claimed[1], tags)
    with app.extensions["crm"].session_factory() as session:
        encoding = session.get(ImportJob, job_id).encoding  # type: ignore[union-attr]
    rows = usecases.CsvFile(usecases._file(uow.session_factory, job_id), encoding).rows()
    assert usecases._run_chunk(uow, job_id, claimed[1], [next(rows) for _ in range(3)], "FR")
    assert len(customers(app)) == 3
    # Not abandoned yet: nobody takes it over.
    assert work() == 0
    with app.extensions["crm"].session_factory() as session:
        job = session.get(ImportJob, job_id)
        assert job is not None
        stale = (utcnow() - timedelta(minutes=5)).isoformat()
        job.params = {**job.params, "progress": {**job.params["progress"], "heartbeat_at": stale}}
        session.commit()
    assert work() == 1
    job_answer = client.get(f"/customers/imports/{job_id}", headers=importer).json
    assert (job_answer["status"], job_answer["accepted"], job_answer["rejected"]) == ("done", 7, 0)
    assert sorted(c.last_name or "" for c in customers(app)) == [f"N{i}" for i in range(7)]
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
