"""HTTP endpoints of the tags service."""

from __future__ import annotations

import uuid
from typing import Any

from flask import url_for
from flask.views import MethodView
from flask_smorest import abort

from services.tags import usecases
from services.tags.models import Tag
from services.tags.schemas import (
    TagCreateSchema,
    TagEnsureSchema,
    TagListSchema,
    TagMergeSchema,
    TagPageSchema,
    TagQueryArgsSchema,
    TagSchema,
    TagUpdateSchema,
)
from shared.api import Blueprint, check_if_match, decode_cursor, encode_cursor, etag_of
from shared.app import service_context

blp = Blueprint(
    "tags",
    __name__,
    url_prefix="/tags",
    description="The tag catalogue: names, descriptions, colours, order, fixed tags, merge.",
)


@blp.route("")
class Tags(MethodView):
    @blp.requires("customers:read")
    @blp.arguments(TagQueryArgsSchema, location="query")
    @blp.response(200, TagPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List tags by order (tags without one last), then name; `q` searches names."""
        after = _sort_key(args["cursor"]) if args["cursor"] else None
        tags, next_key = usecases.list_tags(
            service_context().reads, args["q"], args["limit"], after
        )
        next_cursor = None
        if next_key is not None:
            next_cursor = encode_cursor([next_key[0], next_key[1], str(next_key[2])])
        return {"items": tags, "next_cursor": next_cursor}

    @blp.requires("tags:write")
    @blp.arguments(TagCreateSchema)
    @blp.response(201, TagSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body: dict[str, Any]) -> Any:
        """Create a tag."""
        tag = usecases.create_tag(service_context().uow(), **body)
        return tag, 201, {**_headers(tag), "Location": url_for("tags.TagById", tag_id=tag.id)}


@blp.route("/ensure")
class EnsuredTags(MethodView):
    @blp.requires("tags:write")
    @blp.arguments(TagEnsureSchema)
    @blp.response(200, TagListSchema)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Find tags by name (any case), creating the missing ones with a default colour."""
        return {"items": usecases.ensure_tags(service_context().uow(), body["names"])}


@blp.route("/<uuid:tag_id>")
class TagById(MethodView):
    @blp.requires("customers:read")
    @blp.response(200, TagSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, tag_id: uuid.UUID) -> Any:
        """Read a tag and its ETag."""
        tag = usecases.get_tag(service_context().reads, tag_id)
        return tag, 200, _headers(tag)

    @blp.requires("tags:write")
    @blp.arguments(TagUpdateSchema)
    @blp.response(200, TagSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(412, response="PRECONDITION_FAILED")
    def patch(self, changes: dict[str, Any], tag_id: uuid.UUID) -> Any:
        """Change a tag's name, description, colour or order (`If-Match` honoured)."""
        tag = usecases.update_tag(service_context().uow(), tag_id, changes, _if_match)
        return tag, 200, _headers(tag)

    @blp.requires("tags:write")
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(412, response="PRECONDITION_FAILED")
    def delete(self, tag_id: uuid.UUID) -> None:
        """Delete a tag that is not fixed (`If-Match` honoured)."""
        usecases.delete_tag(service_context().uow(), tag_id, _if_match)


@blp.route("/<uuid:tag_id>/merge")
class TagMerge(MethodView):
    @blp.requires("tags:write")
    @blp.arguments(TagMergeSchema)
    @blp.response(200, TagSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body: dict[str, Any], tag_id: uuid.UUID) -> Any:
        """Merge this tag into another: its customers move there and it is deleted."""
        tag = usecases.merge_tags(service_context().uow(), tag_id, body["into"])
        return tag, 200, _headers(tag)


def _headers(tag: Tag) -> dict[str, str]:
    return {"ETag": etag_of(tag.id, tag.version)}


def _if_match(tag: Tag) -> None:
    """412 when the request's If-Match names another version of the (locked) tag."""
    check_if_match(etag_of(tag.id, tag.version))


def _sort_key(cursor: str) -> usecases.SortKey:
    """The list position a cursor of ours names; 422 on the `cursor` field otherwise."""
    order, key, tag_id = decode_cursor(cursor, 3)
    try:
        if (order is None or type(order) is int) and isinstance(key, str):
            return order, key, uuid.UUID(str(tag_id))
    except ValueError:
        pass
    abort(422, message="invalid cursor", errors={"query": {"cursor": ["invalid cursor"]}})
    raise AssertionError("abort raises")
