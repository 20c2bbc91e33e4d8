"""HTTP endpoints of the customers service: the customer list and saved filters (segments)."""

from __future__ import annotations

import uuid
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import abort

from services.customers.listing import queries, segments
from services.customers.listing.schemas import (
    CustomerListArgsSchema,
    CustomerPageSchema,
    SegmentCreateSchema,
    SegmentListArgsSchema,
    SegmentPageSchema,
    SegmentSchema,
    SegmentUpdateSchema,
)
from services.customers.models import Segment
from services.customers.tagging.projection import ensure_tags_known
from services.customers.tagging.tags_client import tags_catalogue
from shared.api import Blueprint, check_if_match, decode_cursor, encode_cursor, etag_of
from shared.app import service_context

blp = Blueprint(
    "customers-listing",
    __name__,
    url_prefix="/customers",
    description="Customers: the list (search, filters, keyset pages) and saved filters.",
)

PAGE_ARGS = ("limit", "cursor", "sort")
# webargs drops unknown query parameters by default: a misspelt filter would list everyone.
STRICT_QUERY: dict[str, Any] = {"location": "query", "unknown": ma.RAISE}


@blp.route("")
class CustomerList(MethodView):
    @blp.requires("customers:read")
    @blp.arguments(CustomerListArgsSchema, **STRICT_QUERY)
    @blp.response(200, CustomerPageSchema)
    @blp.alt_response(503, response="DEFAULT_ERROR")
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List customers matching every filter given; newest first unless `sort` says otherwise.

        A `tag` neither customers nor the tags service knows is a 422 (one not projected yet is
        asked of the tags service: 503 when it does not answer).
        """
        sort = args["sort"]
        after = _customer_position(args["cursor"], sort) if args["cursor"] else None
        params = {name: value for name, value in args.items() if name not in PAGE_ARGS}
        context = service_context()
        tags = params.get("tag") or []
        ensure_tags_known(context.uow(), tags, tags_catalogue(), "tag", "query", context.reads)
        page = queries.list_customers(context.reads, params, sort, args["limit"], after)
        next_cursor = None
        if page.next_position is not None:
            next_cursor = encode_cursor(queries.encode_position(sort, page.next_position))
        return {"items": page.items, "next_cursor": next_cursor}


@blp.route("/segments")
class Segments(MethodView):
    @blp.requires("customers:read")
    @blp.arguments(SegmentListArgsSchema, **STRICT_QUERY)
    @blp.response(200, SegmentPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List saved filters by name."""
        after = _segment_position(args["cursor"]) if args["cursor"] else None
        items, next_key = segments.list_segments(service_context().reads, args["limit"], after)
        next_cursor = encode_cursor([next_key[0], str(next_key[1])]) if next_key else None
        return {"items": items, "next_cursor": next_cursor}

    @blp.requires("customers:write")
    @blp.arguments(SegmentCreateSchema)
    @blp.response(201, SegmentSchema)
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(503, response="DEFAULT_ERROR")
    def post(self, body: dict[str, Any]) -> Any:
        """Save list parameters under a name (unique, whatever the case); a `tag` neither
        customers nor the tags service knows is a 422."""
        segment = segments.create_segment(service_context().uow(), **body, tags=tags_catalogue())
        return segment, 201, _headers(segment)


@blp.route("/segments/<uuid:segment_id>")
class SegmentById(MethodView):
    @blp.requires("customers:read")
    @blp.response(200, SegmentSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, segment_id: uuid.UUID) -> Any:
        """Read a saved filter and its ETag."""
        segment = segments.get_segment(service_context().reads, segment_id)
        return segment, 200, _headers(segment)

    @blp.requires("customers:write")
    @blp.arguments(SegmentUpdateSchema)
    @blp.response(200, SegmentSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(412, response="PRECONDITION_FAILED")
    @blp.alt_response(503, response="DEFAULT_ERROR")
    def patch(self, changes: dict[str, Any], segment_id: uuid.UUID) -> Any:
        """Rename a saved filter or replace its filter (`If-Match` honoured)."""
        segment = segments.update_segment(
            service_context().uow(), segment_id, changes, tags_catalogue(), _if_match
        )
        return segment, 200, _headers(segment)

    @blp.requires("customers:write")
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(412, response="PRECONDITION_FAILED")
    def delete(self, segment_id: uuid.UUID) -> None:
        """Delete a saved filter (`If-Match` honoured)."""
        segments.delete_segment(service_context().uow(), segment_id, _if_match)


def _headers(segment: Segment) -> dict[str, str]:
    return {"ETag": etag_of(segment.id, segment.version)}


def _if_match(segment: Segment) -> None:
    """412 when the request's If-Match names another version of the (locked) segment."""
    check_if_match(etag_of(segment.id, segment.version))


def _invalid_cursor(reason: str = "invalid cursor") -> None:
    abort(422, message=reason, errors={"query": {"cursor": [reason]}})


def _customer_position(cursor: str, sort: str) -> queries.Position:
    """The list position a cursor of ours names for this sort; 422 on `cursor` otherwise."""
    try:
        return queries.decode_position(sort, decode_cursor(cursor, 3))
    except queries.InvalidCursor as exc:
        _invalid_cursor(str(exc))
        raise AssertionError("abort raises") from None


def _segment_position(cursor: str) -> segments.SegmentPosition:
    name_key, segment_id = decode_cursor(cursor, 2)
    try:
        if isinstance(name_key, str):
            return name_key, uuid.UUID(str(segment_id))
    except ValueError:
        pass
    _invalid_cursor()
    raise AssertionError("abort raises")
