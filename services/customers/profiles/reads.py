"""Reading customers as the API answers them: each with the tags it carries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, sessionmaker

from services.customers.models import Customer, CustomerTag, TagView
from services.customers.profiles.errors import CustomerNotFound
from services.customers.profiles.representation import CustomerWithTags


def with_tags(session: Session, customers: Sequence[Customer]) -> list[CustomerWithTags]:
    """The customers with their tags, in one query, each customer's tags by order then name."""
    if not customers:
        return []
    rows = session.execute(
        select(CustomerTag.customer_id, CustomerTag.tag_id, TagView)
        .outerjoin(TagView, TagView.id == CustomerTag.tag_id)
        .where(CustomerTag.customer_id.in_([customer.id for customer in customers]))
    ).all()
    tags: dict[uuid.UUID, list[TagView]] = {customer.id: [] for customer in customers}
    for customer_id, tag_id, view in rows:
        # A tag applied before its `tag.created` reached us is shown by id until it does.
        tags[customer_id].append(view or TagView(id=tag_id, name=None, color=None, order=None))
    return [
        CustomerWithTags(customer, sorted(tags[customer.id], key=_tag_order))
        for customer in customers
    ]


def _tag_order(tag: TagView) -> tuple[bool, int, str, str]:
    return (tag.order is None, tag.order or 0, (tag.name or "").casefold(), str(tag.id))


def get_customer(sessions: sessionmaker[Session], customer_id: uuid.UUID) -> CustomerWithTags:
    """The customer with this id and its tags; CustomerNotFound otherwise."""
    with sessions() as session:
        # One round trip for the profile and its (few) phones and lists, one for its tags.
        customer = (
            session.scalars(
                select(Customer)
                .where(Customer.id == customer_id)
                .options(joinedload(Customer.phones), joinedload(Customer.newsletter_lists))
            )
            .unique()
            .one_or_none()
        )
        if customer is None:
            raise CustomerNotFound(customer_id)
        return with_tags(session, [customer])[0]
