"""The tagging, status and bulk request schemas: what they accept, normalise and refuse."""

from __future__ import annotations

import uuid
from typing import Any

import marshmallow as ma
import pytest

from services.customers.tagging.schemas import (
    BulkActionSchema,
    BulkJobSchema,
    CustomerTagAddSchema,
    StatusCreateSchema,
    StatusUpdateSchema,
)

TAG, CUSTOMER = str(uuid.uuid4()), str(uuid.uuid4())


def errors_of(schema: ma.Schema, data: Any) -> dict[str, Any]:
    with pytest.raises(ma.ValidationError) as raised:
        schema.load(data)
    messages = raised.value.messages
    assert isinstance(messages, dict)
    return messages


def test_a_tag_name_is_trimmed_and_composed() -> None:
    loaded = CustomerTagAddSchema().load({"name": "  Cafe\u0301  "})

    assert loaded == {"name": "Café"}


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "a\tb", "zero\u200bwidth"])
def test_a_bad_tag_name_is_refused_on_name(name: str) -> None:
    assert "name" in errors_of(CustomerTagAddSchema(), {"name": name})


def test_a_tag_is_given_by_id_or_by_name_never_both_nor_neither() -> None:
    assert CustomerTagAddSchema().load({"tag_id": TAG}) == {"tag_id": uuid.UUID(TAG)}
    assert "name" in errors_of(CustomerTagAddSchema(), {"tag_id": TAG, "name": "x"})
    assert "tag_id" in errors_of(CustomerTagAddSchema(), {})


@pytest.mark.parametrize("key", ["lead2", "partner", "on_hold", "a" * 32])
def test_status_keys_are_lower_case_words(key: str) -> None:
    assert StatusCreateSchema().load({"key": key, "label": "L"})["key"] == key


@pytest.mark.parametrize("key", ["", "Partner", "2nd", "on-hold", "a" * 33, "é"])
def test_other_status_keys_are_refused(key: str) -> None:
    assert "key" in errors_of(StatusCreateSchema(), {"key": key, "label": "L"})


def test_a_status_label_is_trimmed_and_never_blank() -> None:
    assert StatusUpdateSchema().load({"label": "  VIP  "}) == {"label": "VIP"}
    assert "label" in errors_of(StatusUpdateSchema(), {"label": "  "})


@pytest.mark.parametrize(
    "body",
    [
        {"action": "add_tags", "ids": [CUSTOMER], "tag_ids": [TAG]},
        {"action": "remove_tags", "filter": {}, "tag_ids": [TAG]},
        {"action": "set_status", "filter": {"city": "Lyon"}, "status": "vip"},
        {"action": "delete", "ids": [CUSTOMER]},
    ],
)
def test_a_consistent_bulk_body_loads(body: dict[str, Any]) -> None:
    assert BulkActionSchema().load(body)["action"] == body["action"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "delete"}, "ids"),
        ({"action": "delete", "ids": [CUSTOMER], "filter": {}}, "ids"),
        ({"action": "add_tags", "ids": [CUSTOMER]}, "tag_ids"),
        ({"action": "delete", "ids": [CUSTOMER], "tag_ids": [TAG]}, "tag_ids"),
        ({"action": "set_status", "ids": [CUSTOMER]}, "status"),
        ({"action": "delete", "ids": [CUSTOMER], "status": "vip"}, "status"),
        ({"action": "delete", "filter": {"created_from": "yesterday"}}, "filter"),
        ({"action": "delete", "filter": {"cursor": "x"}}, "filter"),
    ],
)
def test_an_inconsistent_bulk_body_is_refused_on_the_field_at_fault(
    body: dict[str, Any], field: str
) -> None:
    assert field in errors_of(BulkActionSchema(), body)


def test_filter_errors_name_the_list_parameter() -> None:
    errors = errors_of(BulkActionSchema(), {"action": "delete", "filter": {"kind": "robot"}})

    assert "kind" in errors["filter"]


class _Job:
    def __init__(self, status: str, matched: int, processed: int) -> None:
        self.status, self.matched, self.processed = status, matched, processed


@pytest.mark.parametrize(
    ("job", "progress"),
    [
        (_Job("queued", 10, 0), 0.0),
        (_Job("running", 3, 1), 0.3333),
        (_Job("running", 0, 0), 0.0),
        (_Job("running", 2, 5), 1.0),
        (_Job("done", 0, 0), 1.0),
    ],
)
def test_a_jobs_progress_is_the_share_processed(job: _Job, progress: float) -> None:
    assert BulkJobSchema(only=("progress",)).dump(job) == {"progress": progress}
