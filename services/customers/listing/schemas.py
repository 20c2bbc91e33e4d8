"""Request and response schemas of the customer list and of saved filters (segments)."""

from __future__ import annotations

import unicodedata
from typing import Any

import marshmallow as ma

from services.customers.listing.filters import CustomerFilterSchema
from services.customers.listing.queries import DEFAULT_SORT, SORTS
from services.customers.listing.segments import segment_name_key
from services.customers.profiles.schemas import CustomerSchema
from shared.api import PageArgsSchema, Schema, page_schema

SEGMENT_NAME_MAX_LENGTH = 100


class SortedFilterSchema(CustomerFilterSchema):
    """The list parameters and `sort` (the list's page and the export take them)."""

    sort = ma.fields.String(
        load_default=DEFAULT_SORT,
        validate=ma.validate.OneOf(SORTS),
        metadata={
            "description": "`-created_at` (default): newest first; `created_at`: oldest first; "
            "`name` / `-name`: by last name (or company), then first name."
        },
    )


class CustomerListArgsSchema(SortedFilterSchema, PageArgsSchema):
    """`GET /customers`: the list parameters, `sort`, and the page (`limit`, `cursor`)."""


CustomerPageSchema = page_schema(CustomerSchema, "CustomerPageSchema")


class SegmentFilterSchema(CustomerFilterSchema):
    """The list parameters a saved filter holds (it cannot name another saved filter)."""

    @ma.validates("segment")
    def _no_nested_segment(self, value: Any, **kwargs: Any) -> None:
        raise ma.ValidationError(
            "a saved filter cannot refer to another saved filter; copy its parameters instead"
        )


class SegmentName(ma.fields.String):
    """A saved filter's name: trimmed, Unicode-composed, 1-100 characters, nothing invisible.

    Control characters are refused by every schema (`shared.text`).
    """

    default_error_messages = {
        "blank": "a name cannot be blank",
        "too_long": f"a name has at most {SEGMENT_NAME_MAX_LENGTH} characters",
        "control": "a name cannot contain invisible formatting characters",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = unicodedata.normalize("NFC", super()._deserialize(value, attr, data, **kwargs))
        text = text.strip()
        if not text:
            raise self.make_error("blank")
        # The case-folded key must fit too (`ß` folds to `ss`).
        if max(len(text), len(segment_name_key(text))) > SEGMENT_NAME_MAX_LENGTH:
            raise self.make_error("too_long")
        if any(unicodedata.category(char) == "Cf" for char in text):
            raise self.make_error("control")
        return text


class SegmentSchema(Schema):
    """A saved filter as the API answers it."""

    id = ma.fields.UUID(dump_only=True)
    name = ma.fields.String(dump_only=True)
    filter = ma.fields.Nested(CustomerFilterSchema, dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class SegmentCreateSchema(Schema):
    """`POST /customers/segments`: a name (unique, whatever the case) and the list parameters."""

    name = SegmentName(required=True, metadata={"example": "VIP in Paris"})
    filter = ma.fields.Nested(
        SegmentFilterSchema,
        required=True,
        metadata={"example": {"status": "vip", "city": "Paris"}},
    )


class SegmentUpdateSchema(Schema):
    """`PATCH /customers/segments/{id}`: a new name and/or a filter replacing the old one."""

    name = SegmentName()
    filter = ma.fields.Nested(SegmentFilterSchema)


SegmentPageSchema = page_schema(SegmentSchema, "SegmentPageSchema")
SegmentListArgsSchema = PageArgsSchema
