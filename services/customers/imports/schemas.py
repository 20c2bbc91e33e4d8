"""Request and response schemas of CSV imports."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest.fields import Upload

from shared.api import Schema


class ImportArgsSchema(Schema):
    """How to import: for real or as a dry run; what to do with an email already known."""

    dry_run = ma.fields.Boolean(load_default=False, metadata={"description": "validate only"})
    on_duplicate = ma.fields.String(
        load_default="skip",
        validate=ma.validate.OneOf(("skip", "update")),
        metadata={"description": "a row whose email is a customer's: skip it or update them"},
    )


class ImportUploadSchema(Schema):
    """The CSV as a multipart field `file` (or send it as the request body, `text/csv`)."""

    file = Upload()


class ImportListArgsSchema(Schema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))


class ImportErrorSchema(Schema):
    row = ma.fields.Integer(
        required=True, metadata={"description": "numbered from 1 after the header"}
    )
    field = ma.fields.String(allow_none=True, required=True)
    message = ma.fields.String(required=True)


class KnownRowSchema(Schema):
    """A row whose email a customer had already, and what became of it."""

    row = ma.fields.Integer(required=True)
    outcome = ma.fields.String(required=True, metadata={"description": "skipped or updated"})
    customer_id = ma.fields.UUID(required=True)
    changed = ma.fields.List(
        ma.fields.String(),
        allow_none=True,
        required=True,
        metadata={"description": "the fields an update changed (as customer.updated says)"},
    )


class ImportQueuedSchema(Schema):
    id = ma.fields.UUID(required=True)
    status = ma.fields.String(required=True)


class ImportSummarySchema(Schema):
    """An import and its progress: `processed` of `total` rows (total known once counted)."""

    id = ma.fields.UUID(required=True)
    status = ma.fields.String(
        required=True, metadata={"description": "queued, running, done, failed"}
    )
    dry_run = ma.fields.Boolean(required=True)
    on_duplicate = ma.fields.String(required=True)
    filename = ma.fields.String(allow_none=True)
    total = ma.fields.Integer(allow_none=True, required=True)
    processed = ma.fields.Integer(required=True)
    accepted = ma.fields.Integer(required=True)
    rejected = ma.fields.Integer(required=True)
    skipped = ma.fields.Integer(required=True)
    updated = ma.fields.Integer(required=True)
    error = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)
    started_at = ma.fields.AwareDateTime(allow_none=True)
    finished_at = ma.fields.AwareDateTime(allow_none=True)


class ImportSchema(ImportSummarySchema):
    errors = ma.fields.List(
        ma.fields.Nested(ImportErrorSchema),
        required=True,
        metadata={"description": "the first 1,000; errors.csv has them all"},
    )
    known_rows = ma.fields.List(
        ma.fields.Nested(KnownRowSchema),
        required=True,
        metadata={"description": "the first 1,000 rows of customers already known (on_duplicate)"},
    )


class ImportListSchema(Schema):
    items = ma.fields.List(ma.fields.Nested(ImportSummarySchema), required=True)
