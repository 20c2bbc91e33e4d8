"""An import checks rows with `new_customer(plain=True)`: the same rules and the same values as
the mapped customer `POST /customers` builds, only without the mapping's bookkeeping."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from services.customers.imports.rows import CONSENT_FIELDS, CUSTOMER_COLUMNS, PHONE_FIELDS
from services.customers.profiles.consent import channel_states, consent_changes, proof_from
from services.customers.profiles.drafts import CustomerDraft
from services.customers.profiles.errors import InvalidProfile
from services.customers.profiles.schemas import CustomerCreateSchema
from services.customers.profiles.usecases import new_customer
from shared.db import utcnow

pytestmark = pytest.mark.needs_postgres

BODY = {
    "kind": "individual",
    "first_name": " Élodie ",
    "last_name": "Dupré",
    "email": "Elodie@Example.COM",
    "language": "fr",
    "address": {"street": "1 rue de la Paix", "postal_code": "69001", "city": "Lyon",
                "country": "fr"},
    "phones": [{"number": "06 12 34 56 78", "sms": True}, {"number": "+32 470 12 34 56",
                                                          "type": "work"}],
    "newsletter_lists": ["news", "offers", "news"],
    "email_consent": True,
    "consent": {"source": "signed form", "obtained_at": "2026-01-02T10:00:00+00:00"},
    "billing": {"vat_number": "FR40303265045"},
    "source": {"channel": "fair", "campaign": "spring"},
    "notes": "met at the fair",
}  # fmt: skip


def values(customer: Any) -> dict[str, Any]:
    columns = {name: getattr(customer, name) for name in CUSTOMER_COLUMNS}
    columns.pop("id")
    return {
        "columns": columns,
        "phones": [{name: getattr(p, name) for name in PHONE_FIELDS} for p in customer.phones],
        "lists": [subscription.list_name for subscription in customer.newsletter_lists],
        "consents": [
            {name: getattr(record, name) for name in CONSENT_FIELDS if name != "customer_id"}
            for record in consent_changes(
                customer, {}, channel_states(customer), "staff:1", proof_from(BODY_LOADED), NOW
            )
        ],
    }


BODY_LOADED = CustomerCreateSchema().load(BODY)
NOW = utcnow()


def test_a_draft_has_the_values_of_the_mapped_customer(app: Flask) -> None:
    with app.extensions["crm"].session_factory() as session:
        mapped = new_customer(session, BODY_LOADED, "FR", NOW)
        draft = new_customer(session, BODY_LOADED, "FR", NOW, plain=True)

    assert isinstance(draft, CustomerDraft)
    assert values(draft) == values(mapped)
    assert values(draft)["phones"][0]["sms"] is True
    assert values(draft)["lists"] == ["news", "offers"]


def test_a_draft_is_refused_as_the_mapped_customer_is(app: Flask) -> None:
    body = CustomerCreateSchema().load(
        {"kind": "individual", "email": "a@example.com", "phones": [{"number": "12"}]}
    )
    refusals = []
    with app.extensions["crm"].session_factory() as session:
        for plain in (False, True):
            with pytest.raises(InvalidProfile) as refused:
                new_customer(session, body, "FR", NOW, plain=plain)
            refusals.append(refused.value.field_errors())

    assert refusals[0] == refusals[1]
    assert "phones" in str(refusals[1]) and "first_name" in str(refusals[1])
