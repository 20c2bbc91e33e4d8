"""HTTP endpoint of customers exports (C9): `GET /customers/export.csv`."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response
from flask.views import MethodView

from services.customers.export.usecases import DELIMITERS, export_csv
from services.customers.listing.api import STRICT_QUERY
from services.customers.listing.schemas import SortedFilterSchema
from services.customers.tagging.projection import ensure_tags_known
from services.customers.tagging.tags_client import tags_catalogue
from shared.api import Blueprint
from shared.app import service_context

blp = Blueprint(
    "customers-export",
    __name__,
    url_prefix="/customers",
    description="Customers: CSV export of the list, or of a saved filter.",
)

_CSV_RESPONSE = {
    "description": "The customers as CSV, UTF-8 with a BOM: one column per field (objects "
    "flattened, phones, lists and tags `|`-separated), then one per custom field by key.",
    "content": {"text/csv": {"schema": {"type": "string"}}},
}


class ExportArgsSchema(SortedFilterSchema):
    """The list parameters (filters, `segment`, `sort`), and the CSV's `delimiter`."""

    delimiter = ma.fields.String(
        load_default=",",
        validate=ma.validate.OneOf(list(DELIMITERS)),
        metadata={"description": "`,` (default), `;` (French spreadsheets) or `tab`."},
    )


@blp.route("/export.csv")
class CustomerExport(MethodView):
    @blp.requires("customers:export")
    @blp.arguments(ExportArgsSchema, **STRICT_QUERY)
    @blp.doc(responses={"200": _CSV_RESPONSE})
    @blp.alt_response(503, response="DEFAULT_ERROR")
    def get(self, args: dict[str, Any]) -> Response:
        """Export the customers matching every list parameter given as CSV, streamed."""
        params = {name: value for name, value in args.items() if name not in ("sort", "delimiter")}
        context = service_context()
        tags = params.get("tag") or []
        ensure_tags_known(context.uow(), tags, tags_catalogue(), "tag", "query", context.reads)
        chunks = export_csv(context.engine, context.reads, params, args["sort"], args["delimiter"])
        return Response(
            chunks,
            content_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": 'attachment; filename="customers.csv"',
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "no-store",
            },
        )
