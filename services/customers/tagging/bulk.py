"""Bulk actions (C8, S2): add tags, remove tags, set status or delete, on ids or a filter.

Set-based: the selected customers are locked in id order, then the action changes them all at
once (`bulk_actions`: one statement on PostgreSQL whatever their number). Up to
`bulk_sync_limit` customers are changed in the request's one transaction; above, the request
queues a `BulkJob` that the worker runs in chunks (`services.customers.tagging.bulk_jobs`).

Tags the request names (`tag_ids`, the filter's `tag`) that the projection does not know yet are
asked of the tags service before anything else (read your writes). A `delete` of more than
`DELETE_CONFIRM_ABOVE` customers needs `confirm`: the number it matches (409 otherwise).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import marshmallow as ma
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from services.customers.listing.filters import CustomerFilterSchema, SegmentError, matching_ids
from services.customers.models import BulkJob, Customer, Status
from services.customers.tagging import bulk_actions
from services.customers.tagging.errors import (
    BulkDeleteNotConfirmed,
    InvalidFilter,
    UnknownStatusKey,
)
from services.customers.tagging.projection import ensure_tags_known, require_tags
from services.customers.tagging.set_based import id_in
from services.customers.tagging.tags_client import TagsCatalogue
from shared.db import UnitOfWork, utcnow
from shared.logging import current_correlation_id

ACTIONS = ("add_tags", "remove_tags", "set_status", "delete")
TAG_ACTIONS = ("add_tags", "remove_tags")
DELETE_CONFIRM_ABOVE = 1_000
"""A bulk delete of more customers than this needs `confirm`: the number it matches."""


@dataclass(frozen=True)
class BulkRequest:
    """What to do (`action`, `tag_ids` or `status`) to whom (`ids`, or a `filter` as sent)."""

    action: str
    ids: list[uuid.UUID] | None = None
    filter: dict[str, Any] | None = None
    tag_ids: list[uuid.UUID] = field(default_factory=list)
    status: str | None = None
    confirm: int | None = None

    def to_params(self) -> dict[str, Any]:
        """The request as a job's JSON `params`."""
        return {
            "ids": None if self.ids is None else [str(value) for value in self.ids],
            "filter": self.filter,
            "tag_ids": [str(value) for value in self.tag_ids],
            "status": self.status,
            "confirm": self.confirm,
        }

    @classmethod
    def from_params(cls, action: str, params: dict[str, Any]) -> BulkRequest:
        """The request a job's `params` hold."""
        ids = params.get("ids")
        return cls(
            action=action,
            ids=None if ids is None else [uuid.UUID(value) for value in ids],
            filter=params.get("filter"),
            tag_ids=[uuid.UUID(value) for value in params.get("tag_ids") or []],
            status=params.get("status"),
            confirm=params.get("confirm"),
        )


@dataclass(frozen=True)
class BulkResult:
    """How many customers the selection matched, and how many the action changed."""

    matched: int
    changed: int


# --- the use case of the request ----------------------------------------------------------------
def run_bulk_action(
    uow: UnitOfWork,
    request: BulkRequest,
    sync_limit: int,
    requested_by: str,
    catalogue: TagsCatalogue,
) -> BulkResult | BulkJob:
    """Apply a bulk action now, or queue it as a job when it matches over `sync_limit` customers.

    UnknownTags, UnknownStatusKey, InvalidFilter, BulkDeleteNotConfirmed, ServiceUnavailable
    (the tags service, asked about tags not projected yet): refused before anything changed.
    """
    ensure_named_tags_known(uow, request, catalogue)
    with uow:
        session = uow.session
        check_inputs(session, request)
        selection = selected_customers(session, request)
        if request.action == "delete":
            counted = session.scalar(select(func.count()).select_from(selection.subquery()))
            check_delete_confirmed(request, counted or 0)
        # Counted before anything is locked: a job's 100,000 customers are not locked for nothing.
        probe = selection.order_by(None).limit(sync_limit + 1).subquery()
        small = (session.scalar(select(func.count()).select_from(probe)) or 0) <= sync_limit
        ids = lock_next_customers(session, selection, None, sync_limit + 1) if small else []
        if small and len(ids) <= sync_limit:  # (more may match by the time they are locked)
            if request.action == "delete":
                check_delete_confirmed(request, len(ids))  # what is locked is what goes
            changed = apply_action(uow, request, ids, utcnow())
            uow.commit()
            return BulkResult(matched=len(ids), changed=changed)
        uow.rollback()
        matched = session.scalar(select(func.count()).select_from(selection.subquery())) or 0
        job = BulkJob(
            action=request.action,
            params=request.to_params(),
            status="queued",
            matched=matched,
            changed=0,
            processed=0,
            requested_by=requested_by,
            correlation_id=current_correlation_id(),
            created_at=utcnow(),
        )
        session.add(job)
        uow.commit()
    return job


