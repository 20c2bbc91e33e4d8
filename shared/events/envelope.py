"""The CloudEvents 1.0 structured-JSON envelope every event of the suite travels in."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

from shared.logging import accept_correlation_id


class InvalidEvent(ValueError):
    """A message that is not a valid event of a known type; it goes to the dead-letter queue."""


@dataclass(frozen=True)
class CloudEvent:
    """One event: who said what happened, about whom, when, and why (correlation id)."""

    id: str
    type: str
    source: str
    time: str
    data: dict[str, Any] = field(default_factory=dict)
    subject: str | None = None
    correlationid: str | None = None
    # The data as its type's schema loaded it (UUIDs, datetimes, booleans, decimals): what
    # handlers act on. Set by `registry.parse_event`; raw JSON `data` is only for passing on.
    loaded: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The structured-mode JSON object."""
        body: dict[str, Any] = {
            "specversion": "1.0",
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "time": self.time,
            "datacontenttype": "application/json",
            "data": self.data,
        }
        if self.subject is not None:
            body["subject"] = self.subject
        if self.correlationid is not None:
            body["correlationid"] = self.correlationid
        return body

    def to_json(self) -> str:
        """The envelope as compact JSON text."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)


def make_event(
    type: str,
    data: dict[str, Any],
    source: str,
    subject: str | None = None,
    correlationid: str | None = None,
) -> CloudEvent:
    """A new event with a fresh id and the current time."""
    return CloudEvent(
        id=str(uuid.uuid4()),
        type=type,
        source=source,
        time=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        data=data,
        subject=subject,
        correlationid=correlationid,
    )


class EnvelopeSchema(Schema):
    """The envelope fields, for documentation (OpenAPI) and tools; `parse_envelope` checks the
    same rules by hand, since it runs for every message a consumer receives."""

    class Meta:
        unknown = EXCLUDE

    specversion = fields.String(required=True, validate=validate.Equal("1.0"))
    id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    type = fields.String(required=True, validate=validate.Length(min=1, max=200))
    source = fields.String(required=True, validate=validate.Length(min=1, max=500))
    time = fields.AwareDateTime(required=True)
    subject = fields.String(allow_none=True, validate=validate.Length(max=200))
    datacontenttype = fields.String(validate=validate.OneOf(["application/json"]))
    correlationid = fields.String(allow_none=True, validate=validate.Length(max=200))
    data = fields.Dict(required=True)


# (field, required, maximum length or None when it is not a string, may be null)
_TEXT_FIELDS = (
    ("id", True, 200, False),
    ("type", True, 200, False),
    ("source", True, 500, False),
    ("subject", False, 200, True),
    ("correlationid", False, 200, True),
)


def envelope_errors(body: dict[str, Any]) -> dict[str, list[str]]:
    """What is wrong with an envelope, field by field (EnvelopeSchema's rules); empty if valid."""
    errors: dict[str, list[str]] = {}
    if body.get("specversion") != "1.0":
        errors["specversion"] = ["Must be equal to 1.0."]
    for name, required, longest, nullable in _TEXT_FIELDS:
        if name not in body:
            if required:
                errors[name] = ["Missing data for required field."]
            continue
        value = body[name]
        if value is None and nullable:
            continue
        if not isinstance(value, str):
            errors[name] = ["Not a valid string."]
        elif not (1 if required else 0) <= len(value) <= longest:
            errors[name] = [f"Length must be between {1 if required else 0} and {longest}."]
    if "time" not in body:
        errors["time"] = ["Missing data for required field."]
    elif parse_time(body["time"]) is None:
        errors["time"] = ["Not a valid aware datetime."]
    if body.get("datacontenttype", "application/json") != "application/json":
        errors["datacontenttype"] = ["Must be one of: application/json."]
    if "data" not in body:
        errors["data"] = ["Missing data for required field."]
    elif not isinstance(body["data"], dict):
        errors["data"] = ["Not a valid mapping type."]
    return errors


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time with its offset, or None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def parse_envelope(
    body: Any, load: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None
) -> CloudEvent:
    """The event in a decoded message body, or InvalidEvent saying what is wrong with it.

    With `load`, the event's `loaded` is `load(type, data)`, called once the envelope is valid
    (it raises InvalidEvent for data its type refuses).
    """
    if not isinstance(body, dict):
        raise InvalidEvent("the body is not a JSON object")
    errors = envelope_errors(body)
    if errors:
        raise InvalidEvent(f"invalid envelope: {json.dumps(errors, sort_keys=True)}")
    return CloudEvent(
        id=body["id"],
        type=body["type"],
        source=body["source"],
        time=body["time"],
        data=body["data"],
        subject=body.get("subject"),
        correlationid=_correlation(body.get("correlationid")),
        loaded=None if load is None else load(body["type"], body["data"]),
    )


def _correlation(value: str | None) -> str | None:
    """A correlation id as HTTP requests have them (`[A-Za-z0-9._-]{1,64}`), so that a log
    line or a later event never carries what another system wrote there; a fresh one instead."""
    return None if value is None else accept_correlation_id(value)
