"""A customer token passes no staff endpoint of registration; the service runs on SQLite too."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path

from flask.testing import FlaskClient

from services.registration.app import create_app
from shared.migrations import migrate
from tests.conftest import settings_for
from tests.integration.registration.conftest import PASSWORD


def test_a_customer_token_is_refused_on_every_staff_endpoint(
    client: FlaskClient, make_token: Callable[..., dict[str, str]]
) -> None:
    own = str(uuid.uuid4())
    customer = make_token(kind="customer", customer_id=own, subject=f"customer:{own}")
    spec = client.get("/registration/openapi.json").get_json()
    checked = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):  # path-level parameters
                continue
            scopes = [s.get("bearerAuth") for s in operation.get("security", [])]
            if not scopes or not scopes[0]:  # public, or a customer's own endpoint
                continue
            url = re.sub(r"\{customer_id\}", own, path)
            url = re.sub(r"\{device_id\}", "d1", url)
            answer = client.open(url, method=method.upper(), headers=customer, json={})
            assert answer.status_code == 403, (method, path, answer.status_code)
            checked += 1
    assert checked >= 12


def test_sign_up_and_login_work_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registration'}.sqlite3"
    settings = settings_for("registration", database_urls={"registration": url})
    migrate(settings)
    app = create_app(settings)
    client = app.test_client()
    body = {"email": "ada@example.com", "password": PASSWORD, "kind": "individual"}
    signed = client.post("/registration/signups", json={**body, "last_name": "Lovelace"})
    assert signed.status_code == 202 and signed.get_json()["status"] == "pending_email"
    login = {"email": body["email"], "password": PASSWORD, "device_id": "d"}
    assert client.post("/registration/login", json=login).status_code == 401
    app.extensions["crm"].engine.dispose()