# --- building blocks (the job runner uses them too) ---------------------------------------------
def ensure_named_tags_known(
    uow: UnitOfWork, request: BulkRequest, catalogue: TagsCatalogue
) -> None:
    """The tags the request names (`tag_ids`, the filter's `tag`) projected, those not yet
    asked of the tags service; UnknownTags on the field that named one neither knows."""
    if request.action in TAG_ACTIONS:
        ensure_tags_known(uow, request.tag_ids, catalogue)
    if request.filter is not None:
        filter_tags = load_filter(request.filter).get("tag") or []
        ensure_tags_known(uow, filter_tags, catalogue, field=("filter", "tag"))


def check_delete_confirmed(request: BulkRequest, matched: int) -> None:
    """A delete of more than DELETE_CONFIRM_ABOVE customers carries their number as `confirm`;
    BulkDeleteNotConfirmed (409, with the number) otherwise."""
    if matched > DELETE_CONFIRM_ABOVE and request.confirm != matched:
        raise BulkDeleteNotConfirmed(matched, request.confirm)


def check_inputs(session: Session, request: BulkRequest) -> None:
    """The tags and the status the action names exist (share-locked until commit)."""
    if request.action in TAG_ACTIONS:
        require_tags(session, request.tag_ids)
    if request.action == "set_status":
        assert request.status is not None
        known = session.scalar(
            select(Status.key).where(Status.key == request.status).with_for_update(read=True)
        )
        if known is None:
            raise UnknownStatusKey(request.status)


def load_filter(raw: dict[str, Any]) -> dict[str, Any]:
    """A `filter` as sent, loaded by the list's own schema; InvalidFilter."""
    try:
        loaded: dict[str, Any] = CustomerFilterSchema().load(raw)
    except ma.ValidationError as exc:
        raise InvalidFilter("invalid filter", exc.normalized_messages()) from None
    return loaded


def selected_customers(session: Session, request: BulkRequest) -> Select[Any]:
    """`select(Customer.id)` of the customers a request selects (by ids, or by its filter)."""
    if request.ids is not None:
        return select(Customer.id).where(id_in(session, Customer.id, request.ids))
    try:
        matching = matching_ids(session, load_filter(request.filter or {}))
    except SegmentError as exc:
        raise InvalidFilter(str(exc), {"segment": [str(exc)]}) from None
    if list(matching.get_final_froms()) == [Customer.__table__]:
        # The filter's conditions on customers alone: the rows can be locked where they are.
        plain = select(Customer.id)
        return plain if matching.whereclause is None else plain.where(matching.whereclause)
    # Anything richer (a join) cannot be locked as it is: select customers from it.
    subquery = matching.subquery()
    return select(Customer.id).join(subquery, subquery.c.id == Customer.id)


def lock_next_customers(
    session: Session,
    selection: Select[Any],
    after: uuid.UUID | None,
    limit: int,
) -> list[uuid.UUID]:
    """Lock, in id order, the next `limit` selected customers after `after`; their ids."""
    statement = selection.order_by(Customer.id).limit(limit).with_for_update(of=Customer)
    if after is not None:
        statement = statement.where(Customer.id > after)
    return list(session.scalars(statement))


def apply_action(uow: UnitOfWork, request: BulkRequest, ids: list[uuid.UUID], now: datetime) -> int:
    """Apply the action to these (locked) customers and emit their events; how many changed."""
    if not ids:
        return 0
    if request.action == "add_tags":
        return bulk_actions.add_tags(uow, ids, request.tag_ids, now)
    if request.action == "remove_tags":
        return bulk_actions.remove_tags(uow, ids, request.tag_ids, now)
    if request.action == "set_status":
        assert request.status is not None
        return bulk_actions.set_status(uow, ids, request.status, now)
    if request.action == "delete":
        return bulk_actions.delete_customers(uow, ids)
    raise ValueError(f"unknown bulk action {request.action!r}")
