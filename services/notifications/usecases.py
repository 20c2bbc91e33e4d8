"""The notifications use cases besides templates: settings and the delivery log."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from services.notifications import defaults
from services.notifications.models import Delivery, NotificationSettings
from shared.db import UnitOfWork, utcnow

SETTINGS_ID = 1


def current_settings(session: Session) -> NotificationSettings:
    """The settings, or the defaults when nobody saved any (not added to the session)."""
    row = session.get(NotificationSettings, SETTINGS_ID)
    if row is not None:
        return row
    return NotificationSettings(
        id=SETTINGS_ID, default_language=defaults.DEFAULT_LANGUAGE, admin_emails=[], version=0
    )


def get_settings(sessions: sessionmaker[Session]) -> NotificationSettings:
    """The settings in effect."""
    with sessions() as session:
        return current_settings(session)


def save_settings(
    uow: UnitOfWork,
    default_language: str,
    admin_emails: list[str],
    precondition: Callable[[NotificationSettings], None],
) -> NotificationSettings:
    """Replace the settings (`If-Match` checked by `precondition` on the current ones)."""
    with uow:
        row = uow.session.get(NotificationSettings, SETTINGS_ID, with_for_update=True)
        precondition(row if row is not None else current_settings(uow.session))
        if row is None:
            row = NotificationSettings(id=SETTINGS_ID, version=0)
            uow.session.add(row)
        row.default_language = default_language
        row.admin_emails = list(dict.fromkeys(email.lower() for email in admin_emails))
        row.version += 1
        row.updated_at = utcnow()
        uow.commit()
        return row


DeliveryKey = tuple[datetime, uuid.UUID]


def list_deliveries(
    sessions: sessionmaker[Session],
    filters: dict[str, Any],
    limit: int,
    after: DeliveryKey | None,
) -> tuple[list[Delivery], DeliveryKey | None]:
    """A page of the delivery log, newest first; the next page's key."""
    statement = select(Delivery).order_by(Delivery.created_at.desc(), Delivery.id.desc())
    if filters.get("customer_id") is not None:
        statement = statement.where(Delivery.customer_id == filters["customer_id"])
    if filters.get("key") is not None:
        statement = statement.where(Delivery.key == filters["key"])
    if filters.get("status") is not None:
        statement = statement.where(Delivery.status == filters["status"])
    if filters.get("from_") is not None:
        statement = statement.where(Delivery.created_at >= filters["from_"])
    if filters.get("to") is not None:
        statement = statement.where(Delivery.created_at < filters["to"])
    if after is not None:
        moment, last_id = after
        statement = statement.where(
            or_(
                Delivery.created_at < moment,
                and_(Delivery.created_at == moment, Delivery.id < last_id),
            )
        )
    with sessions() as session:
        rows = list(session.scalars(statement.limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], (last.created_at, last.id)
