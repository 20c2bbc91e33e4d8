"""The table of custom field definitions (migration `customers_0013_custom_fields`).

The values live on the customer (`Customer.custom_fields`, a JSON object by key).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.customers.models import Base
from shared.db import UtcDateTime, utcnow


class CustomFieldDefinition(Base):
    """An extra profile field staff define for one or both kinds of customer (C13)."""

    __tablename__ = "custom_field_definitions"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    label: Mapped[str] = mapped_column(String(100))
    # `individual`, `company` or both.
    kinds: Mapped[list[str]] = mapped_column(JSON)
    # `text`, `number`, `date`, `boolean` or `choice`.
    type: Mapped[str] = mapped_column(String(16))
    # A choice's options, in order; empty for the other types.
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
