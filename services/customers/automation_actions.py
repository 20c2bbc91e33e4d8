"""The actions automation's rules request (`automation.action_requested`), applied by customers,
the owner of statuses and tags: automation never writes customers' data itself.

A status change made after the triggering event's time wins over the rule (a manual change
staff made while the event was on its way is not undone). The resulting `customer.status_changed`
or `customer.tagged` / `customer.untagged` carries `reason: "rule:<id>"`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select

from services.customers.models import Customer
from services.customers.statuses import UnknownStatus, change_status
from services.customers.tagging.errors import CustomerNotFound, UnknownTags
from services.customers.tagging.usecases import change_tags
from shared.db import UnitOfWork

log = logging.getLogger(__name__)


def apply_rule_action(uow: UnitOfWork, data: Mapping[str, Any]) -> bool:
    """Apply one requested action in the caller's unit of work; whether anything changed.

    Runs inside the consumer's transaction (no commit here). A customer deleted since, a status
    or tag that no longer exists, or a later status change: nothing happens, and the log says why.
    """
    customer_id: uuid.UUID = data["customer_id"]
    reason = f"rule:{data['rule_id']}"
    action: Mapping[str, Any] = data["action"]
    trigger_time: datetime = data["trigger"]["time"]
    context = {"customer_id": str(customer_id), "rule": reason, "action": str(dict(action))}
    customer = uow.session.scalars(
        select(Customer)
        .where(Customer.id == customer_id)
        .with_for_update()
        .execution_options(populate_existing=True)  # an earlier action of the batch changed it
    ).first()
    if customer is None:
        log.info("rule action for a customer that does not exist", extra=context)
        return False
    if "set_status" in action:
        changed_at = customer.status_changed_at
        if changed_at is not None and changed_at > trigger_time:
            log.info("rule action skipped: the status changed after its event", extra=context)
            return False
        try:
            return change_status(uow, customer, action["set_status"], reason)
        except UnknownStatus:
            log.warning("rule action names a status that does not exist", extra=context)
            return False
    add = [action["add_tag"]] if "add_tag" in action else []
    remove = [action["remove_tag"]] if "remove_tag" in action else []
    before = customer.version
    try:
        result = change_tags(uow, customer_id, add=add, remove=remove, reason=reason)
    except (UnknownTags, CustomerNotFound):
        log.warning("rule action names a tag that does not exist", extra=context)
        return False
    return result.version != before
