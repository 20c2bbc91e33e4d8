"""notifications asks customers over HTTP about a customer its projection does not know yet."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from services.customers.app import create_app as create_customers_app
from services.customers.models import DEFAULT_STATUSES, Status
from services.notifications.customers_client import RemoteCustomers
from shared.auth import issue_token
from shared.service_client import ServiceUnavailable
from tests.conftest import settings_for

pytestmark = pytest.mark.needs_postgres


@pytest.fixture
def customers_url(pg_settings) -> Iterator[str]:
    """The real customers app on its PostgreSQL test database, served over HTTP."""
    app = create_customers_app(pg_settings("customers"))
    with app.extensions["crm"].session_factory() as session:  # what emptying the tables removed
        session.add_all(
            Status(key=key, label=label, is_default=True, position=position)
            for key, label, position in DEFAULT_STATUSES
        )
        session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)
    app.extensions["crm"].engine.dispose()


def lookup(url: str) -> RemoteCustomers:
    return RemoteCustomers(settings_for("notifications", service_urls={"customers": url}))


def test_a_customer_is_read_with_its_contact_fields(customers_url):
    import requests

    token = issue_token(
        settings_for("customers"), "staff:test", ["customers:write"], audience=["customers"]
    )
    created = requests.post(
        f"{customers_url}/customers",
        json={
            "kind": "individual",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.com",
            "language": "fr_BE",
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text

    contact = lookup(customers_url).contact(uuid.UUID(created.json()["id"]))

    assert contact is not None
    assert (contact["email"], contact["first_name"], contact["language"]) == (
        "ada@example.com",
        "Ada",
        "fr_BE",
    )
    assert contact["email_consent"] is False  # no consent recorded on creation


def test_a_customer_customers_does_not_know_is_none(customers_url):
    assert lookup(customers_url).contact(uuid.uuid4()) is None


def test_customers_away_is_an_error_so_the_delivery_waits():
    with pytest.raises(ServiceUnavailable):
        lookup("http://127.0.0.1:9").contact(uuid.uuid4())
