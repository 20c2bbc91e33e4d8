"""Merging a duplicate profile into the one that survives (C12)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.customers.events import contact_of
from services.customers.fields.values import take_custom_fields
from services.customers.models import (
    Avatar,
    ConsentRecord,
    Customer,
    CustomerTag,
    NewsletterSubscription,
    Phone,
    TagView,
)
from services.customers.profiles import validation
from services.customers.profiles.consent import PHONE_CHANNELS, phone_channel
from services.customers.profiles.editing import ADDRESS_COLUMNS, SOURCE_COLUMNS, editable_state
from services.customers.profiles.errors import CustomerNotFound, InvalidProfile
from services.customers.profiles.reads import read_back
from services.customers.profiles.representation import CustomerView
from services.customers.profiles.usecases import Precondition, refresh_search_fields
from services.customers.timeline.entries import move_timeline
from shared.db import UnitOfWork, utcnow

# Filled on the survivor from the duplicate when the survivor has none.
FILLED_FIELDS = (
    "first_name",
    "last_name",
    "company_name",
    "website",
    "birth_date",
    "gender",
    "language",
    "notes",
    "discount_percent",
)
# Taken as a whole, so that an address is never made of two people's halves.
FILLED_BLOCKS = (tuple(ADDRESS_COLUMNS.values()), tuple(SOURCE_COLUMNS.values()))
MERGE_REASON = "merge"


def merge_customers(
    uow: UnitOfWork,
    survivor_id: uuid.UUID,
    duplicate_id: uuid.UUID,
    precondition: Precondition | None = None,
) -> CustomerView:
    """Fold a duplicate into a customer: its tags, phones, lists and addresses move, empty fields
    are filled from it, and it is deleted (`customer.merged`, `customer.tagged`,
    `customer.deleted`, `customer.updated`)."""
    if survivor_id == duplicate_id:
        raise InvalidProfile({"duplicate_id": ["a customer cannot be merged with itself"]})
    with uow:
        session = uow.session
        # Both rows locked in id order, so that two crossed merges cannot deadlock.
        locked = session.scalars(
            select(Customer)
            .where(Customer.id.in_([survivor_id, duplicate_id]))
            .order_by(Customer.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
        customers = {customer.id: customer for customer in locked}
        for wanted in (survivor_id, duplicate_id):
            if wanted not in customers:
                raise CustomerNotFound(wanted)
        survivor, duplicate = customers[survivor_id], customers[duplicate_id]
        if precondition is not None:
            precondition(survivor)
        before = editable_state(survivor)
        duplicate_tag_ids = sorted(str(link.tag_id) for link in duplicate.tag_links)
        gained_tags = _move_tags(session, survivor, duplicate)
        moved_channels = _move_phones(survivor, duplicate)
        _move_newsletter_lists(survivor, duplicate)
        _move_shipping_addresses(survivor, duplicate)
        takes_email = not survivor.email and bool(duplicate.email)
        if takes_email:
            moved_channels += ["email", "newsletter"]
        _fill_empty_fields(survivor, duplicate)
        take_custom_fields(session, survivor, duplicate)
        _move_consent_records(session, survivor, duplicate, moved_channels)
        _move_avatar(session, survivor, duplicate)
        move_timeline(session, duplicate.id, survivor.id)
        email = duplicate.email
        email_consent, newsletter = duplicate.email_consent, duplicate.newsletter_subscribed
        session.delete(duplicate)
        # The duplicate's row goes first: its email must be free before the survivor takes it.
        session.flush()
        if takes_email:
            survivor.email = email
            survivor.email_key = validation.email_key(email)
            survivor.email_consent = email_consent
            survivor.newsletter_subscribed = newsletter
        refresh_search_fields(survivor)
        survivor.version += 1
        survivor.updated_at = utcnow()
        session.flush()
        _emit_events(uow, survivor, duplicate_id, duplicate_tag_ids, gained_tags, before)
        answer = read_back(session, survivor.id)
        uow.commit()
    return answer


def _emit_events(
    uow: UnitOfWork,
    survivor: Customer,
    duplicate_id: uuid.UUID,
    duplicate_tag_ids: list[str],
    gained_tags: list[uuid.UUID],
    before: dict[str, Any],
) -> None:
    subject = str(survivor.id)
    # First, while the duplicate is still whole everywhere: a consumer that keeps something of it
    # moves that to the survivor (registration: its login, when the survivor has none).
    uow.emit(
        "customer.merged",
        {"customer_id": subject, "duplicate_id": str(duplicate_id)},
        subject=subject,
    )
    # The duplicate's tag counts go with it; the survivor counts once more for what it gained.
    uow.emit(
        "customer.deleted",
        {"customer_id": str(duplicate_id), "tag_ids": duplicate_tag_ids},
        subject=str(duplicate_id),
    )
    names = {
        tag_id: name
        for tag_id, name in uow.session.execute(
            select(TagView.id, TagView.name).where(TagView.id.in_(gained_tags))
        )
    }
    for tag_id in gained_tags:
        uow.emit(
            "customer.tagged",
            {
                "customer_id": subject,
                "tag_id": str(tag_id),
                "tag_name": names.get(tag_id),
                "reason": MERGE_REASON,
                "customer": contact_of(survivor),
            },
            subject=subject,
        )
    after = editable_state(survivor)
    changed = [name for name in before if before[name] != after[name]]
    if changed:
        uow.emit(
            "customer.updated",
            {"customer_id": subject, "changed": changed, "customer": contact_of(survivor)},
            subject=subject,
        )


def _move_tags(session: Session, survivor: Customer, duplicate: Customer) -> list[uuid.UUID]:
    """The duplicate's tags the survivor lacked, now the survivor's."""
    has = {link.tag_id for link in survivor.tag_links}
    gained = sorted({link.tag_id for link in duplicate.tag_links} - has)
    now = utcnow()
    for tag_id in gained:
        survivor.tag_links.append(CustomerTag(tag_id=tag_id, created_at=now))
    return gained


def _move_phones(survivor: Customer, duplicate: Customer) -> list[str]:
    """The duplicate's numbers the survivor lacked, with their consent; their channels."""
    has = {phone.number for phone in survivor.phones}
    position = max((phone.position for phone in survivor.phones), default=-1)
    channels: list[str] = []
    for phone in duplicate.phones:
        if phone.number in has:
            continue
        position += 1
        has.add(phone.number)
        survivor.phones.append(
            Phone(
                position=position,
                number=phone.number,
                type=phone.type,
                sms=phone.sms,
                whatsapp=phone.whatsapp,
                viber=phone.viber,
            )
        )
        channels += [phone_channel(phone.number, channel) for channel in PHONE_CHANNELS]
    return channels


