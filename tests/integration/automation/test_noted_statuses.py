"""Status keys learnt from `customer.status_changed` are noted once committed: a worker skips
the keys it found committed already, never those of a transaction that rolled back."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import select

from services.automation.handlers import subscriptions
from services.automation.models import KnownStatus
from shared.events.consumer import BatchHandler, EventDispatcher
from tests.integration.automation.conftest import event_of, status_changed

pytestmark = pytest.mark.needs_postgres


def known(app: Flask) -> set[str]:
    with app.extensions["crm"].session_factory() as session:
        return set(session.scalars(select(KnownStatus.key)))


def test_a_status_noted_by_a_rolled_back_batch_is_noted_again(
    app: Flask, new_customer: Callable[..., uuid.UUID]
) -> None:
    handlers = subscriptions(None)  # one worker's handlers, holding what they noted
    (on_status,) = handlers["customer.status_changed"]
    assert isinstance(on_status, BatchHandler)
    customer = new_customer()
    with app.extensions["crm"].uow() as uow:  # handled, then rolled back (never committed)
        on_status.handle(
            [event_of("customer.status_changed", status_changed(customer, "gold"))], uow
        )
    assert "gold" not in known(app)

    dispatcher = EventDispatcher("automation", handlers, app.extensions["crm"].uow)
    for _ in range(2):  # noted, then found committed
        dispatcher.dispatch(event_of("customer.status_changed", status_changed(customer, "gold")))
    assert "gold" in known(app)
