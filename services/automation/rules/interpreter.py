"""The interpreter of rules: a rule's conditions read over a customer's facts and the triggering
event's data, each with its expected and actual value and its result. Rules are data; nothing
here compiles or evaluates code (no `eval`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from services.automation.rules.grammar import field_kind, to_decimal, to_uuid


@dataclass(frozen=True)
class Facts:
    """What a condition may read of a customer: their facts, and the triggering event's data."""

    status: str | None = None
    tags: frozenset[uuid.UUID] = frozenset()
    revenue: Mapping[str, Decimal] = field(default_factory=dict)
    counters: Mapping[str, int | None] = field(default_factory=dict)
    customer: Mapping[str, Any] = field(default_factory=dict)
    event: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConditionResult:
    """One condition as it was evaluated."""

    field: str
    op: str
    expected: Any
    actual: Any
    result: bool

    def as_json(self) -> dict[str, Any]:
        """The JSON the decisions log keeps."""
        return {
            "field": self.field,
            "op": self.op,
            "expected": self.expected,
            "actual": plain(self.actual),
            "result": self.result,
        }


def evaluate(
    conditions: Sequence[Mapping[str, Any]], facts: Facts, trigger: str | None
) -> list[ConditionResult]:
    """Every condition evaluated (all of them, so that a decision explains itself in full)."""
    results = []
    for condition in conditions:
        name, op, expected = condition["field"], condition["op"], condition["value"]
        actual = read_field(name, facts, trigger)
        results.append(ConditionResult(name, op, expected, actual, compare(op, actual, expected)))
    return results


def holds(results: Sequence[ConditionResult]) -> bool:
    """The rule's conditions all hold (an empty list holds)."""
    return all(result.result for result in results)


def read_field(name: str, facts: Facts, trigger: str | None) -> Any:
    """The actual value of a condition's field; None when the fact is not known."""
    kind = field_kind(name, trigger)
    if kind == "status":
        return facts.status
    if kind == "tags":
        return sorted(facts.tags, key=str)
    if kind == "counter":
        return facts.counters.get(name)
    if kind == "revenue":
        return facts.revenue.get(name.split(".", 1)[1], Decimal(0))
    if kind == "customer":
        return facts.customer.get(name.split(".", 1)[1])
    if kind == "event":
        return facts.event.get(name.split(".", 1)[1])
    return None


def compare(op: str, actual: Any, expected: Any) -> bool:
    """`actual op expected`, with numbers as decimals and ids as UUIDs; unknown facts never hold
    except for `ne`."""
    if op == "contains":
        if isinstance(actual, list | tuple | set | frozenset):
            wanted = to_uuid(expected)
            items = [to_uuid(item) or item for item in actual]
            return (wanted if wanted is not None else expected) in items
        if isinstance(actual, str) and isinstance(expected, str):
            return expected.casefold() in actual.casefold()
        return False
    if op == "in":
        return isinstance(expected, list) and any(_equal(actual, item) for item in expected)
    if op == "eq":
        return _equal(actual, expected)
    if op == "ne":
        return not _equal(actual, expected)
    left, right = to_decimal(plain(actual)), to_decimal(expected)
    if left is None or right is None:
        return False
    if op == "gt":
        return left > right
    if op == "gte":
        return left >= right
    if op == "lt":
        return left < right
    if op == "lte":
        return left <= right
    return False


def _equal(actual: Any, expected: Any) -> bool:
    if actual is None:
        return expected is None
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    left, right = to_decimal(plain(actual)), to_decimal(expected)
    if left is not None and right is not None and not isinstance(actual, str):
        return left == right
    if isinstance(actual, Decimal) and right is not None:
        return actual == right
    actual_id, expected_id = to_uuid(actual), to_uuid(expected)
    if actual_id is not None and expected_id is not None:
        return actual_id == expected_id
    return plain(actual) == expected


def plain(value: Any) -> Any:
    """A value as JSON carries it (decimals and times as text, ids as text)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    return value
