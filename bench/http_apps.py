"""The two WSGI apps the HTTP benchmark serves under gunicorn: ours, and a bare Flask baseline."""

from __future__ import annotations

import os
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import marshmallow as ma
from flask import Flask, jsonify

from shared.api import Blueprint, Schema
from shared.app import create_service_app
from shared.auth.issuing import issue_token
from shared.settings import Settings

BENCH_JWT_SECRET = "bench-secret-long-enough-for-hs256-0123456789abcdef"  # noqa: S105
PATH = "/tags/bench-tag"
SCOPE = "customers:read"

TAG: dict[str, Any] = {
    "id": uuid.UUID("6f1c2b4e-8d3a-4f5e-9a7b-1c2d3e4f5a6b"),
    "name": "VIP",
    "description": "Customers who get a call from their account manager every quarter.",
    "color": "#d4a017",
    "order": 1,
    "is_fixed": False,
    "created_at": datetime(2024, 1, 15, 9, 30, tzinfo=UTC),
}


class BenchTagSchema(Schema):
    """A tag-like object, as the tags service answers one."""

    id = ma.fields.UUID(dump_only=True)
    name = ma.fields.String(dump_only=True)
    description = ma.fields.String(dump_only=True)
    color = ma.fields.String(dump_only=True)
    order = ma.fields.Integer(dump_only=True, allow_none=True)
    is_fixed = ma.fields.Boolean(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)


def bench_settings() -> Settings:
    """Settings of the benchmark app: the tags service, SQLite in a scratch directory."""
    data_dir = Path(
        os.environ.get("CRM_BENCH_DATA_DIR", Path(tempfile.gettempdir()) / "crm_bench_http")
    )
    return Settings(service="tags", data_dir=data_dir, jwt_secret=BENCH_JWT_SECRET)


def bench_token() -> str:
    """A bearer token the benchmark app accepts for its endpoint."""
    return issue_token(bench_settings(), "staff:bench", [SCOPE], audience=["tags"])


def _blueprint() -> Blueprint:
    blp = Blueprint("bench", __name__, url_prefix="/tags", description="Benchmark endpoint.")

    @blp.route("/bench-tag")
    @blp.requires(SCOPE)
    @blp.response(200, BenchTagSchema)
    def bench_tag() -> dict[str, Any]:
        """A small tag-like object, after token verification and schema serialization."""
        return TAG

    return blp


def create_bench_app() -> Flask:
    """Our stack: create_service_app, a shared Blueprint, bearer JWT, a response schema."""
    settings = bench_settings()
    (settings.data_dir / "db").mkdir(parents=True, exist_ok=True)  # SQLite's (it stays unused)
    return create_service_app(settings, "Bench", [_blueprint()])


def create_bare_app() -> Flask:
    """The baseline: bare Flask answering the same JSON with jsonify."""
    app = Flask("bench_bare")
    body = {
        **TAG,
        "id": str(TAG["id"]),
        "created_at": TAG["created_at"].isoformat(),
    }

    @app.get(PATH)
    def bench_tag() -> Any:
        """The same object, without auth, hooks or schema."""
        return jsonify(body)

    return app
