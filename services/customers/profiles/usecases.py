"""Use cases of customer profiles: one transaction each, its events written to the outbox in it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.customers.events import contact_of
from services.customers.models import INITIAL_STATUS, Customer, Status
from services.customers.profiles import validation
from services.customers.profiles.consent import (
    channel_states,
    proof_from,
    record_consent_changes,
    switch_channels_off,
)
from services.customers.profiles.drafts import CustomerDraft
from services.customers.profiles.editing import apply_profile, editable_state
from services.customers.profiles.errors import CustomerNotFound, DuplicateEmail, InvalidProfile
from services.customers.profiles.reads import read_back
from services.customers.profiles.representation import CustomerView
from services.customers.statuses import change_status
from services.customers.timeline.entries import delete_timeline
from shared.db import UnitOfWork, utcnow

Precondition = Callable[[Customer], None]
"""Checked on the locked customer before a change (e.g. If-Match); raises to refuse."""

SORT_NAME_MAX_LENGTH = 320


# --- derived fields -----------------------------------------------------------------------------
def refresh_search_fields(customer: Customer) -> None:
    """Recompute `sort_name` and `search_text` from the names, email and phones; call on writes.

    `search_text` is what the list's `q` searches: the names, company and email lower-cased, and
    each phone in E.164 with and without its `+`, and as dialled in its own country.
    """
    if customer.kind == "company":
        sort_name = customer.company_name or ""
    else:
        sort_name = " ".join(part for part in (customer.last_name, customer.first_name) if part)
    customer.sort_name = sort_name.lower()[:SORT_NAME_MAX_LENGTH]
    parts = [customer.first_name, customer.last_name, customer.company_name, customer.email]
    for phone in customer.phones:
        parts += [
            phone.number,
            phone.number.removeprefix("+"),
            validation.national_digits(phone.number),
        ]
    customer.search_text = " ".join(part for part in parts if part).lower()


# --- writes -------------------------------------------------------------------------------------
def create_customer(
    uow: UnitOfWork, body: Mapping[str, Any], actor: str, phone_region: str
) -> CustomerView:
    """A new customer, every channel off unless the body proves consent (`customer.created`)."""
    with uow:
        customer = insert_customer(uow, body, actor, phone_region)
        answer = read_back(uow.session, customer.id)
        uow.commit()
    return answer


def insert_customer(
    uow: UnitOfWork, body: Mapping[str, Any], actor: str, phone_region: str
) -> Customer:
    """`create_customer` inside the caller's transaction, not committed: the same checks
    (status, email taken, names, phones, VAT, consent) and `customer.created`."""
    if body.get("email"):
        _refuse_taken_email(uow.session, body["email"], None)
    now = utcnow()
    customer = new_customer(uow.session, body, phone_region, now)
    uow.session.add(customer)
    # Consent records are not related to the customer in the mapping: its row goes first.
    _flush_or_duplicate(uow, customer)
    record_consent_changes(
        uow.session, customer, {}, channel_states(customer), actor, proof_from(body), now
    )
    uow.emit("customer.created", created_data(customer), subject=str(customer.id))
    return customer


def new_customer(
    session: Session,
    body: Mapping[str, Any],
    phone_region: str,
    now: datetime,
    *,
    plain: bool = False,
    statuses: set[str] | None = None,
) -> Customer:
    """The customer a validated body of `POST /customers` makes, not added to the session
    (an import writes many at once): status known, names, phones, VAT, every channel off unless
    the body proves consent; InvalidProfile. Whether the email is taken is the caller's check.
    `plain`: the same customer as a `CustomerDraft` (read alike, never mapped), for a caller
    that keeps only its values. `statuses`: status keys known to exist (a caller checking many
    rows reads them once); one missing is looked up before it is refused, and added if found."""
    status = body.get("status") or INITIAL_STATUS
    _refuse_unknown_status(session, status, statuses)
    make: Any = CustomerDraft if plain else Customer
    customer: Customer = make(
        id=uuid.uuid4(),
        kind=body["kind"],
        status=status,
        # Only a status chosen by someone is a change; the initial one is not.
        status_changed_at=now if body.get("status") else None,
        email_consent=False,
        newsletter_subscribed=False,
        is_supplier=False,
        is_conflict=False,
        login_enabled=False,
        email_confirmed=False,
        shipping_addresses=[],
        phones=[],
        newsletter_lists=[],
        custom_fields={},
        version=1,
        created_at=now,
        updated_at=now,
    )
    apply_profile(session, customer, body, phone_region)
    if proof_from(body) is None:
        switch_channels_off(customer)
    refresh_search_fields(customer)
    return customer


def created_data(customer: Any) -> dict[str, Any]:
    """The data of `customer.created` (of a `Customer`, or anything with its columns)."""
    return {
        "customer_id": str(customer.id),
        "kind": customer.kind,
        "status": customer.status,
        "customer": contact_of(customer),
    }


def update_customer(
    uow: UnitOfWork,
    customer_id: uuid.UUID,
    body: Mapping[str, Any],
    actor: str,
    phone_region: str,
    precondition: Precondition | None = None,
) -> CustomerView:
    """Change a customer's fields (`customer.updated`); a `status` is a manual status change."""
    with uow:
        customer = locked_customer(uow.session, customer_id)
        if precondition is not None:
            precondition(customer)
        change_customer(uow, customer, body, actor, phone_region)
        answer = read_back(uow.session, customer.id)
        uow.commit()
    return answer


