"""The catalogue of event types (shared.events.registry, shared.events.catalogue): what a handler
is given is the data as its type's schema loads it, and a refusal says which fields and why,
in a stable order (it becomes a dead letter's reason)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from marshmallow import Schema, fields

from shared.events import registry
from shared.events.envelope import InvalidEvent, make_event
from shared.events.registry import (
    known_event_types,
    load_data,
    parse_event,
    register_event_type,
    schema_for,
    validate_data,
)

A, B = str(uuid.uuid4()), str(uuid.uuid4())


class ProbeData(Schema):
    n = fields.Integer(required=True)


@pytest.fixture
def probes() -> Iterator[None]:
    """`unit.probe_class` declared by its schema class, `unit.probe_instance` by an instance."""
    register_event_type("unit.probe_class", ProbeData)
    register_event_type("unit.probe_instance", ProbeData())
    yield
    registry._SCHEMAS.pop("unit.probe_class", None)
    registry._SCHEMAS.pop("unit.probe_instance", None)


def test_a_type_declared_by_its_schema_class_or_instance_is_checked(probes: None) -> None:
    for event_type in ("unit.probe_class", "unit.probe_instance"):
        assert isinstance(schema_for(event_type), ProbeData)
        assert event_type in known_event_types()
        assert load_data(event_type, {"n": "7"}) == {"n": 7}
        with pytest.raises(InvalidEvent, match=r"invalid data for unit\.probe_\w+: .*\"n\""):
            validate_data(event_type, {})
    assert known_event_types() == sorted(known_event_types())


def test_an_unknown_type_is_refused_by_its_name() -> None:
    with pytest.raises(InvalidEvent, match="unknown event type 'nobody.knows'"):
        schema_for("nobody.knows")


def test_a_refusal_lists_every_wrong_field_in_a_stable_order() -> None:
    """TagStateData declares `id, name, description, color, ...`: the reason sorts them."""
    expected = {
        field: ["Missing data for required field."]
        for field in sorted(
            ["id", "name", "description", "color", "order", "is_fixed", "created_at", "updated_at"]
        )
    }
    reason = f"invalid data for tag.created: {json.dumps(expected)}"
    with pytest.raises(InvalidEvent) as validated:
        validate_data("tag.created", {})
    assert str(validated.value) == reason
    with pytest.raises(InvalidEvent) as loaded:
        load_data("tag.created", {})
    assert str(loaded.value) == reason


def test_an_event_carries_its_data_as_the_schema_loads_it() -> None:
    """`from` (a Python keyword) is loaded as `from_`, ids as UUIDs; the envelope keeps the raw
    data as it came."""
    data = {"from": A, "into": B}
    event = parse_event(make_event("tag.merged", data, "s").to_dict())
    assert event.type == "tag.merged" and event.data == data
    assert event.loaded == {"from_": uuid.UUID(A), "into": uuid.UUID(B)}


@pytest.mark.parametrize(
    "data",
    [
        {"into": B},  # `from` missing
        {"from": A},  # `into` missing
        {"from_": A, "into": B},  # the Python name is not the event's
        {"from": "not-a-uuid", "into": B},
    ],
)
def test_ids_the_catalogue_requires_are_required(data: dict[str, str]) -> None:
    with pytest.raises(InvalidEvent, match="invalid data for tag.merged"):
        load_data("tag.merged", data)
