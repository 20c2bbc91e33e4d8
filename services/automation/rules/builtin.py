"""The built-in rules (S3): switchable, never deletable, stored as data like custom rules."""

from __future__ import annotations

from typing import Any

from services.automation.models import DEFAULT_INACTIVITY_DAYS
from services.automation.rules.grammar import SCHEDULE_DAILY

INACTIVITY = "inactivity"
DAYS_FIELD = "days_since_last_interaction"


def _first(counter: str) -> list[dict[str, Any]]:
    return [
        {"field": "status", "op": "in", "value": ["lead", "prospect"]},
        {"field": counter, "op": "eq", "value": 1},
    ]


def inactivity_conditions(days: int) -> list[dict[str, Any]]:
    """The inactivity rule's conditions for an inactivity period of `days` (the setting)."""
    return [
        {"field": "status", "op": "in", "value": ["active", "vip"]},
        {"field": DAYS_FIELD, "op": "gte", "value": days},
    ]


BUILTIN_RULES: dict[str, dict[str, Any]] = {
    "first-appointment": {
        "name": "First completed appointment or group event: lead or prospect becomes active",
        "trigger": "scheduling.appointment.completed",
        "conditions": _first("appointments_count"),
        "actions": [{"set_status": "active"}],
    },
    "first-payment": {
        "name": "First recorded payment: lead or prospect becomes active",
        "trigger": "billing.payment.recorded",
        "conditions": _first("payments_count"),
        "actions": [{"set_status": "active"}],
    },
    "first-invoice": {
        "name": "First issued invoice: lead or prospect becomes active",
        "trigger": "billing.invoice.issued",
        "conditions": _first("invoices_count"),
        "actions": [{"set_status": "active"}],
    },
    INACTIVITY: {
        "name": "No interaction for the inactivity period: active or VIP becomes inactive",
        "trigger": SCHEDULE_DAILY,
        "conditions": inactivity_conditions(DEFAULT_INACTIVITY_DAYS),
        "actions": [{"set_status": "inactive"}],
    },
}
