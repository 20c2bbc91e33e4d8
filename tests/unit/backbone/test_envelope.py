"""The envelope check a consumer runs on every message (`envelope_errors`, by hand for speed) must
refuse exactly what `EnvelopeSchema` (the documented rules) refuses, field by field, and an
event must survive its trip through JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.events.envelope import (
    CloudEvent,
    EnvelopeSchema,
    InvalidEvent,
    envelope_errors,
    make_event,
    parse_envelope,
    parse_time,
)

VALID: dict[str, Any] = {
    "specversion": "1.0",
    "id": "e-1",
    "type": "tag.deleted",
    "source": "crm-tags",
    "time": "2026-01-02T03:04:05.678Z",
    "datacontenttype": "application/json",
    "data": {"id": "x"},
}
MISSING = object()


def variant(**changes: Any) -> dict[str, Any]:
    body = {**VALID, **changes}
    return {name: value for name, value in body.items() if value is not MISSING}


CASES = [
    VALID,
    variant(specversion="0.3"),
    variant(specversion=MISSING),
    *[variant(**{name: MISSING}) for name in ("id", "type", "source", "time", "data")],
    variant(datacontenttype=MISSING),
    variant(datacontenttype="text/plain"),
    *[variant(**{name: value}) for name in ("id", "type", "source") for value in ("", 7, None)],
    variant(id="x" * 200),
    variant(id="x" * 201),
    variant(type="t" * 200),
    variant(type="t" * 201),
    variant(source="s" * 500),
    variant(source="s" * 501),
    *[
        variant(**{name: value})
        for name in ("subject", "correlationid")
        for value in (None, "", "a" * 200, "a" * 201, 7)
    ],
    variant(subject=None, correlationid=7),  # a null field does not end the check
    variant(time="2026-01-02T03:04:05"),  # no offset
    variant(time="2026-01-02T03:04:05+02:00"),
    variant(time="yesterday"),
    variant(time=1767322245),
    variant(time=None),
    variant(data=[]),
    variant(data=None),
    variant(data={}),
]


@pytest.mark.parametrize("body", CASES)
def test_the_fast_envelope_check_refuses_the_fields_the_schema_refuses(
    body: dict[str, Any],
) -> None:
    assert sorted(envelope_errors(body)) == sorted(EnvelopeSchema().validate(body))


def test_a_refused_envelope_says_each_field_and_why_in_a_stable_order() -> None:
    body = variant(id=MISSING, type="", source=7, specversion="2", data=[], time="x")
    with pytest.raises(InvalidEvent) as refused:
        parse_envelope(body)
    expected = {
        "data": ["Not a valid mapping type."],
        "id": ["Missing data for required field."],
        "source": ["Not a valid string."],
        "specversion": ["Must be equal to 1.0."],
        "time": ["Not a valid aware datetime."],
        "type": ["Length must be between 1 and 200."],
    }
    assert str(refused.value) == f"invalid envelope: {json.dumps(expected)}"
    with pytest.raises(InvalidEvent) as refused:
        parse_envelope(variant(time=MISSING, subject="a" * 201))
    expected = {
        "subject": ["Length must be between 0 and 200."],
        "time": ["Missing data for required field."],
    }
    assert str(refused.value) == f"invalid envelope: {json.dumps(expected)}"
    with pytest.raises(InvalidEvent) as refused:
        parse_envelope(variant(data=MISSING, datacontenttype="text/plain"))
    expected = {
        "data": ["Missing data for required field."],
        "datacontenttype": ["Must be one of: application/json."],
    }
    assert str(refused.value) == f"invalid envelope: {json.dumps(expected)}"
    with pytest.raises(InvalidEvent, match="not a JSON object"):
        parse_envelope([VALID])


def test_times_need_their_offset() -> None:
    assert parse_time("2026-01-02T03:04:05Z") is not None
    assert parse_time("2026-01-02T03:04:05.5+02:00") is not None
    for value in ("2026-01-02T03:04:05", "nope", None, 5):
        assert parse_time(value) is None


def test_an_event_round_trips_through_its_json_unchanged() -> None:
    event = make_event(
        "tag.deleted", {"name": "Zoë"}, "crm-tags", subject="s-1", correlationid="c-1"
    )
    assert (event.subject, event.correlationid) == ("s-1", "c-1")
    text = event.to_json()
    assert "Zoë" in text and ", " not in text and ": " not in text  # compact, UTF-8 kept
    body = json.loads(text)
    assert body["specversion"] == "1.0" and body["datacontenttype"] == "application/json"
    assert body["time"].endswith("Z") and parse_time(body["time"]) is not None
    parsed = parse_envelope(body)
    assert parsed == event
    bare = CloudEvent(id="e", type="tag.deleted", source="s", time=VALID["time"], data={})
    assert "subject" not in bare.to_dict() and "correlationid" not in bare.to_dict()
    assert parse_envelope(bare.to_dict()) == bare
    assert make_event("tag.deleted", {}, "s").id != make_event("tag.deleted", {}, "s").id
