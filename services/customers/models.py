"""The customers service's tables."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, Integer, MetaData, String, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import NAMING_CONVENTION, UtcDateTime


class Base(DeclarativeBase):
    """The customers service's own tables (its database holds the outbox and inbox too)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TagView(Base):
    """The local copy of the tag catalogue, kept from `tag.*` events, for display and filters."""

    __tablename__ = "tag_projection"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    color: Mapped[str] = mapped_column(String(7))
    order: Mapped[int | None] = mapped_column(Integer)
    is_fixed: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