def _move_newsletter_lists(survivor: Customer, duplicate: Customer) -> None:
    has = {subscription.list_name for subscription in survivor.newsletter_lists}
    for subscription in duplicate.newsletter_lists:
        if subscription.list_name not in has:
            survivor.newsletter_lists.append(
                NewsletterSubscription(list_name=subscription.list_name)
            )


def _move_shipping_addresses(survivor: Customer, duplicate: Customer) -> None:
    addresses = list(survivor.shipping_addresses or [])
    for address in duplicate.shipping_addresses or []:
        if address not in addresses:
            addresses.append(address)
    survivor.shipping_addresses = addresses


def _fill_empty_fields(survivor: Customer, duplicate: Customer) -> None:
    for name in FILLED_FIELDS:
        if getattr(survivor, name) in (None, "") and getattr(duplicate, name) not in (None, ""):
            setattr(survivor, name, getattr(duplicate, name))
    for columns in FILLED_BLOCKS:
        if all(getattr(survivor, column) is None for column in columns):
            for column in columns:
                setattr(survivor, column, getattr(duplicate, column))
    if not survivor.billing and duplicate.billing:
        survivor.billing = dict(duplicate.billing)
    survivor.is_supplier = survivor.is_supplier or duplicate.is_supplier
    survivor.is_conflict = survivor.is_conflict or duplicate.is_conflict


def _move_consent_records(
    session: Session, survivor: Customer, duplicate: Customer, channels: list[str]
) -> None:
    """The consent history of what moved goes with it; the rest is deleted with the duplicate."""
    if channels:
        session.execute(
            update(ConsentRecord)
            .where(ConsentRecord.customer_id == duplicate.id, ConsentRecord.channel.in_(channels))
            .values(customer_id=survivor.id)
        )


def _move_avatar(session: Session, survivor: Customer, duplicate: Customer) -> None:
    if session.get(Avatar, survivor.id) is None:
        session.execute(
            update(Avatar).where(Avatar.customer_id == duplicate.id).values(customer_id=survivor.id)
        )
