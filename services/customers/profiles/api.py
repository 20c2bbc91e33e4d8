"""HTTP endpoints of the customers service: profiles (create, read, edit, delete, avatar, merge)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, request
from flask.views import MethodView

from services.customers.models import Customer
from services.customers.profiles import avatar, merge, reads, signup_lookup, usecases
from services.customers.profiles.errors import CustomerNotFound
from services.customers.profiles.representation import CustomerView
from services.customers.profiles.schemas import (
    AvatarSchema,
    AvatarUploadSchema,
    CustomerCreateSchema,
    CustomerSchema,
    CustomerUpdateSchema,
    MergeSchema,
)
from shared.api import Blueprint, check_if_match, current_principal, etag_of
from shared.app import service_context

blp = Blueprint(
    "customers-profiles",
    __name__,
    url_prefix="/customers",
    description="Customers: profiles, consent, avatars, merging duplicates.",
)

_AVATAR_RESPONSE = {
    "description": "The avatar image (PNG, JPEG or WebP, at most 512x512).",
    "content": {
        content_type: {"schema": {"type": "string", "format": "binary"}}
        for content_type in avatar.CONTENT_TYPES.values()
    },
}


@blp.route("")
class Customers(MethodView):
    @blp.requires("customers:write")
    @blp.arguments(CustomerCreateSchema)
    @blp.response(201, CustomerSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body: dict[str, Any]) -> Any:
        """Create a customer; every consent channel starts off unless `consent` records it."""
        answer = usecases.create_customer(
            service_context().uow(), body, current_principal().subject, _phone_region()
        )
        headers = {**_headers(answer), "Location": f"/customers/{answer.id}"}
        return answer, 201, headers


@blp.route("/<uuid:customer_id>")
class CustomerById(MethodView):
    @blp.requires("customers:read")
    @blp.response(200, CustomerSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, customer_id: uuid.UUID) -> Any:
        """Read a customer and its ETag (a sign-up whose event is in flight included)."""
        engine = service_context().engine
        try:
            answer = reads.get_customer(engine, customer_id)
        except CustomerNotFound:
            if not signup_lookup.adopt_signup(customer_id):
                raise
            answer = reads.get_customer(engine, customer_id)
        return answer, 200, _headers(answer)

    @blp.requires("customers:write")
    @blp.arguments(CustomerUpdateSchema)
    @blp.response(200, CustomerSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(412, response="PRECONDITION_FAILED")
    def patch(self, body: dict[str, Any], customer_id: uuid.UUID) -> Any:
        """Change a customer's fields (`If-Match` honoured); `status` is a manual change."""
        answer = usecases.update_customer(
            service_context().uow(),
            customer_id,
            body,
            current_principal().subject,
            _phone_region(),
            _if_match,
        )
        return answer, 200, _headers(answer)

    @blp.requires("customers:delete")
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(412, response="PRECONDITION_FAILED")
    def delete(self, customer_id: uuid.UUID) -> None:
        """Delete a customer and everything of theirs (`If-Match` honoured)."""
        usecases.delete_customer(service_context().uow(), customer_id, _if_match)


@blp.route("/<uuid:customer_id>/avatar")
class CustomerAvatar(MethodView):
    @blp.requires("customers:write")
    @blp.arguments(AvatarUploadSchema, location="files")
    @blp.response(200, AvatarSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
    def post(self, files: dict[str, Any], customer_id: uuid.UUID) -> Any:
        """Upload the customer's avatar: PNG, JPEG or WebP up to 2 MB, kept at most 512x512."""
        return avatar.set_avatar(service_context().uow(), customer_id, files["file"].stream)

    @blp.requires("customers:read")
    @blp.doc(responses={"200": _AVATAR_RESPONSE})
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, customer_id: uuid.UUID) -> Any:
        """The customer's avatar image."""
        image = avatar.get_avatar(service_context().reads, customer_id)
        response = Response(image.data, mimetype=image.content_type)
        response.set_etag(f"{customer_id}-{image.updated_at.timestamp():.6f}")
        response.headers["Cache-Control"] = "private, no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response.make_conditional(request)


@blp.route("/<uuid:customer_id>/merge")
class CustomerMerge(MethodView):
    @blp.requires("customers:write", "customers:delete")
    @blp.arguments(MergeSchema)
    @blp.response(200, CustomerSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(412, response="PRECONDITION_FAILED")
    def post(self, body: dict[str, Any], customer_id: uuid.UUID) -> Any:
        """Merge a duplicate into this customer; the duplicate is deleted (`If-Match` honoured)."""
        answer = merge.merge_customers(
            service_context().uow(), customer_id, body["duplicate_id"], _if_match
        )
        return answer, 200, _headers(answer)


def _headers(answer: CustomerView) -> dict[str, str]:
    return {"ETag": etag_of(answer.id, answer.version)}


def _if_match(customer: Customer) -> None:
    """412 when the request's If-Match names another version of the (locked) customer."""
    check_if_match(etag_of(customer.id, customer.version))


def _phone_region() -> str:
    return service_context().settings.default_phone_region
