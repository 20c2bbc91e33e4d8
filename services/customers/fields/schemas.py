"""Request and response schemas of custom field definitions."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from services.customers.fields.rules import KEY_PATTERN, KEY_RULE, KINDS, TYPES
from services.customers.profiles.schemas import Flag, Text
from shared.api import PageArgsSchema, Schema, page_schema

MAX_OPTIONS = 200


def _unique(values: list[Any]) -> None:
    if len(set(values)) != len(values):
        raise ma.ValidationError("each value at most once")


class _Kinds(ma.fields.List):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            ma.fields.String(validate=ma.validate.OneOf(KINDS)),
            validate=[ma.validate.Length(min=1, max=len(KINDS)), _unique],
            metadata={"description": "The kinds of customer that carry the field (default both)."},
            **kwargs,
        )


class _Options(ma.fields.List):
    def __init__(self, **kwargs: Any) -> None:
        metadata = {"description": "A choice's options, in order (choice only)."}
        super().__init__(
            Text(100, blank=False),
            validate=ma.validate.Length(max=MAX_OPTIONS),
            metadata={**metadata, **kwargs.pop("metadata", {})},
            **kwargs,
        )


_TYPE_DESCRIPTION = "text, number, date (YYYY-MM-DD), boolean (yes/no) or choice (one option)"


class FieldSchema(Schema):
    """A custom field definition as the API answers it."""

    key = ma.fields.String(required=True)
    label = ma.fields.String(required=True)
    kinds = ma.fields.List(ma.fields.String(), required=True)
    type = ma.fields.String(required=True, metadata={"description": _TYPE_DESCRIPTION})
    options = ma.fields.List(ma.fields.String(), required=True)
    required = ma.fields.Boolean(required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    updated_at = ma.fields.AwareDateTime(required=True)


class FieldCreateSchema(Schema):
    """`POST /customers/fields`: a new field; its key is fixed once created."""

    key = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(KEY_PATTERN, error=KEY_RULE),
        metadata={"example": "loyalty_level"},
    )
    label = Text(100, blank=False, required=True, metadata={"example": "Loyalty level"})
    kinds = _Kinds()
    type = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(TYPES),
        metadata={"description": _TYPE_DESCRIPTION, "example": "choice"},
    )
    options = _Options(metadata={"example": ["silver", "gold"]})
    required = Flag(metadata={"description": "Every new customer of its kinds must have it."})


class FieldUpdateSchema(Schema):
    """`PATCH /customers/fields/{key}`: what changes (a type or options the values held cannot
    take is a 409)."""

    label = Text(100, blank=False)
    kinds = _Kinds()
    type = ma.fields.String(
        validate=ma.validate.OneOf(TYPES), metadata={"description": _TYPE_DESCRIPTION}
    )
    options = _Options()
    required = Flag()


FieldPageSchema = page_schema(FieldSchema, "CustomFieldPageSchema")
FieldListArgsSchema = PageArgsSchema
