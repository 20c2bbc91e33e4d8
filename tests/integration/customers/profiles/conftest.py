"""Fixtures of the profiles tests: the customers app on PostgreSQL, tokens, rows and the outbox."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from services.customers.models import (
    Avatar,
    ConsentRecord,
    Customer,
    CustomerTag,
    NewsletterSubscription,
    Phone,
    TagView,
)
from shared.db import OutboxMessage, utcnow

COUNTED = {
    "customers": Customer,
    "phones": Phone,
    "newsletter_lists": NewsletterSubscription,
    "tags": CustomerTag,
    "consent_records": ConsentRecord,
    "avatars": Avatar,
    "outbox": OutboxMessage,
}


@pytest.fixture
def writer(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Headers of a staff member who may read and change customers, but not delete them."""
    return make_token("customers:read", "customers:write", subject="staff:alice")


@pytest.fixture
def admin(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Headers of a staff member who may also delete (and so merge) customers."""
    return make_token("customers:read", "customers:write", "customers:delete")


@pytest.fixture
def new_customer(client: FlaskClient, writer: dict[str, str]) -> Callable[..., dict[str, Any]]:
    """Creates a customer through the API and returns its JSON; defaults to Jeanne Martin."""

    def _create(**fields: Any) -> dict[str, Any]:
        body = {"kind": "individual", "first_name": "Jeanne", "last_name": "Martin", **fields}
        response = client.post("/customers", json=body, headers=writer)
        assert response.status_code == 201, response.get_json()
        return dict(response.get_json())

    return _create


@pytest.fixture
def counts(app: Flask) -> Callable[[], dict[str, int]]:
    """How many rows each profile table and the outbox hold (to show that nothing changed)."""

    def _counts() -> dict[str, int]:
        with app.extensions["crm"].session_factory() as session:
            return {
                name: session.scalar(select(func.count()).select_from(model)) or 0
                for name, model in COUNTED.items()
            }

    return _counts


@pytest.fixture
def stored(app: Flask) -> Callable[[str], Customer | None]:
    """The customer's row as stored (phones and lists loaded), or None."""

    def _get(customer_id: str) -> Customer | None:
        with app.extensions["crm"].session_factory() as session:
            return session.get(Customer, uuid.UUID(customer_id))

    return _get


@pytest.fixture
def consent_records(app: Flask) -> Callable[[str], list[ConsentRecord]]:
    """The consent records of a customer, by channel then time."""

    def _records(customer_id: str) -> list[ConsentRecord]:
        with app.extensions["crm"].session_factory() as session:
            stmt = (
                select(ConsentRecord)
                .where(ConsentRecord.customer_id == uuid.UUID(customer_id))
                .order_by(ConsentRecord.channel, ConsentRecord.id)
            )
            return list(session.scalars(stmt))

    return _records


@pytest.fixture
def tag(app: Flask) -> Callable[..., uuid.UUID]:
    """A tag in the local catalogue (as `tag.created` leaves it); its id."""

    def _tag(name: str, order: int | None = None, color: str = "#123456") -> uuid.UUID:
        tag_id = uuid.uuid4()
        with app.extensions["crm"].session_factory() as session:
            session.add(
                TagView(id=tag_id, name=name, color=color, order=order, updated_at=utcnow())
            )
            session.commit()
        return tag_id

    return _tag


@pytest.fixture
def apply_tag(app: Flask) -> Callable[[str, uuid.UUID], None]:
    """Puts a tag on a customer, as the tagging feature stores it."""

    def _apply(customer_id: str, tag_id: uuid.UUID) -> None:
        with app.extensions["crm"].session_factory() as session:
            session.add(CustomerTag(customer_id=uuid.UUID(customer_id), tag_id=tag_id))
            session.commit()

    return _apply
