"""The customers→tags service token, tried against the real apps: good for `POST /tags/ensure`
and nothing else."""

from __future__ import annotations

import uuid

import pytest

from services.customers.app import create_app as create_customers_app
from services.customers.tagging.tags_client import RemoteTagsCatalogue
from services.tags.app import create_app as create_tags_app
from shared.service_client import ServiceClient
from tests.conftest import bearer

pytestmark = pytest.mark.needs_postgres


@pytest.fixture
def service_token(pg_settings) -> dict[str, str]:
    """What customers sends to tags when a tag is added by name."""
    client = RemoteTagsCatalogue(pg_settings("customers")).client
    return {"Authorization": f"Bearer {client._token()}"}


def every_tags_client_token(settings) -> list[dict[str, str]]:
    """The tokens of every client customers' tags catalogue holds (one per kind of call)."""
    catalogue = RemoteTagsCatalogue(settings)
    clients = [value for value in vars(catalogue).values() if isinstance(value, ServiceClient)]
    assert clients
    return [{"Authorization": f"Bearer {client._token()}"} for client in clients]


def test_the_tags_service_token_creates_tags_and_reads_nothing(pg_settings, service_token):
    app = create_tags_app(pg_settings("tags"))
    try:
        client = app.test_client()
        ensured = client.post(
            "/tags/ensure", json={"names": [f"t-{uuid.uuid4().hex[:8]}"]}, headers=service_token
        )
        assert ensured.status_code == 200, ensured.get_json()
        assert client.get("/tags", headers=service_token).status_code == 403
    finally:
        app.extensions["crm"].engine.dispose()


def test_no_tags_service_token_is_accepted_by_customers(pg_settings):
    app = create_customers_app(pg_settings("customers"))
    try:
        for token in every_tags_client_token(pg_settings("customers")):
            response = app.test_client().get("/customers", headers=token)
            assert response.status_code == 401
            assert response.get_json()["message"] == "invalid or expired token"
    finally:
        app.extensions["crm"].engine.dispose()


def test_a_customer_token_reads_no_customer_list(pg_settings):
    app = create_customers_app(pg_settings("customers"))
    try:
        customer = bearer(
            "customers:read",
            kind="customer",
            customer_id=str(uuid.uuid4()),
            audience=("customers",),
        )
        response = app.test_client().get("/customers", headers=customer)
        assert response.status_code == 403
        assert (
            app.test_client().get("/customers", headers=bearer("customers:read")).status_code == 200
        )
    finally:
        app.extensions["crm"].engine.dispose()
