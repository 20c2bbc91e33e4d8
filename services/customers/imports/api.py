"""HTTP endpoints of CSV imports: upload (202 and a job), progress, rejected rows as CSV."""

from __future__ import annotations

import csv
import io
import os
import uuid
from collections.abc import Iterator
from typing import Any

from flask import Response, current_app, jsonify, request, stream_with_context, url_for
from flask.views import MethodView

from services.customers.imports import usecases
from services.customers.imports.schemas import (
    ImportArgsSchema,
    ImportListArgsSchema,
    ImportListSchema,
    ImportQueuedSchema,
    ImportSchema,
)
from services.customers.imports.usecases import ImportRefused
from shared.api import Blueprint, current_principal
from shared.app import service_context

MAX_BYTES_CONFIG = "CUSTOMERS_IMPORT_MAX_BYTES"
MAX_BYTES_ENV = "CRM_CUSTOMERS_IMPORT_MAX_BYTES"
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
MULTIPART_SLACK = 64 * 1024

blp = Blueprint(
    "customers-imports",
    __name__,
    url_prefix="/customers/imports",
    description="Customers: CSV imports (C9).",
)


@blp.route("")
class Imports(MethodView):
    @blp.requires("customers:import")
    @blp.arguments(ImportArgsSchema, location="query")
    @blp.response(202, ImportQueuedSchema)
    @blp.doc(
        requestBody={
            "content": {
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            }
        }
    )
    def post(self, args: dict[str, Any]) -> Any:
        """Import customers from a CSV (body or multipart `file`): 202 and a job to follow.

        UTF-8 (with or without BOM) or Windows-1252/Latin-1; comma, semicolon or tab; a header
        row in English or French. Every row is validated as `POST /customers` validates it.
        """
        max_bytes = max_import_bytes()
        if request.content_length is not None and request.content_length > max_bytes + (
            MULTIPART_SLACK if request.mimetype == "multipart/form-data" else 0
        ):
            raise ImportRefused(f"the file is larger than the limit of {max_bytes} bytes")
        # This route only: up to the import limit (the app's own limit stays for the others).
        request.max_content_length = max_bytes + MULTIPART_SLACK
        filename = None
        if request.mimetype == "multipart/form-data":
            upload = request.files.get("file")
            if upload is None:
                raise ImportRefused("send the CSV as the multipart field `file`")
            stream: Any = upload.stream
            filename = upload.filename
        else:
            stream = request.stream
        job = usecases.start_import(
            service_context().uow(),
            stream,
            max_bytes,
            current_principal().subject,
            args["dry_run"],
            args["on_duplicate"],
            filename,
        )
        location = url_for("customers-imports.ImportById", import_id=job.id)
        body = ImportQueuedSchema().dump({"id": job.id, "status": job.status})
        return jsonify(body), 202, {"Location": location}

    @blp.requires("customers:import")
    @blp.arguments(ImportListArgsSchema, location="query")
    @blp.response(200, ImportListSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """The latest imports, newest first."""
        return {"items": usecases.list_imports(service_context().reads, args["limit"])}


@blp.route("/<uuid:import_id>")
class ImportById(MethodView):
    @blp.requires("customers:import")
    @blp.response(200, ImportSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, import_id: uuid.UUID) -> Any:
        """An import's status, progress and per-row errors (row, field, message)."""
        return usecases.get_import(service_context().reads, import_id)


@blp.route("/<uuid:import_id>/errors.csv")
class ImportErrors(MethodView):
    @blp.requires("customers:import")
    @blp.doc(
        responses={
            "200": {
                "description": "The rejected rows with a `reason` column.",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        }
    )
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, import_id: uuid.UUID) -> Any:
        """The rejected rows as they were, with a `reason` column: fix them and import again."""
        header, rows = usecases.error_rows(service_context().session_factory, import_id)

        def lines() -> Iterator[str]:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            writer.writerow([*header, "reason"])
            for cells, reason in rows:
                writer.writerow([*map(neutralised, cells), neutralised(reason)])
                if buffer.tell() > 64 * 1024:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
            yield buffer.getvalue()

        response = Response(stream_with_context(lines()), mimetype="text/csv")
        response.headers["Content-Disposition"] = (
            f'attachment; filename="import-{import_id}-errors.csv"'
        )
        return response


def max_import_bytes() -> int:
    """The largest file accepted: the app's `CUSTOMERS_IMPORT_MAX_BYTES`, else the environment's
    `CRM_CUSTOMERS_IMPORT_MAX_BYTES`, else 200 MB."""
    configured = current_app.config.get(MAX_BYTES_CONFIG) or os.environ.get(MAX_BYTES_ENV)
    return int(configured or DEFAULT_MAX_BYTES)


def neutralised(cell: str) -> str:
    """A cell a spreadsheet would run as a formula, made text (`'` first; OWASP CSV injection)."""
    return f"'{cell}" if cell.startswith(("=", "+", "-", "@", "\t", "\r")) else cell
