"""The status catalogue (S1): the default statuses and the ones staff add, edit and delete.

Moving a customer between statuses is `services.customers.statuses.change_status` (one
customer) and `services.customers.tagging.bulk` (many); this module only keeps the catalogue.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import exists, func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.customers.models import Customer, Status
from services.customers.tagging.errors import StatusConflict, StatusNotFound
from shared.db import UnitOfWork, utcnow

StatusPrecondition = Callable[[Status], None]
"""Checked on the locked status before a change (e.g. If-Match); raises to refuse."""

SortKey = tuple[int, str]
"""Where a page of statuses ends: the last status's position and key."""


def status_etag(status: Status) -> str:
    """A strong ETag of a status's editable state (statuses carry no version number)."""
    digest = zlib.crc32(f"{status.label}\x00{status.position}".encode())
    return f'"{status.key}-{digest:08x}"'


def list_statuses(
    session_factory: sessionmaker[Session], limit: int, after: SortKey | None = None
) -> tuple[list[Status], SortKey | None]:
    """Statuses by position then key, a page at a time; the sort key of the next page, if any."""
    statement = select(Status).order_by(Status.position, Status.key).limit(limit + 1)
    if after is not None:
        statement = statement.where(tuple_(Status.position, Status.key) > tuple_(*after))
    with session_factory() as session:
        statuses = list(session.scalars(statement))
    if len(statuses) <= limit:
        return statuses, None
    last = statuses[limit - 1]
    return statuses[:limit], (last.position, last.key)


def get_status(session_factory: sessionmaker[Session], key: str) -> Status:
    """One status; StatusNotFound."""
    with session_factory() as session:
        status = session.get(Status, key)
    if status is None:
        raise StatusNotFound(key)
    return status


def create_status(uow: UnitOfWork, key: str, label: str, position: int | None = None) -> Status:
    """Add a custom status, last unless a position is given; StatusConflict if the key is taken."""
    with uow:
        if uow.session.get(Status, key) is not None:
            raise StatusConflict(f"a status with the key {key!r} already exists")
        if position is None:
            position = (uow.session.scalar(select(func.max(Status.position))) or 0) + 1
        status = Status(key=key, label=label, is_default=False, position=position)
        status.created_at = utcnow()
        uow.session.add(status)
        try:
            uow.commit()
        except IntegrityError:
            raise StatusConflict(f"a status with the key {key!r} already exists") from None
    return status


def update_status(
    uow: UnitOfWork,
    key: str,
    changes: Mapping[str, Any],
    precondition: StatusPrecondition | None = None,
) -> Status:
    """Change a status's label or position (defaults included); StatusNotFound."""
    with uow:
        status = _locked(uow.session, key)
        if precondition is not None:
            precondition(status)
        for name in ("label", "position"):
            if name in changes:
                setattr(status, name, changes[name])
        uow.commit()
    return status


def delete_status(
    uow: UnitOfWork, key: str, precondition: StatusPrecondition | None = None
) -> None:
    """Delete a custom status no customer is in; StatusNotFound, StatusConflict."""
    with uow:
        status = _locked(uow.session, key)
        if precondition is not None:
            precondition(status)
        if status.is_default:
            raise StatusConflict(f"{key!r} is a default status; it cannot be deleted")
        if uow.session.scalar(select(exists().where(Customer.status == key))):
            raise StatusConflict(
                f"customers are in the status {key!r}; move them to another status first"
            )
        uow.session.delete(status)
        try:
            uow.commit()
        except IntegrityError:
            # A customer was moved into the status meanwhile: the foreign key kept it.
            raise StatusConflict(
                f"customers are in the status {key!r}; move them to another status first"
            ) from None


def _locked(session: Session, key: str) -> Status:
    status = session.scalars(select(Status).where(Status.key == key).with_for_update()).first()
    if status is None:
        raise StatusNotFound(key)
    return status
