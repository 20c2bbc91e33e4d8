"""HTTP endpoints of the notifications service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import abort

from services.notifications import templates, usecases
from services.notifications.config import NotificationsConfig
from services.notifications.models import NotificationSettings
from services.notifications.schemas import (
    DeliveryPageSchema,
    DeliveryQueryArgsSchema,
    SettingsSchema,
    TemplatePageSchema,
    TemplateQueryArgsSchema,
    TemplateSchema,
    TemplateWriteSchema,
)
from shared.api import Blueprint, check_if_match, decode_cursor, encode_cursor, etag_of
from shared.app import service_context

blp = Blueprint(
    "notifications",
    __name__,
    url_prefix="/notifications",
    description="Multilingual email templates, rendering, sending and the delivery log.",
)


def _config() -> NotificationsConfig:
    config: NotificationsConfig = current_app.extensions["crm.notifications"]
    return config


@blp.route("/templates")
class Templates(MethodView):
    @blp.requires("customers:read")
    @blp.arguments(TemplateQueryArgsSchema, location="query")
    @blp.response(200, TemplatePageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the templates in effect (saved over shipped), by key and language."""
        views = templates.list_templates(service_context().reads, args["key"])
        if args["cursor"]:
            key, language = decode_cursor(args["cursor"], 2)
            views = [v for v in views if (v.key, v.language) > (str(key), str(language))]
        page, rest = views[: args["limit"]], views[args["limit"] :]
        next_cursor = encode_cursor([page[-1].key, page[-1].language]) if rest else None
        return {"items": page, "next_cursor": next_cursor}


@blp.route("/templates/<string:key>/<string:language>")
class TemplateByKey(MethodView):
    @blp.requires("customers:read")
    @blp.response(200, TemplateSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, key: str, language: str) -> Any:
        """Read the template of a key in a language (the shipped one unless staff saved one)."""
        view = templates.get_template(service_context().reads, key, language)
        return view, 200, _template_headers(view)

    @blp.requires("notifications:write")
    @blp.arguments(TemplateWriteSchema)
    @blp.response(200, TemplateSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(412, response="PRECONDITION_FAILED")
    def put(self, body: dict[str, str], key: str, language: str) -> Any:
        """Save a template (422 with the line on a syntax error or an unknown variable)."""
        view = templates.save_template(
            service_context().uow(), key, language, body, _config().limits, _template_if_match
        )
        return view, 200, _template_headers(view)

    @blp.requires("notifications:write")
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(412, response="PRECONDITION_FAILED")
    def delete(self, key: str, language: str) -> None:
        """Return a key and language to the shipped template."""
        templates.restore_template(service_context().uow(), key, language, _template_if_match)


@blp.route("/settings")
class Settings(MethodView):
    @blp.requires("customers:read")
    @blp.response(200, SettingsSchema)
    def get(self) -> Any:
        """Read the default language and the admins' addresses."""
        row = usecases.get_settings(service_context().reads)
        return row, 200, _settings_headers(row)

    @blp.requires("notifications:write")
    @blp.arguments(SettingsSchema)
    @blp.response(200, SettingsSchema)
    @blp.alt_response(412, response="PRECONDITION_FAILED")
    def put(self, body: dict[str, Any]) -> Any:
        """Replace the default language and the admins' addresses."""
        row = usecases.save_settings(
            service_context().uow(),
            body["default_language"],
            body["admin_emails"],
            _settings_if_match,
        )
        return row, 200, _settings_headers(row)


@blp.route("/deliveries")
class Deliveries(MethodView):
    @blp.requires("customers:read")
    @blp.arguments(DeliveryQueryArgsSchema, location="query")
    @blp.response(200, DeliveryPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The delivery log, newest first: what was sent, when, to whom, why, the outcome."""
        after = _delivery_key(args["cursor"]) if args["cursor"] else None
        rows, next_key = usecases.list_deliveries(
            service_context().reads, args, args["limit"], after
        )
        next_cursor = None
        if next_key is not None:
            next_cursor = encode_cursor([next_key[0].isoformat(), str(next_key[1])])
        return {"items": rows, "next_cursor": next_cursor}


def _template_headers(view: templates.TemplateView) -> dict[str, str]:
    return {"ETag": etag_of(f"{view.key}/{view.language}", view.version)}


def _template_if_match(view: templates.TemplateView) -> None:
    check_if_match(etag_of(f"{view.key}/{view.language}", view.version))


def _settings_headers(row: NotificationSettings) -> dict[str, str]:
    return {"ETag": etag_of("settings", row.version)}


def _settings_if_match(row: NotificationSettings) -> None:
    check_if_match(etag_of("settings", row.version))


def _delivery_key(cursor: str) -> usecases.DeliveryKey:
    moment, delivery_id = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(str(moment)), uuid.UUID(str(delivery_id))
    except ValueError:
        abort(422, message="invalid cursor", errors={"query": {"cursor": ["invalid cursor"]}})
        raise AssertionError("abort raises") from None
