"""Event handlers of the tags service and the explicit list of what it subscribes to."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from marshmallow import fields

from services.tags import usage
from shared.db import UnitOfWork
from shared.events.consumer import Handler
from shared.events.envelope import CloudEvent
from shared.events.registry import schema_for


def on_customer_tagged(event: CloudEvent, uow: UnitOfWork) -> None:
    """A customer got a tag: it counts once more for that tag, unless it already did."""
    data = _data(event)
    usage.count_customer_tagged(uow, data["tag_id"], data["customer_id"], _time(event))


def on_customer_untagged(event: CloudEvent, uow: UnitOfWork) -> None:
    """A customer lost a tag: it no longer counts for it."""
    data = _data(event)
    usage.count_customer_untagged(uow, data["tag_id"], data["customer_id"], _time(event))


def on_customer_deleted(event: CloudEvent, uow: UnitOfWork) -> None:
    """A customer was deleted: it no longer counts for any tag."""
    data = _data(event)
    usage.count_customer_deleted(uow, data["customer_id"], data["tag_ids"], _time(event))


def _data(event: CloudEvent) -> dict[str, Any]:
    """The event's data loaded by its catalogue schema (UUIDs as UUIDs, defaults filled in)."""
    loaded: dict[str, Any] = schema_for(event.type).load(event.data)
    return loaded


def _time(event: CloudEvent) -> datetime:
    """When the event happened, read as the envelope's validation read it."""
    moment: datetime = _EVENT_TIME.deserialize(event.time)
    return moment.astimezone(UTC)


_EVENT_TIME = fields.AwareDateTime()


SUBSCRIPTIONS: dict[str, Sequence[Handler]] = {
    "customer.tagged": [on_customer_tagged],
    "customer.untagged": [on_customer_untagged],
    "customer.deleted": [on_customer_deleted],
}
