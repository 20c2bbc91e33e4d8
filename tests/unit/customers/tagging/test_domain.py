"""Pure parts of tagging: event contact fields, display order, status ETags, job params."""

from __future__ import annotations

import uuid
from collections import namedtuple
from datetime import UTC, datetime

from services.customers.events import contact_of
from services.customers.models import Customer, Status, TagView
from services.customers.tagging.bulk import BulkRequest
from services.customers.tagging.errors import UnknownTags
from services.customers.tagging.projection import display_order, name_key
from services.customers.tagging.set_based import CONTACT_COLUMNS
from services.customers.tagging.statuses import status_etag


def test_bulk_events_carry_the_same_customer_fields_as_single_ones() -> None:
    customer = Customer(
        email="a@example.com",
        language="fr",
        first_name="Ada",
        last_name="Lovelace",
        company_name=None,
        email_consent=True,
    )
    Row = namedtuple("Row", [column.key for column in CONTACT_COLUMNS])  # type: ignore[misc]
    row = Row(*(getattr(customer, column.key) for column in CONTACT_COLUMNS))

    assert contact_of(row) == contact_of(customer)


def tag(name: str, order: int | None) -> TagView:
    return TagView(
        id=uuid.uuid4(),
        name=name,
        color="#000000",
        order=order,
        is_fixed=False,
        updated_at=datetime.now(UTC),
    )


def test_tags_show_by_order_then_name_whatever_its_case_unordered_last() -> None:
    tags = [tag("beta", None), tag("Zed", 2), tag("Alpha", None), tag("last", 10), tag("a", 2)]

    assert [t.name for t in sorted(tags, key=display_order)] == [
        "a",
        "Zed",
        "last",
        "Alpha",
        "beta",
    ]


def test_tag_names_match_whatever_their_case_and_composition() -> None:
    assert name_key(" ÉCOLE ") == name_key("e\u0301cole")
    assert name_key("Straße") == name_key("STRASSE")


def test_a_status_etag_changes_with_its_label_or_position_only() -> None:
    status = Status(key="vip", label="VIP", is_default=True, position=4)
    first = status_etag(status)

    status.is_default = False
    unchanged = status_etag(status)
    status.label = "V.I.P."
    relabelled = status_etag(status)
    status.position = 1
    moved = status_etag(status)

    assert first == unchanged
    assert len({first, relabelled, moved}) == 3
    assert first.startswith('"vip-') and first.endswith('"')


def test_a_bulk_request_survives_its_trip_through_a_jobs_params() -> None:
    request = BulkRequest(
        action="add_tags",
        ids=[uuid.uuid4(), uuid.uuid4()],
        tag_ids=[uuid.uuid4()],
    )
    by_filter = BulkRequest(action="set_status", filter={"city": "Lyon"}, status="vip")

    assert BulkRequest.from_params("add_tags", request.to_params()) == request
    assert BulkRequest.from_params("set_status", by_filter.to_params()) == by_filter
    progress = {**by_filter.to_params(), "progress": {"after": str(uuid.uuid4())}}
    assert BulkRequest.from_params("set_status", progress) == by_filter


def test_unknown_tags_are_named_once_each_in_order() -> None:
    first, second = sorted([uuid.uuid4(), uuid.uuid4()])

    refusal = UnknownTags([second, first, second], field="tag_id")

    assert str(refusal) == f"unknown tag ids: {first}, {second}"
    assert refusal.field == "tag_id"


def test_unknown_tags_name_a_nested_field_where_they_were_given() -> None:
    tag_id = uuid.uuid4()

    in_filter = UnknownTags([tag_id], ("filter", "tag"))
    in_query = UnknownTags([tag_id], "tag", location="query")

    assert in_filter.field_errors() == {"json": {"filter": {"tag": [f"unknown tag ids: {tag_id}"]}}}
    assert in_query.field_errors() == {"query": {"tag": [f"unknown tag ids: {tag_id}"]}}
