"""Request and response schemas of the timeline and the summary."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest.fields import Upload

from services.customers.timeline.entries import CUSTOM, TIMELINE_TYPES
from shared.api import PageArgsSchema, Schema, page_schema
from shared.text import String

TITLE_MAX_LENGTH = 200
NOTE_MAX_LENGTH = 20_000
ENTRY_TYPES = (*TIMELINE_TYPES, CUSTOM)


class TimelineArgsSchema(PageArgsSchema):
    """`type` (repeatable), `from` and `to` (RFC 3339, inclusive), then the page."""

    type = ma.fields.List(
        String(validate=ma.validate.OneOf(ENTRY_TYPES)),
        load_default=list,
        validate=ma.validate.Length(max=len(ENTRY_TYPES)),
    )
    from_ = ma.fields.AwareDateTime(data_key="from", load_default=None)
    to = ma.fields.AwareDateTime(load_default=None)

    @ma.validates_schema
    def _range(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("from_") and data.get("to") and data["from_"] > data["to"]:
            raise ma.ValidationError("`from` is after `to`", "from")


class AttachmentSchema(Schema):
    """A file attached to an entry (its type found from its content)."""

    id = ma.fields.UUID(dump_only=True)
    filename = ma.fields.String(dump_only=True)
    content_type = ma.fields.String(dump_only=True)
    size = ma.fields.Integer(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)


class AttachmentUploadSchema(Schema):
    """A PDF, an image (PNG, JPEG, GIF, WebP) or UTF-8 text of at most 10 MB (field `file`)."""

    file = Upload(required=True)


class EntrySchema(Schema):
    """A timeline entry: an event's (its type) or a custom action (`custom`)."""

    id = ma.fields.UUID(dump_only=True)
    type = ma.fields.String(dump_only=True)
    title = ma.fields.String(dump_only=True)
    note = ma.fields.String(dump_only=True, allow_none=True)
    occurred_at = ma.fields.AwareDateTime(dump_only=True)
    event_id = ma.fields.String(dump_only=True, allow_none=True)
    actor = ma.fields.String(dump_only=True, allow_none=True)
    attachments = ma.fields.List(ma.fields.Nested(AttachmentSchema), dump_only=True)


EntryPageSchema = page_schema(EntrySchema, "TimelinePage")


def _title(**kwargs: Any) -> String:
    return String(
        validate=[
            ma.validate.Length(min=1, max=TITLE_MAX_LENGTH),
            ma.validate.Regexp(r"\S", error="a title cannot be blank"),
        ],
        **kwargs,
    )


class CustomEntryCreateSchema(Schema):
    """A custom action: a title and a rich-text note (HTML, reduced to a safe subset)."""

    title = _title(required=True)
    note = String(multiline=True, allow_none=True, validate=ma.validate.Length(max=NOTE_MAX_LENGTH))


class CustomEntryUpdateSchema(Schema):
    """What changes on a custom entry."""

    title = _title()
    note = String(multiline=True, allow_none=True, validate=ma.validate.Length(max=NOTE_MAX_LENGTH))


class SummarySchema(Schema):
    """A customer's activity in figures (C11); amounts are exact decimal strings."""

    purchases_count = ma.fields.Integer(dump_only=True)
    revenue = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.Decimal(as_string=True), dump_only=True
    )
    invoices_count = ma.fields.Integer(dump_only=True)
    support_requests_count = ma.fields.Integer(dump_only=True)
    last_action_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)
    last_action_type = ma.fields.String(dump_only=True, allow_none=True)
    push_devices_count = ma.fields.Integer(
        dump_only=True, metadata={"description": "Devices registered for push notifications."}
    )
