"""HTTP endpoints of the customers service: customer tags, the status catalogue, bulk actions."""

from __future__ import annotations

import uuid
from typing import Any

from flask import jsonify, url_for
from flask.views import MethodView
from flask_smorest import abort

from services.customers.models import BulkJob, Status
from services.customers.tagging import bulk, bulk_jobs, statuses, usecases
from services.customers.tagging.schemas import (
    BulkActionSchema,
    BulkJobSchema,
    BulkResultSchema,
    CustomerTagAddSchema,
    CustomerTagsReplaceSchema,
    CustomerTagsSchema,
    StatusCreateSchema,
    StatusPageSchema,
    StatusSchema,
    StatusUpdateSchema,
)
from services.customers.tagging.tags_client import tags_catalogue
from shared.api import (
    Blueprint,
    PageArgsSchema,
    check_if_match,
    current_principal,
    decode_cursor,
    encode_cursor,
    etag_of,
)
from shared.app import service_context

blp = Blueprint(
    "customers-tagging",
    __name__,
    url_prefix="/customers",
    description="Customers: tags on customers, the status catalogue, bulk actions.",
)


# --- customer tags ------------------------------------------------------------------------------
@blp.route("/<uuid:customer_id>/tags")
class CustomerTags(MethodView):
    @blp.requires("customers:read")
    @blp.response(200, CustomerTagsSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, customer_id: uuid.UUID) -> Any:
        """Read a customer's tags (the ETag is the customer's)."""
        result = usecases.list_customer_tags(service_context().reads, customer_id)
        return result, 200, _customer_etag(result)

    @blp.requires("customers:write")
    @blp.arguments(CustomerTagsReplaceSchema)
    @blp.response(200, CustomerTagsSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(412, response="PRECONDITION_FAILED")
    @blp.alt_response(503, response="DEFAULT_ERROR")
    def put(self, body: dict[str, Any], customer_id: uuid.UUID) -> Any:
        """Replace a customer's tags; answers the customer's tags (`If-Match` honoured)."""
        result = usecases.replace_tags(
            service_context().uow(),
            customer_id,
            body["tag_ids"],
            tags_catalogue(),
            _customer_if_match,
        )
        return result, 200, _customer_etag(result)

    @blp.requires("customers:write")
    @blp.arguments(CustomerTagAddSchema)
    @blp.response(200, CustomerTagsSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(412, response="PRECONDITION_FAILED")
    @blp.alt_response(503, response="DEFAULT_ERROR")
    def post(self, body: dict[str, Any], customer_id: uuid.UUID) -> Any:
        """Add a tag by id, or by name; a new name creates the tag, which needs `tags:write`
        too (403 otherwise). Answers the customer's tags."""
        uow = service_context().uow()
        if "tag_id" in body:
            result = usecases.add_tag(
                uow, customer_id, body["tag_id"], tags_catalogue(), _customer_if_match
            )
        else:
            result = usecases.add_tag_by_name(
                uow,
                customer_id,
                body["name"],
                tags_catalogue(),
                _customer_if_match,
                may_create=current_principal().has("tags:write"),
            )
        return result, 200, _customer_etag(result)


@blp.route("/<uuid:customer_id>/tags/<uuid:tag_id>")
class CustomerTagById(MethodView):
    @blp.requires("customers:write")
    @blp.response(200, CustomerTagsSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(412, response="PRECONDITION_FAILED")
    def delete(self, customer_id: uuid.UUID, tag_id: uuid.UUID) -> Any:
        """Take a tag off a customer (none to take off is fine); answers the customer's tags."""
        result = usecases.remove_tag(
            service_context().uow(), customer_id, tag_id, _customer_if_match
        )
        return result, 200, _customer_etag(result)


def _customer_etag(result: usecases.CustomerTags) -> dict[str, str]:
    return {"ETag": etag_of(result.customer_id, result.version)}


def _customer_if_match(customer_id: uuid.UUID, version: int) -> None:
    check_if_match(etag_of(customer_id, version))


# --- statuses -----------------------------------------------------------------------------------
@blp.route("/statuses")
class Statuses(MethodView):
    @blp.requires("customers:read")
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, StatusPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the statuses customers can be in, by position."""
        after = _status_sort_key(args["cursor"]) if args["cursor"] else None
        items, next_key = statuses.list_statuses(service_context().reads, args["limit"], after)
        return {"items": items, "next_cursor": encode_cursor(list(next_key)) if next_key else None}

    @blp.requires("customers:write")
    @blp.arguments(StatusCreateSchema)
    @blp.response(201, StatusSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body: dict[str, Any]) -> Any:
        """Add a custom status (`key` is fixed once created; `label` can change)."""
        status = statuses.create_status(service_context().uow(), **body)
        location = url_for("customers-tagging.StatusByKey", key=status.key)
        return status, 201, {"ETag": statuses.status_etag(status), "Location": location}


@blp.route("/statuses/<string:key>")
class StatusByKey(MethodView):
    @blp.requires("customers:read")
    @blp.response(200, StatusSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, key: str) -> Any:
        """Read a status."""
        status = statuses.get_status(service_context().reads, key)
        return status, 200, {"ETag": statuses.status_etag(status)}

    @blp.requires("customers:write")
    @blp.arguments(StatusUpdateSchema)
    @blp.response(200, StatusSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(412, response="PRECONDITION_FAILED")
    def patch(self, changes: dict[str, Any], key: str) -> Any:
        """Change a status's label or position (`If-Match` honoured)."""
        status = statuses.update_status(service_context().uow(), key, changes, _status_if_match)
        return status, 200, {"ETag": statuses.status_etag(status)}

    @blp.requires("customers:write", "customers:delete")
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(412, response="PRECONDITION_FAILED")
    def delete(self, key: str) -> None:
        """Delete a custom status no customer is in; 409 for a default or used one."""
        statuses.delete_status(service_context().uow(), key, _status_if_match)


def _status_if_match(status: Status) -> None:
    check_if_match(statuses.status_etag(status))


def _status_sort_key(cursor: str) -> statuses.SortKey:
    position, key = decode_cursor(cursor, 2)
    if type(position) is not int or not isinstance(key, str):
        abort(422, message="invalid cursor", errors={"query": {"cursor": ["invalid cursor"]}})
    return position, key


# --- bulk actions -------------------------------------------------------------------------------
@blp.route("/bulk")
class BulkActions(MethodView):
    @blp.requires("customers:write")
    @blp.arguments(BulkActionSchema)
    @blp.response(200, BulkResultSchema)
    @blp.alt_response(202, schema=BulkJobSchema, success=True, description="Queued as a job.")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(503, response="DEFAULT_ERROR")
    def post(self, body: dict[str, Any]) -> Any:
        """Act on many customers: `{matched, changed}`, or 202 and a job above the sync limit.

        `delete` also needs the `customers:delete` scope, and above 1,000 customers `confirm`:
        the number it matches (409 with that number otherwise).
        """
        principal = current_principal()
        if body["action"] == "delete" and not principal.has("customers:delete"):
            abort(403, message="this action needs the scope customers:delete")
        request = bulk.BulkRequest(
            action=body["action"],
            ids=list(dict.fromkeys(body["ids"])) if "ids" in body else None,
            filter=body.get("filter"),
            tag_ids=list(dict.fromkeys(body.get("tag_ids", []))),
            status=body.get("status"),
            confirm=body.get("confirm"),
        )
        context = service_context()
        outcome = bulk.run_bulk_action(
            context.uow(),
            request,
            context.settings.bulk_sync_limit,
            principal.subject,
            tags_catalogue(),
        )
        if isinstance(outcome, BulkJob):
            location = url_for("customers-tagging.BulkJobById", job_id=outcome.id)
            return jsonify(BulkJobSchema().dump(outcome)), 202, {"Location": location}
        return outcome


@blp.route("/bulk/<uuid:job_id>")
class BulkJobById(MethodView):
    @blp.requires("customers:read")
    @blp.response(200, BulkJobSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, job_id: uuid.UUID) -> Any:
        """Read a bulk job's status and progress."""
        return bulk_jobs.get_job(service_context().reads, job_id)
