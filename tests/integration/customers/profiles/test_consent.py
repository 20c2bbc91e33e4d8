"""Consent (C4): channels off until consent is recorded; who, when and how for every change."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from services.customers.models import ConsentRecord

pytestmark = pytest.mark.needs_postgres

ALL_ON: dict[str, Any] = {
    "email": "jeanne@example.com",
    "email_consent": True,
    "newsletter_subscribed": True,
    "phones": [{"number": "+33612345678", "sms": True, "whatsapp": True, "viber": True}],
}
PROOF = {"source": "signed form", "obtained_at": "2026-01-15T10:30:00Z"}


def _channels(records: list[ConsentRecord]) -> dict[str, bool]:
    return {record.channel: record.granted for record in records}


def test_a_new_customer_has_every_channel_off_whatever_the_request_says(
    new_customer: Callable[..., dict[str, Any]],
    consent_records: Callable[[str], list[ConsentRecord]],
) -> None:
    customer = new_customer(**ALL_ON)

    assert customer["email_consent"] is False
    assert customer["newsletter_subscribed"] is False
    assert customer["phones"][0] == {
        "number": "+33612345678",
        "type": "mobile",
        "sms": False,
        "whatsapp": False,
        "viber": False,
    }
    assert consent_records(customer["id"]) == []


def test_a_new_customer_with_a_consent_record_keeps_its_channels_and_the_record(
    new_customer: Callable[..., dict[str, Any]],
    consent_records: Callable[[str], list[ConsentRecord]],
) -> None:
    customer = new_customer(**ALL_ON, consent=PROOF)

    assert customer["email_consent"] is True
    assert customer["newsletter_subscribed"] is True
    assert customer["phones"][0]["sms"] is True
    records = consent_records(customer["id"])
    assert _channels(records) == {
        "email": True,
        "newsletter": True,
        "phone:+33612345678:sms": True,
        "phone:+33612345678:viber": True,
        "phone:+33612345678:whatsapp": True,
    }
    for record in records:
        assert record.source == "signed form"
        assert record.obtained_at == datetime.fromisoformat("2026-01-15T10:30:00+00:00")
        assert record.recorded_by == "staff:alice"


def test_a_consent_record_only_records_the_channels_switched_on(
    new_customer: Callable[..., dict[str, Any]],
    consent_records: Callable[[str], list[ConsentRecord]],
) -> None:
    customer = new_customer(email="j@example.com", email_consent=True, consent=PROOF)

    assert customer["newsletter_subscribed"] is False
    assert _channels(consent_records(customer["id"])) == {"email": True}


def test_switching_a_channel_on_records_who_when_and_how(
    client: FlaskClient,
    writer: dict[str, str],
    new_customer: Callable[..., dict[str, Any]],
    consent_records: Callable[[str], list[ConsentRecord]],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    customer = new_customer(email="jeanne@example.com")

    response = client.patch(
        f"/customers/{customer['id']}",
        json={
            "email_consent": True,
            "consent": {"source": "phone call", "obtained_at": "2026-02-01T09:00:00+01:00"},
        },
        headers=writer,
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["email_consent"] is True
    [record] = consent_records(customer["id"])
    assert (record.channel, record.granted, record.source) == ("email", True, "phone call")
    assert record.obtained_at == datetime.fromisoformat("2026-02-01T08:00:00+00:00")
    assert record.recorded_by == "staff:alice"
    [event] = outbox("customer.updated", subject=customer["id"])
    assert event["data"]["changed"] == ["email_consent"]
    assert event["data"]["customer"]["email_consent"] is True


def test_switching_a_channel_on_without_a_consent_record_is_a_422_and_changes_nothing(
    client: FlaskClient,
    writer: dict[str, str],
    new_customer: Callable[..., dict[str, Any]],
    counts: Callable[[], dict[str, int]],
) -> None:
    customer = new_customer(phones=[{"number": "+33612345678"}])
    before = counts()

    response = client.patch(
        f"/customers/{customer['id']}",
        json={"first_name": "Jeanine", "phones": [{"number": "+33612345678", "sms": True}]},
        headers=writer,
    )

    assert response.status_code == 422
    assert "phone:+33612345678:sms" in response.get_json()["errors"]["json"]["consent"][0]
    assert counts() == before
    assert client.get(f"/customers/{customer['id']}", headers=writer).get_json() == customer


def test_switching_a_channel_off_is_recorded_as_a_withdrawal(
    client: FlaskClient,
    writer: dict[str, str],
    new_customer: Callable[..., dict[str, Any]],
    consent_records: Callable[[str], list[ConsentRecord]],
) -> None:
    customer = new_customer(**ALL_ON, consent=PROOF)

    response = client.patch(
        f"/customers/{customer['id']}", json={"newsletter_subscribed": False}, headers=writer
    )

    assert response.status_code == 200
    withdrawals = [r for r in consent_records(customer["id"]) if not r.granted]
    assert [(r.channel, r.source, r.recorded_by) for r in withdrawals] == [
        ("newsletter", "api", "staff:alice")
    ]


def test_phone_flags_left_out_of_a_patch_keep_their_consent(
    client: FlaskClient,
    writer: dict[str, str],
    new_customer: Callable[..., dict[str, Any]],
    consent_records: Callable[[str], list[ConsentRecord]],
) -> None:
    customer = new_customer(**ALL_ON, consent=PROOF)

    response = client.patch(
        f"/customers/{customer['id']}",
        json={"phones": [{"number": "06 12 34 56 78", "type": "home"}, {"number": "+33698765432"}]},
        headers=writer,
    )

    assert response.status_code == 200, response.get_json()
    first, second = response.get_json()["phones"]
    assert (first["type"], first["sms"], first["whatsapp"], first["viber"]) == (
        "home",
        True,
        True,
        True,
    )
    assert (second["sms"], second["whatsapp"], second["viber"]) == (False, False, False)
    assert len(consent_records(customer["id"])) == 5


def test_removing_a_phone_withdraws_its_consent(
    client: FlaskClient,
    writer: dict[str, str],
    new_customer: Callable[..., dict[str, Any]],
    consent_records: Callable[[str], list[ConsentRecord]],
) -> None:
    customer = new_customer(**ALL_ON, consent=PROOF)

    response = client.patch(f"/customers/{customer['id']}", json={"phones": []}, headers=writer)

    assert response.status_code == 200
    withdrawn = sorted(r.channel for r in consent_records(customer["id"]) if not r.granted)
    assert withdrawn == [
        "phone:+33612345678:sms",
        "phone:+33612345678:viber",
        "phone:+33612345678:whatsapp",
    ]
