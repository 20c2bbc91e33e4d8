"""Consent records: one per channel switched, a proof needed to switch one on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from services.customers.models import ConsentRecord, Customer, Phone
from services.customers.profiles.consent import (
    ConsentProof,
    channel_states,
    record_consent_changes,
    switch_channels_off,
)
from services.customers.profiles.errors import InvalidProfile

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PROOF = ConsentProof(source="signed form", obtained_at=datetime(2026, 2, 1, tzinfo=UTC))


class FakeSession:
    """Collects what is added, as a session would before flushing."""

    def __init__(self) -> None:
        self.added: list[Any] = []

    def add(self, row: Any) -> None:
        self.added.append(row)

    def add_all(self, rows: Any) -> None:
        self.added.extend(rows)


def consenting_customer() -> Customer:
    return Customer(
        id=uuid.uuid4(),
        email_consent=True,
        newsletter_subscribed=False,
        phones=[Phone(number="+33612345678", sms=True, whatsapp=False, viber=False)],
    )


def test_channel_states_name_every_channel_of_the_customer() -> None:
    assert channel_states(consenting_customer()) == {
        "email": True,
        "newsletter": False,
        "phone:+33612345678:sms": True,
        "phone:+33612345678:whatsapp": False,
        "phone:+33612345678:viber": False,
    }


def test_switching_channels_off_leaves_none_on() -> None:
    customer = consenting_customer()

    switch_channels_off(customer)

    assert not any(channel_states(customer).values())


def test_a_record_is_written_per_channel_switched_with_who_when_and_how() -> None:
    session = FakeSession()
    customer = consenting_customer()

    changed = record_consent_changes(
        session,  # type: ignore[arg-type]
        customer,
        {"email": False, "newsletter": False},
        channel_states(customer),
        "staff:alice",
        PROOF,
        NOW,
    )

    assert changed == ["email", "phone:+33612345678:sms"]
    records: list[ConsentRecord] = session.added
    assert [(r.channel, r.granted, r.source, r.recorded_by) for r in records] == [
        ("email", True, "signed form", "staff:alice"),
        ("phone:+33612345678:sms", True, "signed form", "staff:alice"),
    ]
    assert all(r.obtained_at == PROOF.obtained_at and r.recorded_at == NOW for r in records)


def test_switching_on_without_a_proof_is_refused_on_consent() -> None:
    with pytest.raises(InvalidProfile) as refused:
        record_consent_changes(
            FakeSession(),  # type: ignore[arg-type]
            consenting_customer(),
            {},
            {"email": True},
            "staff:alice",
            None,
            NOW,
        )

    assert "email" in refused.value.errors["consent"][0]  # type: ignore[index]


def test_switching_off_without_a_proof_is_a_withdrawal_made_now() -> None:
    session = FakeSession()

    record_consent_changes(
        session,  # type: ignore[arg-type]
        consenting_customer(),
        {"email": True},
        {"email": False},
        "staff:bob",
        None,
        NOW,
    )

    [record] = session.added
    assert (record.granted, record.source, record.obtained_at) == (False, "api", NOW)


def test_nothing_switched_records_nothing() -> None:
    session = FakeSession()
    states = {"email": True}

    changed = record_consent_changes(
        session,  # type: ignore[arg-type]
        consenting_customer(),
        states,
        states,
        "staff:bob",
        None,
        NOW,
    )

    assert changed == []
    assert session.added == []
