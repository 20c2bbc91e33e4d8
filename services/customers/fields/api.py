"""HTTP endpoints of custom fields (C13): the definitions staff keep."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView

from services.customers.fields import usecases
from services.customers.fields.models import CustomFieldDefinition
from services.customers.fields.schemas import (
    FieldCreateSchema,
    FieldListArgsSchema,
    FieldPageSchema,
    FieldSchema,
    FieldUpdateSchema,
)
from shared.api import Blueprint, check_if_match, decode_cursor, encode_cursor, etag_of
from shared.app import service_context

blp = Blueprint(
    "customers-fields",
    __name__,
    url_prefix="/customers",
    description="Customers: custom fields, extra profile fields per kind of customer.",
)


@blp.route("/fields")
class Fields(MethodView):
    @blp.requires("customers:read")
    @blp.arguments(FieldListArgsSchema, location="query")
    @blp.response(200, FieldPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the custom fields by key."""
        after = str(decode_cursor(args["cursor"], 1)[0]) if args["cursor"] else None
        items, next_key = usecases.list_fields(service_context().reads, args["limit"], after)
        return {"items": items, "next_cursor": encode_cursor([next_key]) if next_key else None}

    @blp.requires("settings:write")
    @blp.arguments(FieldCreateSchema)
    @blp.response(201, FieldSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body: dict[str, Any]) -> Any:
        """Define a custom field for individuals, companies or both."""
        definition = usecases.create_field(service_context().uow(), body)
        location = url_for("customers-fields.FieldByKey", key=definition.key)
        return definition, 201, {**_headers(definition), "Location": location}


@blp.route("/fields/<string:key>")
class FieldByKey(MethodView):
    @blp.requires("customers:read")
    @blp.response(200, FieldSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, key: str) -> Any:
        """Read a custom field and its ETag."""
        definition = usecases.get_field(service_context().reads, key)
        return definition, 200, _headers(definition)

    @blp.requires("settings:write")
    @blp.arguments(FieldUpdateSchema)
    @blp.response(200, FieldSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(412, response="PRECONDITION_FAILED")
    def patch(self, changes: dict[str, Any], key: str) -> Any:
        """Change a custom field (`If-Match` honoured); a type, options or kinds the values
        customers hold cannot take is a 409 that says how many customers are in the way."""
        definition = usecases.update_field(service_context().uow(), key, changes, _if_match)
        return definition, 200, _headers(definition)

    @blp.requires("settings:write")
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(412, response="PRECONDITION_FAILED")
    def delete(self, key: str) -> None:
        """Delete a custom field and every customer's value of it (`If-Match` honoured)."""
        usecases.delete_field(service_context().uow(), key, _if_match)


def _headers(definition: CustomFieldDefinition) -> dict[str, str]:
    return {"ETag": etag_of(definition.key, definition.version)}


def _if_match(definition: CustomFieldDefinition) -> None:
    check_if_match(etag_of(definition.key, definition.version))
