"""HTTP endpoints of the customers timeline (C10) and summary (C11)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import abort

from services.customers.models import TimelineEntry
from services.customers.timeline import attachments, usecases
from services.customers.timeline.schemas import (
    AttachmentSchema,
    AttachmentUploadSchema,
    CustomEntryCreateSchema,
    CustomEntryUpdateSchema,
    EntryPageSchema,
    EntrySchema,
    SummarySchema,
    TimelineArgsSchema,
)
from services.customers.timeline.stores import attachment_store
from services.customers.timeline.summary import summary_of
from shared.api import (
    Blueprint,
    check_if_match,
    current_principal,
    decode_cursor,
    encode_cursor,
    etag_of,
)
from shared.app import service_context
from shared.events.envelope import parse_time

blp = Blueprint(
    "customers-timeline",
    __name__,
    url_prefix="/customers",
    description="Customers: the timeline of every interaction, and the summary.",
)


@blp.route("/<uuid:customer_id>/timeline")
class Timeline(MethodView):
    @blp.requires("customers:read")
    @blp.arguments(TimelineArgsSchema, location="query")
    @blp.response(200, EntryPageSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args: dict[str, Any], customer_id: uuid.UUID) -> dict[str, Any]:
        """A customer's timeline, newest first by the time things happened; `type` (repeatable),
        `from` and `to` (inclusive) narrow it."""
        after = _sort_key(args["cursor"]) if args["cursor"] else None
        items, next_key = usecases.list_entries(
            service_context().reads,
            customer_id,
            args["limit"],
            types=args["type"],
            since=args["from_"],
            until=args["to"],
            after=after,
        )
        cursor = encode_cursor([next_key[0].isoformat(), str(next_key[1])]) if next_key else None
        return {"items": items, "next_cursor": cursor}

    @blp.requires("customers:write")
    @blp.arguments(CustomEntryCreateSchema)
    @blp.response(201, EntrySchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, body: dict[str, Any], customer_id: uuid.UUID) -> Any:
        """Add a custom action: a title and a rich-text note, kept as safe HTML (no script, no
        event handler attribute, no `javascript:` link; formatting and links stay)."""
        entry = usecases.add_custom_entry(
            service_context().uow(),
            customer_id,
            body["title"],
            body.get("note"),
            current_principal().subject,
        )
        return entry, 201, {"ETag": etag_of(entry.id, entry.version)}


@blp.route("/<uuid:customer_id>/timeline/<uuid:entry_id>")
class TimelineEntryById(MethodView):
    @blp.requires("customers:read")
    @blp.response(200, EntrySchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, customer_id: uuid.UUID, entry_id: uuid.UUID) -> Any:
        """One entry of a customer's timeline."""
        entry = usecases.get_entry(service_context().reads, customer_id, entry_id)
        return entry, 200, {"ETag": etag_of(entry.id, entry.version)}

    @blp.requires("customers:write")
    @blp.arguments(CustomEntryUpdateSchema)
    @blp.response(200, EntrySchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(412, response="PRECONDITION_FAILED")
    def patch(self, body: dict[str, Any], customer_id: uuid.UUID, entry_id: uuid.UUID) -> Any:
        """Change a custom entry's title or note (an event's entry cannot change: 409)."""
        entry = usecases.update_custom_entry(
            service_context().uow(), customer_id, entry_id, body, _if_match
        )
        return entry, 200, {"ETag": etag_of(entry.id, entry.version)}

    @blp.requires("customers:write")
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(412, response="PRECONDITION_FAILED")
    def delete(self, customer_id: uuid.UUID, entry_id: uuid.UUID) -> None:
        """Delete a custom entry (an event's entry cannot go: 409)."""
        usecases.delete_custom_entry(service_context().uow(), customer_id, entry_id, _if_match)


@blp.route("/<uuid:customer_id>/timeline/<uuid:entry_id>/attachments")
class EntryAttachments(MethodView):
    @blp.requires("customers:write")
    @blp.arguments(AttachmentUploadSchema, location="files")
    @blp.response(201, AttachmentSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
    @blp.alt_response(415, response="DEFAULT_ERROR")
    def post(self, files: dict[str, Any], customer_id: uuid.UUID, entry_id: uuid.UUID) -> Any:
        """Attach a file to a custom entry: a PDF, a PNG, JPEG, GIF or WebP image, or UTF-8 text
        (known by its content, not its name), of at most 10 MB, 20 files an entry."""
        upload = files["file"]
        return attachments.add_attachment(
            service_context().uow(),
            attachment_store(service_context().settings),
            customer_id,
            entry_id,
            upload.filename,
            upload.stream,
        )


@blp.route("/<uuid:customer_id>/timeline/<uuid:entry_id>/attachments/<uuid:attachment_id>")
class EntryAttachment(MethodView):
    @blp.requires("customers:read")
    @blp.doc(responses={"200": {"description": "The file, as a download."}})
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, customer_id: uuid.UUID, entry_id: uuid.UUID, attachment_id: uuid.UUID) -> Any:
        """An attachment's bytes, always as a download (never shown inline)."""
        view, data = attachments.get_attachment(
            service_context().reads,
            attachment_store(service_context().settings),
            customer_id,
            entry_id,
            attachment_id,
        )
        response = Response(data, mimetype=view.content_type)
        response.headers.set("Content-Disposition", "attachment", filename=view.filename)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response.headers["Cache-Control"] = "private, no-store"
        return response


@blp.route("/<uuid:customer_id>/summary")
class CustomerSummary(MethodView):
    @blp.requires("customers:read")
    @blp.response(200, SummarySchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, customer_id: uuid.UUID) -> Any:
        """Purchases, revenue per currency (exact decimals), invoices, support requests, and the
        last action, from the customer's timeline."""
        return summary_of(service_context().reads, customer_id)


def _if_match(entry: TimelineEntry) -> None:
    check_if_match(etag_of(entry.id, entry.version))


def _sort_key(cursor: str) -> usecases.SortKey:
    time, entry_id = decode_cursor(cursor, 2)
    parsed = parse_time(time)
    try:
        key = uuid.UUID(str(entry_id))
    except ValueError:
        parsed = None
    if parsed is None:
        abort(422, message="invalid cursor", errors={"query": {"cursor": ["invalid cursor"]}})
        raise AssertionError("abort raises")
    return parsed, key
