"""The rules' grammar and interpreter, without I/O: every operator, every kind of field, and
the refusals a rule meets when it is saved."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from services.automation.rules import grammar
from services.automation.rules.builtin import BUILTIN_RULES
from services.automation.rules.interpreter import Facts, compare, evaluate, holds

VIP_TAG = uuid.UUID("6f1c0a52-9a57-4c1e-8d0f-1b2c3d4e5f60")  # fixed: xdist workers collect alike
OTHER_TAG = uuid.UUID("0b7e2f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b")
UNKNOWN_TAG = uuid.UUID("9d8c7b6a-5f4e-4d3c-9b2a-1f0e9d8c7b6a")
KNOWN_STATUSES = {"lead", "prospect", "active", "vip", "inactive"}


def status_known(key: str) -> bool:
    return key in KNOWN_STATUSES


def tags_known(ids: Any) -> set[uuid.UUID]:
    return {tag for tag in ids if tag in {VIP_TAG, OTHER_TAG}}


FACTS = Facts(
    status="prospect",
    tags=frozenset({VIP_TAG}),
    revenue={"EUR": Decimal("1500.50")},
    counters={"purchases_count": 3, "payments_count": 1, "days_since_last_interaction": 12},
    customer={"kind": "company", "language": "fr", "email_consent": True},
    event={"campaign": "Spring sale", "amount": "99.90", "kind": "group_event"},
)


def check(field: str, op: str, value: Any, trigger: str = "billing.purchase.completed") -> bool:
    (result,) = evaluate([{"field": field, "op": op, "value": value}], FACTS, trigger)
    return result.result


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        ("status", "eq", "prospect", True),
        ("status", "eq", "lead", False),
        ("status", "ne", "lead", True),
        ("status", "in", ["lead", "prospect"], True),
        ("status", "in", ["active", "vip"], False),
        ("tags", "contains", str(VIP_TAG), True),
        ("tags", "contains", str(OTHER_TAG), False),
        ("revenue.EUR", "gt", "1000", True),
        ("revenue.EUR", "gte", "1500.50", True),
        ("revenue.EUR", "lt", "1500.50", False),
        ("revenue.EUR", "lte", 1500.5, True),
        ("revenue.EUR", "eq", "1500.5", True),
        ("revenue.USD", "gt", "0", False),  # no revenue in a currency is zero
        ("revenue.USD", "eq", 0, True),
        ("purchases_count", "eq", 3, True),
        ("purchases_count", "ne", 3, False),
        ("purchases_count", "gte", 4, False),
        ("purchases_count", "in", [1, 2, 3], True),
        ("days_since_last_interaction", "gt", 10, True),
        ("days_since_last_interaction", "lt", 10, False),
        ("customer.kind", "eq", "company", True),
        ("customer.language", "in", ["en", "de"], False),
        ("customer.email_consent", "eq", True, True),
        ("customer.email_consent", "eq", "true", False),  # a boolean is not its text
        ("customer.company_name", "eq", "x", False),  # unknown fact
        ("customer.company_name", "ne", "x", True),
        ("event.order_reference", "eq", "A1", False),
    ],
)
def test_each_operator_over_each_kind_of_field(
    field: str, op: str, value: Any, expected: bool
) -> None:
    assert check(field, op, value) is expected


def test_event_fields_are_those_of_the_triggering_event() -> None:
    assert check("event.campaign", "contains", "spring", "marketing.email.clicked") is True
    assert check("event.campaign", "eq", "Spring sale", "marketing.email.clicked") is True
    assert check("event.kind", "eq", "group_event", "scheduling.appointment.completed") is True


def test_an_unknown_fact_never_orders() -> None:
    assert compare("gt", None, 1) is False
    assert compare("lt", None, 1) is False
    assert compare("gt", "not a number", 1) is False


def test_every_condition_is_explained_with_expected_actual_and_result() -> None:
    results = evaluate(
        [
            {"field": "status", "op": "in", "value": ["lead", "prospect"]},
            {"field": "revenue.EUR", "op": "gt", "value": "2000"},
        ],
        FACTS,
        "billing.purchase.completed",
    )
    assert [r.as_json() for r in results] == [
        {
            "field": "status",
            "op": "in",
            "expected": ["lead", "prospect"],
            "actual": "prospect",
            "result": True,
        },
        {
            "field": "revenue.EUR",
            "op": "gt",
            "expected": "2000",
            "actual": "1500.50",
            "result": False,
        },
    ]
    assert holds(results) is False
    assert holds(results[:1]) is True
    assert holds([]) is True


def errors_of(conditions: Any, trigger: str = "billing.purchase.completed") -> Any:
    return grammar.condition_errors(conditions, trigger, status_known, tags_known)


@pytest.mark.parametrize(
    ("condition", "where", "message"),
    [
        ({"field": "nope", "op": "eq", "value": 1}, "field", "one of"),
        ({"field": "status", "op": "like", "value": "a"}, "op", "one of"),
        ({"field": "status", "op": "eq", "value": "ghost"}, "value", "unknown status"),
        ({"field": "status", "op": "in", "value": ["lead", "ghost"]}, "value", "unknown status"),
        ({"field": "status", "op": "gt", "value": 1}, "value", "number"),
        ({"field": "tags", "op": "contains", "value": str(UNKNOWN_TAG)}, "value", "unknown tag"),
        ({"field": "tags", "op": "contains", "value": "not-an-id"}, "value", "tag id"),
        ({"field": "tags", "op": "eq", "value": str(VIP_TAG)}, "op", "contains"),
        ({"field": "revenue.eur", "op": "gt", "value": "1"}, "field", "one of"),
        ({"field": "revenue.EUR", "op": "gt", "value": "lots"}, "value", "number"),
        ({"field": "purchases_count", "op": "in", "value": []}, "value", "list"),
        ({"field": "purchases_count", "op": "in", "value": 3}, "value", "list"),
        ({"field": "purchases_count", "op": "eq", "value": {"a": 1}}, "value", "string"),
        ({"field": "customer.password", "op": "eq", "value": "x"}, "field", "one of"),
        ({"field": "event.campaign", "op": "eq", "value": "x"}, "field", "one of"),
        ({"field": "status", "op": "eq"}, "value", "required"),
        ({"field": "status", "op": "eq", "value": "lead", "extra": 1}, "extra", "unknown"),
    ],
)
def test_a_malformed_condition_is_refused_naming_its_key(
    condition: dict[str, Any], where: str, message: str
) -> None:
    errors = errors_of([{"field": "status", "op": "eq", "value": "lead"}, condition])
    assert list(errors) == ["1"]
    assert where in errors["1"]
    assert message in " ".join(errors["1"][where])


def test_conditions_must_be_a_list_of_objects() -> None:
    assert errors_of("status = lead") == {"_schema": ["a list of conditions"]}
    assert errors_of(["status"]) == {"0": {"_schema": ["a condition is {field, op, value}"]}}


def test_event_fields_depend_on_the_trigger() -> None:
    condition = [{"field": "event.campaign", "op": "eq", "value": "x"}]
    assert errors_of(condition, "marketing.email.clicked") == {}
    assert "0" in errors_of(condition, "billing.payment.recorded")
    assert "0" in errors_of(condition, grammar.SCHEDULE_DAILY)


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        ([], "non-empty"),
        ([{"set_status": "ghost"}], "unknown status"),
        ([{"add_tag": str(UNKNOWN_TAG)}], "unknown tag"),
        ([{"remove_tag": "x"}], "tag id"),
        ([{"delete_customer": True}], "not one of"),
        ([{"set_status": "vip", "add_tag": str(VIP_TAG)}], "exactly one"),
    ],
)
def test_a_malformed_action_is_refused(actions: Any, message: str) -> None:
    errors = grammar.action_errors(actions, status_known, tags_known)
    assert message in str(errors)


def test_well_formed_actions_pass() -> None:
    actions = [{"set_status": "vip"}, {"add_tag": str(VIP_TAG)}, {"remove_tag": str(OTHER_TAG)}]
    assert grammar.action_errors(actions, status_known, tags_known) == {}


def test_triggers_are_event_types_automation_hears_or_the_daily_schedule() -> None:
    assert grammar.trigger_errors("schedule.daily") == []
    assert grammar.trigger_errors("billing.payment.recorded") == []
    assert grammar.trigger_errors("customer.status_changed") == []
    assert grammar.trigger_errors("automation.action_requested") != []
    assert grammar.trigger_errors("billing.anything") != []


@pytest.mark.parametrize("rule_id", sorted(BUILTIN_RULES))
def test_the_builtin_rules_follow_the_grammar(rule_id: str) -> None:
    rule = BUILTIN_RULES[rule_id]
    assert grammar.trigger_errors(rule["trigger"]) == []
    assert (
        grammar.condition_errors(rule["conditions"], rule["trigger"], status_known, tags_known)
        == {}
    )
    assert grammar.action_errors(rule["actions"], status_known, tags_known) == {}


def test_the_interpreter_never_evaluates_code() -> None:
    facts = Facts(customer={"email": "__import__('os').system('false')"})
    (result,) = evaluate(
        [{"field": "customer.email", "op": "eq", "value": "__import__('os')"}], facts, None
    )
    assert result.result is False


@pytest.mark.parametrize(
    "text",
    [
        "12345678-1234-5678-1234-567812345678",
        "12345678123456781234567812345678",
        "{12345678-1234-5678-1234-567812345678}",
        "urn:uuid:12345678-1234-5678-1234-567812345678",
    ],
)
def test_an_id_compares_equal_in_each_of_its_written_forms(text: str) -> None:
    tag = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert grammar.to_uuid(text) == tag
    assert compare("eq", text, str(tag))
    assert compare("contains", [tag], text)


@pytest.mark.parametrize("text", ["lead", "", "1234567812345678123456781234567", "x" * 36])
def test_text_that_is_no_id_is_no_uuid(text: str) -> None:
    assert grammar.to_uuid(text) is None
    assert compare("eq", text, text)
