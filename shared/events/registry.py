"""The catalogue of event types: each type's data schema, checked when emitting and consuming."""

from __future__ import annotations

import json
from typing import Any

from marshmallow import Schema, ValidationError

from shared.events.catalogue import CATALOGUE
from shared.events.envelope import CloudEvent, InvalidEvent, parse_envelope

_SCHEMAS: dict[str, Schema] = {name: schema() for name, schema in CATALOGUE.items()}


def register_event_type(event_type: str, schema: type[Schema] | Schema) -> None:
    """Declare an event type and the schema its `data` must satisfy."""
    _SCHEMAS[event_type] = schema() if isinstance(schema, type) else schema


def known_event_types() -> list[str]:
    """Every declared event type, sorted."""
    return sorted(_SCHEMAS)


def schema_for(event_type: str) -> Schema:
    """The data schema of an event type; InvalidEvent for an unknown type."""
    try:
        return _SCHEMAS[event_type]
    except KeyError:
        raise InvalidEvent(f"unknown event type {event_type!r}") from None


def validate_data(event_type: str, data: dict[str, Any]) -> None:
    """Check an event's data against its type's schema; InvalidEvent says what is wrong."""
    errors = schema_for(event_type).validate(data)
    if errors:
        raise InvalidEvent(f"invalid data for {event_type}: {json.dumps(errors, sort_keys=True)}")


def load_data(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """An event's data as its type's schema loads it; InvalidEvent says what is wrong."""
    try:
        loaded: dict[str, Any] = schema_for(event_type).load(data)
    except ValidationError as exc:
        errors = json.dumps(exc.messages, sort_keys=True, default=str)
        raise InvalidEvent(f"invalid data for {event_type}: {errors}") from None
    return loaded


def parse_event(body: Any) -> CloudEvent:
    """A valid event of a known type from a decoded message body, or InvalidEvent.

    Its `loaded` holds the data as the type's schema loaded it: what handlers act on.
    """
    return parse_envelope(body, load=load_data)
