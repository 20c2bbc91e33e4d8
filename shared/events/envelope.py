"""The CloudEvents 1.0 structured-JSON envelope every event of the suite travels in."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate


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
    """Validates the envelope fields; `data` is checked by the schema of the event's type."""

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


_envelope_schema = EnvelopeSchema()


def parse_envelope(body: Any) -> CloudEvent:
    """The event in a decoded message body, or InvalidEvent saying what is wrong with it."""
    if not isinstance(body, dict):
        raise InvalidEvent("the body is not a JSON object")
    try:
        _envelope_schema.load(body)
    except ValidationError as exc:
        raise InvalidEvent(f"invalid envelope: {json.dumps(exc.messages, sort_keys=True)}") from exc
    return CloudEvent(
        id=body["id"],
        type=body["type"],
        source=body["source"],
        time=body["time"],
        data=body["data"],
        subject=body.get("subject"),
        correlationid=body.get("correlationid"),
    )
