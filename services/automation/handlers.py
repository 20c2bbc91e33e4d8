"""Event handlers of the automation service and the explicit list of what it subscribes to.

Customers' events and the external systems' events keep each customer's facts; each one then
starts the rules whose trigger is its type (`engine.Evaluation`). Tag events keep the catalogue
rules are validated against. Handlers act on the data as its schema loaded it (`loaded`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from services.automation import engine, facts
from services.automation.directory import Directory
from services.automation.facts import Views
from services.automation.models import CustomerFacts
from services.automation.rulebook import RuleBook
from shared.db import UnitOfWork
from shared.events.catalogue import EXTERNAL_TYPES
from shared.events.consumer import Handler, batch_handler
from shared.events.envelope import CloudEvent, parse_time
from shared.events.owners import inbox_source
from shared.events.registry import load_data

PURCHASE = "billing.purchase.completed"


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


Apply = Callable[[Session, CustomerFacts, CloudEvent, dict[str, Any], datetime, Views], None]


def subscriptions(directory: Directory | None) -> dict[str, Sequence[Handler]]:
    """The handlers, asking `directory` for a customer the facts do not know yet.

    Each handles a run of events of one type at once (`batch_handler`): the customers' facts
    rows are created and locked in one statement each, the events applied to them in order, each
    event's rules evaluated on the facts as of that event, and the run's firings, decisions and
    actions written together.
    """

    book = RuleBook()  # the rules, held between batches while they do not change
    statuses = facts.NotedStatuses()

    def note_statuses(session: Session, steps: list[Step]) -> None:
        statuses.note(session, (step.data["to"] for step in steps))

    def run(
        events: Sequence[CloudEvent],
        uow: UnitOfWork,
        apply: Apply,
        chained: bool = False,
        after: Callable[[Session, list[Step]], None] | None = None,
    ) -> None:
        session = uow.session
        steps = [Step(event, loaded(event), event_time(event)) for event in events]
        rows = facts.lock_facts(session, facts.earliest((s.customer_id, s.time) for s in steps))
        evaluation = engine.Evaluation(uow, events[0].type, directory, book=book.read(session))
        views = facts.Views(session, rows if evaluation else (), evaluation.reads)
        for step in steps:
            row = rows[step.customer_id]
            apply(session, row, step.event, step.data, step.time, views)
            if evaluation:
                evaluation.add(row, _trigger(session, step, chained), views)
        facts.write_facts(session, rows.values())
        if after is not None:
            after(session, steps)
        evaluation.finish()

    @batch_handler
    def on_interactions(events: Sequence[CloudEvent], uow: UnitOfWork) -> None:
        """External events: the customers' facts, then the rules they trigger."""
        run(events, uow, _apply_interaction, after=_add_revenue)

    @batch_handler
    def on_customers_created(events: Sequence[CloudEvent], uow: UnitOfWork) -> None:
        """New customers: their status, kind and profile."""
        run(events, uow, _apply_customer)

    @batch_handler
    def on_customers_updated(events: Sequence[CloudEvent], uow: UnitOfWork) -> None:
        """Profile changes: the fields rules read."""
        run(events, uow, _apply_profile)

    @batch_handler
    def on_statuses_changed(events: Sequence[CloudEvent], uow: UnitOfWork) -> None:
        """Status changes, manual or a rule's (then they continue that rule's chain)."""
        run(events, uow, _apply_status, chained=True, after=note_statuses)

    @batch_handler
    def on_taggings(events: Sequence[CloudEvent], uow: UnitOfWork) -> None:
        """Tags given or taken, manually or by a rule."""
        run(events, uow, _apply_tagging, chained=True)

    external: dict[str, Sequence[Handler]] = {
        event_type: [on_interactions] for event_type in sorted(EXTERNAL_TYPES)
    }
    return {
        "customer.created": [on_customers_created],
        "customer.updated": [on_customers_updated],
        "customer.status_changed": [on_statuses_changed],
        "customer.tagged": [on_taggings],
        "customer.untagged": [on_taggings],
        "customer.deleted": [on_customer_deleted],
        "customer.merged": [on_customer_merged],
        "tag.created": [on_tag_changed],
        "tag.updated": [on_tag_changed],
        "tag.deleted": [on_tag_deleted],
        "tag.merged": [on_tag_merged],
        **external,
    }


@dataclass(frozen=True)
class Step:
    """One event of a run, its data loaded and its time parsed."""

    event: CloudEvent
    data: dict[str, Any]
    time: datetime

    @property
    def customer_id(self) -> uuid.UUID:
        """The customer the event is about."""
        customer_id: uuid.UUID = self.data["customer_id"]
        return customer_id


def _trigger(session: Session, step: Step, chained: bool) -> engine.Trigger:
    event, data = step.event, step.data
    if chained:
        return engine.chained_trigger(
            session,
            event.type,
            event.id,
            step.time,
            step.customer_id,
            data.get("reason"),
            fact_key(event),
            data,
            event.correlationid,
        )
    return engine.Trigger(
        event.type, event.id, step.time, fact_key(event), 1, data, event.correlationid
    )


def _apply_interaction(
    _session: Session,
    row: CustomerFacts,
    event: CloudEvent,
    data: dict[str, Any],
    time: datetime,
    views: Views,
) -> None:
    facts.apply_interaction(row, event.type, data, time)
    if event.type == PURCHASE:
        views.purchased(row.customer_id, data["currency"], Decimal(data["amount"]))


def _add_revenue(session: Session, steps: list[Step]) -> None:
    facts.add_revenue(
        session,
        (
            (step.customer_id, step.data["currency"], Decimal(step.data["amount"]))
            for step in steps
            if step.event.type == PURCHASE
        ),
    )


def _apply_customer(
    session: Session,
    row: CustomerFacts,
    _event: CloudEvent,
    data: dict[str, Any],
    time: datetime,
    views: Views,
) -> None:
    facts.apply_customer(session, row, data, time, views)


def _apply_profile(
    _session: Session,
    row: CustomerFacts,
    _event: CloudEvent,
    data: dict[str, Any],
    _time: datetime,
    _views: Views,
) -> None:
    facts.apply_profile(row, data)


def _apply_status(
    _session: Session,
    row: CustomerFacts,
    _event: CloudEvent,
    data: dict[str, Any],
    time: datetime,
    _views: Views,
) -> None:
    facts.apply_status(row, data, time)


def _apply_tagging(
    session: Session,
    row: CustomerFacts,
    event: CloudEvent,
    data: dict[str, Any],
    _time: datetime,
    views: Views,
) -> None:
    facts.apply_tagging(session, row, data, event.type == "customer.tagged", views)


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
