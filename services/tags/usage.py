"""Use cases of the usage counts: which customers carry each tag, from customers' events.

They run inside the consumer's unit of work, which records the event in the inbox and commits;
so they do not commit themselves. A tag's row is locked before its memberships change, so that
concurrent consumers cannot both count the same customer.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from services.tags.models import Tag, TagMembership
from shared.db import UnitOfWork

log = logging.getLogger(__name__)


def count_customer_tagged(
    uow: UnitOfWork, tag_id: uuid.UUID, customer_id: uuid.UUID, at: datetime
) -> None:
    """The customer carries the tag as of `at`; counted once however often it is said."""
    tag = _locked_tags(uow, [tag_id]).get(tag_id)
    if tag is None:
        log.info("customer tagged with an unknown tag; ignored", extra={"tag_id": str(tag_id)})
        return
    _set_membership(uow, tag, customer_id, True, at)


def count_customer_untagged(
    uow: UnitOfWork, tag_id: uuid.UUID, customer_id: uuid.UUID, at: datetime
) -> None:
    """The customer no longer carries the tag as of `at`."""
    tag = _locked_tags(uow, [tag_id]).get(tag_id)
    if tag is None:
        return
    _set_membership(uow, tag, customer_id, False, at)


def count_customer_deleted(
    uow: UnitOfWork, customer_id: uuid.UUID, tag_ids: Iterable[uuid.UUID], at: datetime
) -> None:
    """A deleted customer carries no tag any more: the ones the event names and the ones known."""
    known = uow.session.scalars(
        select(TagMembership.tag_id).where(TagMembership.customer_id == customer_id)
    ).all()
    tags = _locked_tags(uow, {*tag_ids, *known})
    for tag in tags.values():
        # Nothing said before the deletion can bring the customer back: `as_of` never goes back.
        _set_membership(uow, tag, customer_id, False, at, force=True)


def _locked_tags(uow: UnitOfWork, tag_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Tag]:
    wanted = sorted(set(tag_ids))
    if not wanted:
        return {}
    tags = uow.session.scalars(
        select(Tag)
        .where(Tag.id.in_(wanted))
        .order_by(Tag.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    return {tag.id: tag for tag in tags}


def _set_membership(
    uow: UnitOfWork,
    tag: Tag,
    customer_id: uuid.UUID,
    is_member: bool,
    at: datetime,
    force: bool = False,
) -> None:
    membership = uow.session.get(TagMembership, (tag.id, customer_id), populate_existing=True)
    if membership is None:
        uow.session.add(
            TagMembership(tag_id=tag.id, customer_id=customer_id, is_member=is_member, as_of=at)
        )
        tag.customers_count += 1 if is_member else 0
        return
    if at < membership.as_of and not force:
        # An older event than the one already applied (a late redelivery): it changes nothing.
        return
    if membership.is_member != is_member:
        tag.customers_count += 1 if is_member else -1
        membership.is_member = is_member
    membership.as_of = max(membership.as_of, at)
