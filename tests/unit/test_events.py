"""The CloudEvents envelope and the catalogue of event schemas."""

import json
import re
import uuid
from pathlib import Path

import pytest

from shared.events.catalogue import CATALOGUE
from shared.events.envelope import InvalidEvent, make_event
from shared.events.registry import parse_event, validate_data


def test_an_event_round_trips_through_json():
    event = make_event(
        "billing.payment.recorded",
        {
            "customer_id": "5b1f6a1e-3c1e-4f7e-9d55-6d1c7b4c2a10",
            "amount": "12.50",
            "currency": "EUR",
        },
        source="billing",
        subject="5b1f6a1e-3c1e-4f7e-9d55-6d1c7b4c2a10",
        correlationid="c-1",
    )
    parsed = parse_event(json.loads(event.to_json()))
    assert parsed == event
    assert json.loads(event.to_json())["specversion"] == "1.0"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([], "not a JSON object"),
        ({"type": "tag.deleted"}, "invalid envelope"),
        ({**make_event("x.unknown", {}, "s").to_dict()}, "unknown event type"),
        ({**make_event("tag.deleted", {"id": "nope"}, "s").to_dict()}, "invalid data"),
        ({**make_event("tag.deleted", {}, "s").to_dict(), "specversion": "0.3"}, "specversion"),
    ],
)
def test_invalid_events_are_refused_with_the_reason(body, reason):
    with pytest.raises(InvalidEvent, match=reason):
        parse_event(body)


def test_event_data_tolerates_fields_it_does_not_know():
    validate_data(
        "tag.deleted", {"id": "5b1f6a1e-3c1e-4f7e-9d55-6d1c7b4c2a10", "name": "VIP", "new": 1}
    )


def test_amounts_are_decimal_strings_and_currencies_iso_codes():
    with pytest.raises(InvalidEvent, match="amount"):
        validate_data(
            "billing.payment.recorded",
            {
                "customer_id": "5b1f6a1e-3c1e-4f7e-9d55-6d1c7b4c2a10",
                "amount": 12.5,
                "currency": "EUR",
            },
        )
    with pytest.raises(InvalidEvent, match="currency"):
        validate_data(
            "billing.payment.recorded",
            {
                "customer_id": "5b1f6a1e-3c1e-4f7e-9d55-6d1c7b4c2a10",
                "amount": "1",
                "currency": "eur",
            },
        )


def test_every_documented_event_type_has_a_schema():
    documented = Path("docs/events.md").read_text(encoding="utf-8")
    for event_type in CATALOGUE:
        assert f"`{event_type}`" in documented, event_type


def test_a_malformed_correlation_id_in_an_event_is_replaced():
    body = make_event("tag.deleted", {"id": str(uuid.uuid4()), "name": "VIP"}, "s").to_dict()
    kept = parse_event({**body, "correlationid": "req-1.2_3"})
    assert kept.correlationid == "req-1.2_3"
    replaced = parse_event({**body, "correlationid": "evil\nline" + "x" * 100})
    assert replaced.correlationid and re.fullmatch(r"[A-Za-z0-9._-]{1,64}", replaced.correlationid)
