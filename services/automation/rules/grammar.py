"""The grammar of rules (api.md, Automation): triggers, conditions and actions, checked when a
rule is saved so that the interpreter only ever meets well-formed rules.

A condition is `{"field": ..., "op": ..., "value": ...}`; `field` is one of the customer's facts
(`status`, `tags`, `revenue.<CURRENCY>`, `purchases_count`, `days_since_last_interaction`, the
other counters, `customer.<profile field>`) or `event.<data field>` of the triggering event.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.events.catalogue import EXTERNAL_TYPES, RULE_ACTIONS
from shared.events.registry import schema_for

SCHEDULE_DAILY = "schedule.daily"
OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains")
ORDERED_OPERATORS = frozenset({"gt", "gte", "lt", "lte"})
COUNTERS = (
    "purchases_count",
    "payments_count",
    "invoices_count",
    "appointments_count",
    "support_requests_count",
    "emails_clicked_count",
    "days_since_last_interaction",
)
PROFILE_FIELDS = (
    "kind",
    "email",
    "language",
    "first_name",
    "last_name",
    "company_name",
    "email_consent",
    "newsletter_subscribed",
)
SUITE_TRIGGERS = (
    "customer.created",
    "customer.updated",
    "customer.tagged",
    "customer.untagged",
    "customer.status_changed",
)
TRIGGERS = frozenset({SCHEDULE_DAILY, *SUITE_TRIGGERS, *EXTERNAL_TYPES})
MAX_CONDITIONS = 20
MAX_ACTIONS = 10
MAX_LIST_VALUES = 100
_REVENUE = re.compile(r"^revenue\.([A-Z]{3})$")
_DECIMAL = re.compile(r"^-?\d{1,15}(\.\d{1,4})?$")

Errors = dict[str, Any]


def trigger_errors(trigger: Any) -> list[str]:
    """What is wrong with a trigger (an event type automation hears, or `schedule.daily`)."""
    if not isinstance(trigger, str) or trigger not in TRIGGERS:
        types = ", ".join(sorted(TRIGGERS - {SCHEDULE_DAILY}))
        return [f"one of {SCHEDULE_DAILY} or the event types: {types}"]
    return []


def event_fields(trigger: str) -> frozenset[str]:
    """The data fields a condition may read as `event.<field>` for this trigger."""
    if trigger == SCHEDULE_DAILY:
        return frozenset()
    schema = schema_for(trigger)
    return frozenset(field.data_key or name for name, field in schema.fields.items())


def condition_errors(
    conditions: Any,
    trigger: str | None,
    status_known: Callable[[str], bool],
    tags_known: Callable[[Collection[uuid.UUID]], Collection[uuid.UUID]],
) -> Errors:
    """Errors of a list of conditions, by index and key (empty: well-formed).

    `status_known` says whether a status key exists; `tags_known` which tag ids exist.
    """
    if not isinstance(conditions, list):
        return {"_schema": ["a list of conditions"]}
    if len(conditions) > MAX_CONDITIONS:
        return {"_schema": [f"at most {MAX_CONDITIONS} conditions"]}
    errors: Errors = {}
    for index, condition in enumerate(conditions):
        problem = _condition_errors(condition, trigger, status_known, tags_known)
        if problem:
            errors[str(index)] = problem
    return errors


def _condition_errors(
    condition: Any,
    trigger: str | None,
    status_known: Callable[[str], bool],
    tags_known: Callable[[Collection[uuid.UUID]], Collection[uuid.UUID]],
) -> Errors:
    if not isinstance(condition, Mapping):
        return {"_schema": ["a condition is {field, op, value}"]}
    unknown = sorted(set(condition) - {"field", "op", "value"})
    errors: Errors = {key: ["unknown key"] for key in unknown}
    for key in ("field", "op", "value"):
        if key not in condition:
            errors[key] = ["required"]
    if errors:
        return errors
    field, op, value = condition["field"], condition["op"], condition["value"]
    if op not in OPERATORS:
        return {"op": [f"one of {', '.join(OPERATORS)}"]}
    kind = field_kind(field, trigger)
    if kind is None:
        return {"field": [_field_help(trigger)]}
    if op == "in":
        if not isinstance(value, list) or not value or len(value) > MAX_LIST_VALUES:
            return {"value": [f"a list of 1 to {MAX_LIST_VALUES} values for `in`"]}
        if not all(_scalar(item) for item in value):
            return {"value": ["a list of strings, numbers or booleans"]}
    elif not _scalar(value):
        return {"value": ["a string, a number or a boolean"]}
    if op in ORDERED_OPERATORS and (kind in ("tags", "status") or to_decimal(value) is None):
        return {"value": [f"a number or a decimal string for `{op}`"]}
    if kind == "tags":
        if op != "contains":
            return {"op": ["`tags` takes `contains`"]}
        tag = to_uuid(value)
        if tag is None:
            return {"value": ["a tag id"]}
        if not tags_known([tag]):
            return {"value": [f"unknown tag {tag}"]}
    if kind == "status":
        if op in ("contains",):
            return {"op": ["`status` takes eq, ne or in"]}
        keys = value if isinstance(value, list) else [value]
        unknown_keys = [key for key in keys if not isinstance(key, str) or not status_known(key)]
        if unknown_keys:
            return {"value": [f"unknown status {', '.join(map(str, unknown_keys))}"]}
    if kind in ("counter", "revenue") and op in ("eq", "ne") and to_decimal(value) is None:
        return {"value": ["a number or a decimal string"]}
    return {}


def field_kind(field: Any, trigger: str | None) -> str | None:
    """What a condition's field reads (status, tags, revenue, counter, customer, event), or
    None when the grammar has no such field (for this trigger)."""
    if not isinstance(field, str):
        return None
    if field == "status":
        return "status"
    if field == "tags":
        return "tags"
    if field in COUNTERS:
        return "counter"
    if _REVENUE.match(field):
        return "revenue"
    head, _, rest = field.partition(".")
    if head == "customer" and rest in PROFILE_FIELDS:
        return "customer"
    if head == "event" and trigger is not None and rest in event_fields(trigger):
        return "event"
    return None


def _field_help(trigger: str | None) -> str:
    fields = ["status", "tags", "revenue.<CURRENCY>", *COUNTERS]
    fields += [f"customer.{name}" for name in PROFILE_FIELDS]
    if trigger is not None:
        fields += [f"event.{name}" for name in sorted(event_fields(trigger))]
    return f"one of {', '.join(fields)}"


def action_errors(
    actions: Any,
    status_known: Callable[[str], bool],
    tags_known: Callable[[Collection[uuid.UUID]], Collection[uuid.UUID]],
) -> Errors:
    """Errors of a list of actions, by index (empty: well-formed)."""
    if not isinstance(actions, list) or not actions:
        return {"_schema": ["a non-empty list of actions"]}
    if len(actions) > MAX_ACTIONS:
        return {"_schema": [f"at most {MAX_ACTIONS} actions"]}
    errors: Errors = {}
    for index, action in enumerate(actions):
        if not isinstance(action, Mapping) or len(action) != 1:
            errors[str(index)] = [f"exactly one of {', '.join(RULE_ACTIONS)}"]
            continue
        ((name, value),) = action.items()
        if name not in RULE_ACTIONS:
            errors[str(index)] = {name: [f"not one of {', '.join(RULE_ACTIONS)}"]}
        elif name == "set_status":
            if not isinstance(value, str) or not status_known(value):
                errors[str(index)] = {name: [f"unknown status {value}"]}
        else:
            tag = to_uuid(value)
            if tag is None:
                errors[str(index)] = {name: ["a tag id"]}
            elif not tags_known([tag]):
                errors[str(index)] = {name: [f"unknown tag {tag}"]}
    return errors


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and not (
        isinstance(value, str) and len(value) > 500
    )


def to_decimal(value: Any) -> Decimal | None:
    """A number or a decimal string as a Decimal; None for anything else (booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, str) and _DECIMAL.match(value.strip()):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return None
    return None


_UUID_DIGITS = 32


def to_uuid(value: Any) -> uuid.UUID | None:
    """A UUID from its text; None for anything else."""
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str) or len(value) < _UUID_DIGITS:
        # Shorter text (a status key, most values) cannot hold a UUID's 32 hex digits: no
        # exception raised and caught for each of them.
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
