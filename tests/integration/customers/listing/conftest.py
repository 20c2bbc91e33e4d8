"""Fixtures of the customer list tests: the app on PostgreSQL, customers and tags put in as rows."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from services.customers.models import (
    Customer,
    CustomerTag,
    NewsletterSubscription,
    Phone,
    Segment,
    TagView,
)
from services.customers.profiles.usecases import refresh_search_fields
from shared.db import OutboxMessage, utcnow

_clock = {"now": utcnow() - timedelta(days=365)}


def _next_created_at() -> datetime:
    # Distinct, increasing creation times, whatever the speed of the machine.
    _clock["now"] += timedelta(milliseconds=1)
    return _clock["now"]


@pytest.fixture
def add_customer(app: Flask) -> Callable[..., uuid.UUID]:
    """Puts a customer in the database; `phones`, `lists`, `tags` and columns as keywords."""

    def _add(
        *,
        phones: tuple[str, ...] = (),
        lists: tuple[str, ...] = (),
        tags: tuple[uuid.UUID, ...] = (),
        **columns: Any,
    ) -> uuid.UUID:
        columns.setdefault("kind", "individual")
        columns.setdefault("created_at", _next_created_at())
        columns.setdefault("updated_at", columns["created_at"])
        if "email" in columns and columns["email"]:
            columns.setdefault("email_key", columns["email"].lower())
        customer = Customer(id=uuid.uuid4(), **columns)
        customer.phones = [
            Phone(number=number, position=position) for position, number in enumerate(phones)
        ]
        customer.newsletter_lists = [NewsletterSubscription(list_name=name) for name in lists]
        customer.tag_links = [CustomerTag(tag_id=tag_id, created_at=utcnow()) for tag_id in tags]
        refresh_search_fields(customer)  # sort_name and search_text, as profiles keeps them
        with app.extensions["crm"].session_factory() as session:
            session.add(customer)
            session.commit()
        return customer.id

    return _add


@pytest.fixture
def add_tag(app: Flask) -> Callable[..., uuid.UUID]:
    """Puts a tag in the local tag catalogue; its id."""

    def _add(name: str, order: int | None = None, color: str = "#123456") -> uuid.UUID:
        tag = TagView(
            id=uuid.uuid4(),
            name=name,
            color=color,
            order=order,
            is_fixed=False,
            updated_at=utcnow(),
        )
        with app.extensions["crm"].session_factory() as session:
            session.add(tag)
            session.commit()
        return tag.id

    return _add


@pytest.fixture
def list_ids(client: FlaskClient, reader: dict[str, str]) -> Callable[..., list[str]]:
    """The ids `GET /customers` answers for query parameters (one page; 200 expected)."""

    def _list(query: Any = None, **params: Any) -> list[str]:
        response = client.get("/customers", query_string=query or params, headers=reader)
        assert response.status_code == 200, response.get_json()
        return [item["id"] for item in response.get_json()["items"]]

    return _list


@pytest.fixture
def database_state(app: Flask) -> Callable[[], tuple[int, int, int]]:
    """How many customers, segments and outbox rows the database holds (to prove no change)."""

    def _state() -> tuple[int, int, int]:
        with app.extensions["crm"].session_factory() as session:
            return (
                session.scalar(select(func.count()).select_from(Customer)) or 0,
                session.scalar(select(func.count()).select_from(Segment)) or 0,
                session.scalar(select(func.count()).select_from(OutboxMessage)) or 0,
            )

    return _state
