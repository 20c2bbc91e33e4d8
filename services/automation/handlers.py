"""Event handlers of the automation service and the explicit list of what it subscribes to.

Customers' events and the external systems' events keep each customer's facts; each one then
starts the rules whose trigger is its type (`engine.decide`). Tag events keep the catalogue
rules are validated against. Handlers act on the data as its schema loaded it (`loaded`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from services.automation import engine, facts
from services.automation.directory import Directory
from shared.db import UnitOfWork
from shared.events.catalogue import EXTERNAL_TYPES
from shared.events.consumer import Handler
from shared.events.envelope import CloudEvent, parse_time
from shared.events.owners import inbox_source
from shared.events.registry import load_data


def loaded(event: CloudEvent) -> dict[str, Any]:
    """The event's data as its type's schema loaded it."""
    return event.loaded if event.loaded is not None else load_data(event.type, event.data)


def event_time(event: CloudEvent) -> datetime:
    """When the event happened (the consumer has checked it is a valid RFC 3339 time)."""
    moment = parse_time(event.time)
    assert moment is not None
    return moment.astimezone(UTC)


def fact_key(event: CloudEvent) -> str:
    """The fact an event stands for: its id, in its owner's namespace (as the inbox keys it)."""
    return f"{inbox_source(event.type)}:{event.id}"


def subscriptions(directory: Directory | None) -> dict[str, Sequence[Handler]]:
    """The handlers, asking `directory` for a customer the facts do not know yet."""

    def on_interaction(event: CloudEvent, uow: UnitOfWork) -> None:
        """An external event: the customer's facts, then the rules it triggers."""
        data, time = loaded(event), event_time(event)
        row = facts.record_interaction(uow.session, event.type, data, time)
        trigger = engine.Trigger(event.type, event.id, time, fact_key(event), 1, data)
        engine.decide(uow, row, trigger, directory)

    def on_customer_created(event: CloudEvent, uow: UnitOfWork) -> None:
        """A new customer: their status, kind and profile."""
        data, time = loaded(event), event_time(event)
        row = facts.record_customer(uow.session, data["customer_id"], data, time)
        trigger = engine.Trigger(event.type, event.id, time, fact_key(event), 1, data)
        engine.decide(uow, row, trigger, directory)

    def on_customer_updated(event: CloudEvent, uow: UnitOfWork) -> None:
        """A profile change: the fields rules read."""
        data, time = loaded(event), event_time(event)
        row = facts.record_profile(uow.session, data, time)
        trigger = engine.Trigger(event.type, event.id, time, fact_key(event), 1, data)
        engine.decide(uow, row, trigger, directory)

    def on_status_changed(event: CloudEvent, uow: UnitOfWork) -> None:
        """A status change, manual or a rule's (then it continues that rule's chain)."""
        data, time = loaded(event), event_time(event)
        row = facts.record_status(uow.session, data, time)
        _chained(event, uow, row, data, time)

    def on_tagging(event: CloudEvent, uow: UnitOfWork) -> None:
        """A tag given or taken, manually or by a rule."""
        data, time = loaded(event), event_time(event)
        row = facts.record_tagging(uow.session, data, event.type == "customer.tagged", time)
        _chained(event, uow, row, data, time)

    def _chained(
        event: CloudEvent, uow: UnitOfWork, row: Any, data: dict[str, Any], time: datetime
    ) -> None:
        trigger = engine.chained_trigger(
            uow.session,
            event.type,
            event.id,
            time,
            data["customer_id"],
            data.get("reason"),
            fact_key(event),
            data,
        )
        engine.decide(uow, row, trigger, directory)

    external: dict[str, Sequence[Handler]] = {
        event_type: [on_interaction] for event_type in sorted(EXTERNAL_TYPES)
    }
    return {
        "customer.created": [on_customer_created],
        "customer.updated": [on_customer_updated],
        "customer.status_changed": [on_status_changed],
        "customer.tagged": [on_tagging],
        "customer.untagged": [on_tagging],
        "customer.deleted": [on_customer_deleted],
        "customer.merged": [on_customer_merged],
        "tag.created": [on_tag_changed],
        "tag.updated": [on_tag_changed],
        "tag.deleted": [on_tag_deleted],
        "tag.merged": [on_tag_merged],
        **external,
    }


def on_customer_deleted(event: CloudEvent, uow: UnitOfWork) -> None:
    """A deleted customer: no rule acts on them any more."""
    facts.record_deleted(uow.session, loaded(event)["customer_id"], event_time(event))


def on_customer_merged(event: CloudEvent, uow: UnitOfWork) -> None:
    """A merge: the duplicate is gone (the survivor's changes come as their own events)."""
    facts.record_deleted(uow.session, loaded(event)["duplicate_id"], event_time(event))


def on_tag_changed(event: CloudEvent, uow: UnitOfWork) -> None:
    """A tag created or renamed: rules may name it."""
    data = loaded(event)
    facts.note_tag(uow.session, data["id"], data["name"])


def on_tag_deleted(event: CloudEvent, uow: UnitOfWork) -> None:
    """A deleted tag: rules may no longer name it, and no customer carries it."""
    facts.forget_tag(uow.session, loaded(event)["id"])


def on_tag_merged(event: CloudEvent, uow: UnitOfWork) -> None:
    """A merged tag: its carriers carry the surviving tag."""
    data = loaded(event)
    facts.forget_tag(uow.session, data["from_"], into=data["into"])


SubscriptionsFactory = Callable[[Directory | None], dict[str, Sequence[Handler]]]

SUBSCRIPTIONS: dict[str, Sequence[Handler]] = subscriptions(None)
"""What automation subscribes to (the broker topology reads it); the worker's handlers are
`subscriptions(RemoteDirectory(settings))`, which ask customers about unknown customers."""
