"""The actions automation's rules request (`automation.action_requested`), applied by customers,
the owner of statuses and tags: automation never writes customers' data itself.

A status change made after the triggering event's time wins over the rule (a manual change
staff made while the event was on its way is not undone). The resulting `customer.status_changed`
or `customer.tagged` / `customer.untagged` carries `reason: "rule:<id>"`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, lazyload

from services.customers.models import Customer, Status
from services.customers.statuses import UnknownStatus, move_status, write_statuses
from services.customers.tagging.errors import CustomerNotFound, UnknownTags
from services.customers.tagging.usecases import change_tags
from shared.db import OutboxItem, UnitOfWork
from shared.logging import correlated

log = logging.getLogger(__name__)


def apply_rule_actions(
    uow: UnitOfWork, actions: Sequence[tuple[Mapping[str, Any], str | None]]
) -> list[bool]:
    """Apply a run of requested actions (data, correlation id) in order in the caller's unit of
    work; which changed anything.

    Their customers are locked by one statement (in id order), so that a run of status changes
    costs a few statements whatever its length. Runs inside the consumer's transaction (no commit
    here). A customer deleted since, a status or tag that no longer exists, or a later status
    change: nothing happens, and the log says why.
    """
    # The statuses the run names that exist, read with the customers (one statement).
    wanted = sorted(
        {data["action"]["set_status"] for data, _ in actions if "set_status" in data["action"]}
    )
    statuses: set[str] = set()
    customers = _locked(uow.session, {data["customer_id"] for data, _ in actions}, wanted, statuses)
    changed = []
    moves: list[OutboxItem] = []  # status changes whose events are not written yet
    moved: list[Customer] = []  # the customers they changed, not written yet either
    for data, correlation in actions:
        customer_id: uuid.UUID = data["customer_id"]
        if customer_id not in customers:  # deleted, or changed by a tag action of this run
            customers.update(_locked(uow.session, {customer_id}, wanted, statuses))
        customer = customers.get(customer_id)
        with correlated(correlation, "customers"):
            if "set_status" in data["action"]:
                move = _move(uow, customer, data, statuses)
                if move is not None:
                    assert customer is not None
                    moves.append((move, str(customer_id), correlation))
                    moved.append(customer)
                changed.append(move is not None)
                continue
            _write(uow, moves, moved)  # the run's events in the order of its actions
            changed.append(_tag(uow, customer, data))
            customers.pop(customer_id, None)  # tagging changed it by statements of its own
    _write(uow, moves, moved)
    return changed


def _write(uow: UnitOfWork, moves: list[OutboxItem], moved: list[Customer]) -> None:
    """The pending status changes and their events, in a statement each, after the events
    already added."""
    if moves:
        write_statuses(uow.session, moved)
        uow.session.flush()
        uow.emit_many("customer.status_changed", moves)
        moves.clear()
        moved.clear()


def _locked(
    session: Session, ids: Collection[uuid.UUID], wanted: Sequence[str], statuses: set[str]
) -> dict[uuid.UUID, Customer]:
    """The customers, locked in id order; the `wanted` statuses that exist added to `statuses`
    (each row carries them: no statement of their own)."""
    existing = select(func.array_agg(Status.key)).where(Status.key.in_(wanted)).scalar_subquery()
    rows = session.execute(
        select(Customer, existing)
        .where(Customer.id.in_(sorted(ids)))
        .order_by(Customer.id)
        .with_for_update()
        # Statuses and tags read no phone or list: those load only if something asks.
        .options(lazyload(Customer.phones), lazyload(Customer.newsletter_lists))
        .execution_options(populate_existing=True)  # an earlier action of the batch changed it
    )
    customers = {}
    for customer, keys in rows:
        customers[customer.id] = customer
        statuses.update(keys or ())
    return customers


def _context(data: Mapping[str, Any]) -> dict[str, str]:
    return {
        "customer_id": str(data["customer_id"]),
        "rule": f"rule:{data['rule_id']}",
        "action": str(dict(data["action"])),
    }


def _move(
    uow: UnitOfWork, customer: Customer | None, data: Mapping[str, Any], statuses: set[str]
) -> dict[str, Any] | None:
    """A `set_status` action: the status change's event data, None when nothing changed."""
    context = _context(data)
    if customer is None:
        log.info("rule action for a customer that does not exist", extra=context)
        return None
    trigger_time: datetime = data["trigger"]["time"]
    changed_at = customer.status_changed_at
    if changed_at is not None and changed_at > trigger_time:
        log.info("rule action skipped: the status changed after its event", extra=context)
        return None
    try:
        to = data["action"]["set_status"]
        return move_status(uow.session, customer, to, context["rule"], known=statuses)
    except UnknownStatus:
        log.warning("rule action names a status that does not exist", extra=context)
        return None


def _tag(uow: UnitOfWork, customer: Customer | None, data: Mapping[str, Any]) -> bool:
    """An `add_tag` or `remove_tag` action; whether it changed the customer."""
    context = _context(data)
    if customer is None:
        log.info("rule action for a customer that does not exist", extra=context)
        return False
    action: Mapping[str, Any] = data["action"]
    add = [action["add_tag"]] if "add_tag" in action else []
    remove = [action["remove_tag"]] if "remove_tag" in action else []
    before = customer.version
    try:
        result = change_tags(uow, customer.id, add=add, remove=remove, reason=context["rule"])
    except (UnknownTags, CustomerNotFound):
        log.warning("rule action names a tag that does not exist", extra=context)
        return False
    return result.version != before
