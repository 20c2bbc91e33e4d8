"""The tags service's tables: the tag catalogue and who carries each tag (for usage counts)."""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, MetaData, String, Text, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import NAMING_CONVENTION, UtcDateTime, utcnow

NAME_MAX_LENGTH = 64
DESCRIPTION_MAX_LENGTH = 1000
# str.casefold can turn one character into up to three ("ﬃ" -> "ffi").
NAME_KEY_MAX_LENGTH = 3 * NAME_MAX_LENGTH


class Base(DeclarativeBase):
    """The tags service's own tables (its database holds the outbox and inbox too)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def name_key(name: str) -> str:
    """The form two names share when they differ only by case or Unicode composition."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name.strip()).casefold())


class Tag(Base):
    """A tag of the catalogue; `version` changes with every edit and makes its ETag."""

    __tablename__ = "tags"
    __table_args__ = (
        Index("ix_tags_name_key", "name_key", unique=True),
        Index("ix_tags_order_name_key", "order", "name_key"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    name_key: Mapped[str] = mapped_column(String(NAME_KEY_MAX_LENGTH))
    description: Mapped[str] = mapped_column(Text)
    color: Mapped[str] = mapped_column(String(7))
    order: Mapped[int | None] = mapped_column(Integer)
    is_fixed: Mapped[bool] = mapped_column(Boolean, default=False)
    customers_count: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TagMembership(Base):
    """Whether a customer carries a tag, as of the customers' event that said so last.

    One row per (tag, customer) makes the count exact: a second `customer.tagged` for the same
    pair changes nothing, and `as_of` lets an event that arrives late (older than what is known)
    be ignored instead of undoing a newer one. A row with `is_member` false is that memory.
    """

    __tablename__ = "tag_memberships"
    __table_args__ = (Index("ix_tag_memberships_customer_id", "customer_id"),)

    tag_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    is_member: Mapped[bool] = mapped_column(Boolean)
    as_of: Mapped[datetime] = mapped_column(UtcDateTime)


@dataclass(frozen=True)
class FixedTag:
    """A predefined tag the migrations create; its id is the same in every installation."""

    id: uuid.UUID
    name: str
    description: str
    color: str
    order: int


_FIXED_NAMESPACE = uuid.UUID("6f1d8c2e-4b7a-5e3f-9a1c-2d4e6f8a0b1c")

FIXED_TAGS: tuple[FixedTag, ...] = (
    FixedTag(
        uuid.uuid5(_FIXED_NAMESPACE, "vip"),
        "VIP",
        "Client de grande valeur pour l'entreprise, à servir en priorité.",
        "#c9a227",
        1,
    ),
    FixedTag(
        uuid.uuid5(_FIXED_NAMESPACE, "a-recontacter"),
        "À recontacter",
        "Client ou prospect à rappeler ou à relancer prochainement.",
        "#f57c00",
        2,
    ),
    FixedTag(
        uuid.uuid5(_FIXED_NAMESPACE, "potentiel-eleve"),
        "Potentiel élevé",
        "Prospect ou client au fort potentiel commercial, à suivre de près.",
        "#2e7d32",
        3,
    ),
    FixedTag(
        uuid.uuid5(_FIXED_NAMESPACE, "fournisseur"),
        "Fournisseur",
        "Entreprise auprès de laquelle nous effectuons des achats.",
        "#1565c0",
        4,
    ),
)
