"""Fixtures of the tagging tests: the customers app on PostgreSQL, customers and tags, the outbox,
events delivered through the real handlers, and the real tags service over HTTP."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from services.customers.handlers import SUBSCRIPTIONS
from services.customers.models import (
    BulkJob,
    Customer,
    CustomerTag,
    Status,
    TagView,
)
from services.tags.app import create_app as create_tags_app
from shared.db import OutboxMessage, utcnow
from shared.events.consumer import EventDispatcher
from shared.events.envelope import CloudEvent, make_event
from shared.events.registry import parse_event
from shared.settings import Settings
from tests.integration.customers.conftest import closed_port

Snapshot = tuple[Any, ...]


@pytest.fixture
def tags_base_url(request: pytest.FixtureRequest) -> str:
    """Where customers finds the tags service; by default nowhere (tags is down).

    `@pytest.mark.parametrize("tags_base_url", [TAGS_UP], indirect=True)` puts the real tags
    service there for one test.
    """
    if getattr(request, "param", None) == TAGS_UP:
        url: str = request.getfixturevalue("tags_service")
        return url
    return f"http://127.0.0.1:{closed_port()}"


TAGS_UP = "tags up"


@pytest.fixture
def tags_service(pg_settings: Callable[..., Settings]) -> Iterator[str]:
    """The real tags app on its PostgreSQL test database, served over HTTP; its base URL."""
    app = create_tags_app(pg_settings("tags"))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)
    app.extensions["crm"].engine.dispose()


@pytest.fixture
def bulk_sync_limit(request: pytest.FixtureRequest) -> int:
    """Above this many customers a bulk action becomes a job (the real default is 10,000);
    another limit for one test with `parametrize("bulk_sync_limit", [n], indirect=True)`."""
    limit: int = getattr(request, "param", 10_000)
    return limit


@pytest.fixture
def customers_settings(
    pg_settings: Callable[..., Settings], tags_base_url: str, bulk_sync_limit: int
) -> Settings:
    """The customers service's settings on its emptied PostgreSQL test database."""
    return pg_settings(
        "customers", service_urls={"tags": tags_base_url}, bulk_sync_limit=bulk_sync_limit
    )


@pytest.fixture
def deleter(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Headers of a staff member who may also delete."""
    return make_token("customers:read", "customers:write", "customers:delete")


@pytest.fixture
def add_customer(app: Flask) -> Callable[..., uuid.UUID]:
    """Puts a customer in the database (columns as keywords, `tags` as tag ids); its id."""
    counter = iter(range(1_000_000))

    def _add(*, tags: tuple[uuid.UUID, ...] = (), **columns: Any) -> uuid.UUID:
        n = next(counter)
        columns.setdefault("kind", "individual")
        columns.setdefault("first_name", f"First{n}")
        columns.setdefault("last_name", f"Last{n}")
        columns.setdefault("email", f"customer{n}-{uuid.uuid4().hex[:6]}@example.com")
        columns.setdefault("language", "fr")
        columns["email_key"] = columns["email"].lower() if columns["email"] else None
        customer = Customer(id=uuid.uuid4(), **columns)
        customer.tag_links = [CustomerTag(tag_id=tag_id, created_at=utcnow()) for tag_id in tags]
        with app.extensions["crm"].session_factory() as session:
            session.add(customer)
            session.commit()
        return customer.id

    return _add


@pytest.fixture
def deliver(app: Flask) -> Callable[..., CloudEvent]:
    """Hands an event to the customers handlers as the consumer does (inbox included).

    `deliver(type, data)` makes a new event; `deliver(event)` delivers that one again.
    """
    dispatcher = EventDispatcher("customers", SUBSCRIPTIONS, app.extensions["crm"].uow)

    def _deliver(event: CloudEvent | str, data: dict[str, Any] | None = None) -> CloudEvent:
        if isinstance(event, str):
            event = make_event(event, data or {}, source="tags")
        dispatcher.dispatch(parse_event(json.loads(event.to_json())))
        return event

    return _deliver


def tag_state(tag_id: uuid.UUID, name: str, order: int | None, color: str) -> dict[str, Any]:
    """A tag's full state as `tag.created` carries it."""
    now = utcnow().isoformat()
    return {
        "id": str(tag_id),
        "name": name,
        "description": "A test tag.",
        "color": color,
        "order": order,
        "is_fixed": False,
        "created_at": now,
        "updated_at": now,
    }


@pytest.fixture
def new_tag(
    deliver: Callable[..., CloudEvent], unique: Callable[[str], str]
) -> Callable[..., uuid.UUID]:
    """A tag the customers service learnt of through `tag.created`; its id."""

    def _new(
        name: str | None = None, order: int | None = None, color: str = "#123456"
    ) -> uuid.UUID:
        tag_id = uuid.uuid4()
        deliver("tag.created", tag_state(tag_id, name or unique("tag"), order, color))
        return tag_id

    return _new


@pytest.fixture
def tags_of(app: Flask) -> Callable[[uuid.UUID], set[uuid.UUID]]:
    """The tag ids a customer carries, read from the database."""

    def _tags(customer_id: uuid.UUID) -> set[uuid.UUID]:
        with app.extensions["crm"].session_factory() as session:
            return set(
                session.scalars(
                    select(CustomerTag.tag_id).where(CustomerTag.customer_id == customer_id)
                )
            )

    return _tags


@pytest.fixture
def customer_row(app: Flask) -> Callable[[uuid.UUID], Customer | None]:
    """A customer as stored (None once deleted)."""

    def _row(customer_id: uuid.UUID) -> Customer | None:
        with app.extensions["crm"].session_factory() as session:
            return session.get(Customer, customer_id)

    return _row


@pytest.fixture
def snapshot(app: Flask) -> Callable[[], Snapshot]:
    """Everything a refused request must leave as it was: customers, their tags, the tag
    catalogue, statuses, bulk jobs and the outbox."""

    def _snapshot() -> Snapshot:
        with app.extensions["crm"].session_factory() as session:
            customers = session.execute(
                select(Customer.id, Customer.version, Customer.status).order_by(Customer.id)
            ).all()
            links = session.execute(
                select(CustomerTag.customer_id, CustomerTag.tag_id).order_by(
                    CustomerTag.customer_id, CustomerTag.tag_id
                )
            ).all()
            tags = session.execute(select(TagView.id, TagView.name).order_by(TagView.id)).all()
            statuses = session.execute(select(Status.key, Status.label).order_by(Status.key)).all()
            jobs = session.scalars(select(BulkJob.id)).all()
            events = session.scalars(select(OutboxMessage.id)).all()
            return (
                tuple(customers),
                tuple(links),
                tuple(tags),
                tuple(statuses),
                tuple(jobs),
                tuple(events),
            )

    return _snapshot