def change_customer(
    uow: UnitOfWork, customer: Customer, body: Mapping[str, Any], actor: str, phone_region: str
) -> list[str]:
    """`update_customer` on a locked customer inside the caller's transaction (an import's
    chunk), not committed: the same checks and events; the fields that changed."""
    proof = proof_from(body)
    fields = {name: value for name, value in body.items() if name not in ("status", "consent")}
    status = body.get("status")
    if status is not None:
        _refuse_unknown_status(uow.session, status)
    if fields.get("email"):
        _refuse_taken_email(uow.session, fields["email"], customer.id)
    before, consent_before = editable_state(customer), channel_states(customer)
    apply_profile(uow.session, customer, fields, phone_region)
    after = editable_state(customer)
    changed = [name for name in before if before[name] != after[name]]
    now = utcnow()
    record_consent_changes(
        uow.session, customer, consent_before, channel_states(customer), actor, proof, now
    )
    if changed:
        refresh_search_fields(customer)
        customer.version += 1
        customer.updated_at = now
        _flush_or_duplicate(uow, customer)
        uow.emit(
            "customer.updated",
            {
                "customer_id": str(customer.id),
                "changed": changed,
                "customer": contact_of(customer),
            },
            subject=str(customer.id),
        )
    if status is not None:
        change_status(uow, customer, status, "manual")
    return changed


def delete_customer(
    uow: UnitOfWork, customer_id: uuid.UUID, precondition: Precondition | None = None
) -> None:
    """Delete a customer and everything of theirs (`customer.deleted` with the tags it had)."""
    with uow:
        customer = locked_customer(uow.session, customer_id)
        if precondition is not None:
            precondition(customer)
        tag_ids = sorted(str(link.tag_id) for link in customer.tag_links)
        delete_timeline(uow.session, customer.id)
        uow.session.delete(customer)
        uow.session.flush()
        uow.emit(
            "customer.deleted",
            {"customer_id": str(customer.id), "tag_ids": tag_ids},
            subject=str(customer.id),
        )
        uow.commit()


# --- internals shared by the profile use cases ----------------------------------------------
def locked_customer(session: Session, customer_id: uuid.UUID) -> Customer:
    """The customer's row, locked for the rest of the transaction; CustomerNotFound otherwise."""
    customer = session.scalar(
        select(Customer)
        .where(Customer.id == customer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if customer is None:
        raise CustomerNotFound(customer_id)
    return customer


def _refuse_unknown_status(session: Session, status: str, known: set[str] | None = None) -> None:
    if known is not None and status in known:
        return
    if session.get(Status, status) is None:
        keys = session.scalars(select(Status.key).order_by(Status.position)).all()
        raise InvalidProfile({"status": [f"unknown status {status!r}; known: {', '.join(keys)}"]})
    if known is not None:
        known.add(status)  # created since `known` was read


def _refuse_taken_email(session: Session, email: str, own_id: uuid.UUID | None) -> None:
    stmt = select(Customer.id).where(Customer.email_key == validation.email_key(email))
    if own_id is not None:
        stmt = stmt.where(Customer.id != own_id)
    existing = session.scalar(stmt)
    if existing is not None:
        raise DuplicateEmail(email, existing)


def _flush_or_duplicate(uow: UnitOfWork, customer: Customer) -> None:
    """Flush; a concurrent request that took the same email in the meantime gives a 409."""
    try:
        uow.session.flush()
    except IntegrityError as exc:
        if "email_key" not in str(exc.orig) or not customer.email:
            raise
        email = customer.email
        uow.session.rollback()
        existing = uow.session.scalar(
            select(Customer.id).where(Customer.email_key == validation.email_key(email))
        )
        raise DuplicateEmail(email, existing or uuid.UUID(int=0)) from None
