"""Consent (C4): every channel is off until consent is recorded; each change is recorded.

A channel is `email`, `newsletter`, or `phone:<E.164>:<sms|whatsapp|viber>` (ConsentRecord's
spelling). Switching a channel on needs a proof (how and when the consent was obtained);
switching one off does not, and is recorded as a withdrawal made through the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from services.customers.models import ConsentRecord, Customer
from services.customers.profiles.errors import InvalidProfile

PHONE_CHANNELS = ("sms", "whatsapp", "viber")
WITHDRAWAL_SOURCE = "api"


@dataclass(frozen=True)
class ConsentProof:
    """How (`source`) and when a consent was obtained, as the request states it."""

    source: str
    obtained_at: datetime


def proof_from(body: Mapping[str, Any]) -> ConsentProof | None:
    """The consent record a request body carries, if any."""
    consent = body.get("consent")
    if not consent:
        return None
    return ConsentProof(source=consent["source"], obtained_at=consent["obtained_at"])


def phone_channel(number: str, channel: str) -> str:
    """The channel name of one phone's `sms`, `whatsapp` or `viber`."""
    return f"phone:{number}:{channel}"


def channel_states(customer: Customer) -> dict[str, bool]:
    """Every consent channel of the customer and whether it is on."""
    states = {"email": customer.email_consent, "newsletter": customer.newsletter_subscribed}
    for phone in customer.phones:
        for channel in PHONE_CHANNELS:
            states[phone_channel(phone.number, channel)] = bool(getattr(phone, channel))
    return states


def switch_channels_off(customer: Customer) -> None:
    """Every channel off: what a new customer gets without a consent record."""
    customer.email_consent = False
    customer.newsletter_subscribed = False
    for phone in customer.phones:
        phone.sms = phone.whatsapp = phone.viber = False


def record_consent_changes(
    session: Session,
    customer: Customer,
    before: Mapping[str, bool],
    after: Mapping[str, bool],
    actor: str,
    proof: ConsentProof | None,
    now: datetime,
) -> list[str]:
    """A ConsentRecord per channel switched on or off (who, when, how); the channels changed.

    InvalidProfile on `consent` when a channel is switched on without a proof.
    """
    records = consent_changes(customer, before, after, actor, proof, now)
    session.add_all(records)
    return [record.channel for record in records]


def consent_changes(
    customer: Customer,
    before: Mapping[str, bool],
    after: Mapping[str, bool],
    actor: str,
    proof: ConsentProof | None,
    now: datetime,
) -> list[ConsentRecord]:
    """`record_consent_changes`'s records, not added to a session (an import writes many)."""
    changed = sorted(
        channel
        for channel in before.keys() | after.keys()
        if before.get(channel, False) != after.get(channel, False)
    )
    granted = [channel for channel in changed if after.get(channel, False)]
    if granted and proof is None:
        raise InvalidProfile(
            {
                "consent": [
                    "switching on a channel needs the consent record {source, obtained_at}: "
                    + ", ".join(granted)
                ]
            }
        )
    return [
        ConsentRecord(
            customer_id=customer.id,
            channel=channel,
            granted=after.get(channel, False),
            source=proof.source if proof else WITHDRAWAL_SOURCE,
            obtained_at=proof.obtained_at if proof else now,
            recorded_by=actor,
            recorded_at=now,
        )
        for channel in changed
    ]
