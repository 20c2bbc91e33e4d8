"""The catalogue of event types: each type's data schema, checked when emitting and consuming."""

from __future__ import annotations

import json
from typing import Any

from marshmallow import Schema, ValidationError

from shared.events.catalogue import CATALOGUE
from shared.events.envelope import CloudEvent, InvalidEvent, parse_envelope

_SCHEMAS: dict[str, Schema] = {type: schema() for type, schema in CATALOGUE.items()}


def register_event_type(type: str, schema: type[Schema] | Schema) -> None:
    """Declare an event type and the schema its `data` must satisfy."""
    _SCHEMAS[type] = schema() if isinstance(schema, type) else schema


def known_event_types() -> list[str]:
    """Every declared event type, sorted."""
    return sorted(_SCHEMAS)


def schema_for(type: str) -> Schema:
    """The data schema of an event type; InvalidEvent for an unknown type."""
    try:
        return _SCHEMAS[type]
    except KeyError:
        raise InvalidEvent(f"unknown event type {type!r}") from None


def validate_data(type: str, data: dict[str, Any]) -> None:
    """Check an event's data against its type's schema; InvalidEvent says what is wrong."""
    errors = schema_for(type).validate(data)
    if errors:
        raise InvalidEvent(f"invalid data for {type}: {json.dumps(errors, sort_keys=True)}")


def parse_event(body: Any) -> CloudEvent:
    """A valid event of a known type from a decoded message body, or InvalidEvent."""
    event = parse_envelope(body)
    validate_data(event.type, event.data)
    return event
