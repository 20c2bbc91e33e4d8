"""HTTP endpoints of the automation service."""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import current_app, request, url_for
from flask.views import MethodView
from flask_smorest import abort

from services.automation import door, usecases
from services.automation.directory import Directory, RemoteDirectory
from services.automation.engine import decision_json
from services.automation.models import AutomationSettings, Rule
from services.automation.schemas import (
    AcceptedSchema,
    DecisionArgsSchema,
    DecisionPageSchema,
    EventsDocSchema,
    RuleCreateSchema,
    RuleListSchema,
    RuleSchema,
    RuleUpdateSchema,
    SettingsSchema,
    SettingsUpdateSchema,
)
from shared.api import Blueprint, check_if_match, decode_cursor, encode_cursor, etag_of
from shared.app import service_context

blp = Blueprint(
    "automation",
    __name__,
    url_prefix="/automation",
    description="Status and tag rules driven by internal and external events.",
)

BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"


@blp.route("/settings")
class Settings(MethodView):
    @blp.requires("customers:read")
    @blp.response(200, SettingsSchema)
    def get(self) -> Any:
        """Read the main switch and the inactivity period."""
        settings = usecases.get_settings(service_context().reads)
        return settings, 200, _settings_headers(settings)

    @blp.requires("settings:write")
    @blp.arguments(SettingsUpdateSchema)
    @blp.response(200, SettingsSchema)
    @blp.alt_response(412, response="PRECONDITION_FAILED")
    def put(self, body: dict[str, Any]) -> Any:
        """Switch all automation on or off; change the inactivity period (`If-Match` honoured)."""
        settings = usecases.update_settings(
            service_context().uow(),
            body,
            lambda row: check_if_match(_settings_etag(row)),
        )
        return settings, 200, _settings_headers(settings)


@blp.route("/rules")
class Rules(MethodView):
    @blp.requires("customers:read")
    @blp.response(200, RuleListSchema)
    def get(self) -> dict[str, Any]:
        """List every rule, built-in ones first."""
        return {"items": usecases.list_rules(service_context().reads)}

    @blp.requires("settings:write")
    @blp.arguments(RuleCreateSchema)
    @blp.response(201, RuleSchema)
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self, body: dict[str, Any]) -> Any:
        """Create a custom rule (checked against the grammar, statuses and tags: 422)."""
        rule = usecases.create_rule(service_context().uow(), body, directory())
        location = url_for("automation.RuleById", rule_id=rule.id)
        return rule, 201, {**_rule_headers(rule), "Location": location}


@blp.route("/rules/<string:rule_id>")
class RuleById(MethodView):
    @blp.requires("customers:read")
    @blp.response(200, RuleSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, rule_id: str) -> Any:
        """Read a rule and its ETag."""
        rule = usecases.get_rule(service_context().reads, rule_id)
        return rule, 200, _rule_headers(rule)

    @blp.requires("settings:write")
    @blp.arguments(RuleUpdateSchema)
    @blp.response(200, RuleSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(412, response="PRECONDITION_FAILED")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def patch(self, changes: dict[str, Any], rule_id: str) -> Any:
        """Change a rule; a built-in one can only be switched on or off (`If-Match` honoured)."""
        rule = usecases.update_rule(
            service_context().uow(), rule_id, changes, directory(), _rule_if_match
        )
        return rule, 200, _rule_headers(rule)

    @blp.requires("settings:write")
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(412, response="PRECONDITION_FAILED")
    def delete(self, rule_id: str) -> None:
        """Delete a custom rule (built-in rules cannot be deleted: 409)."""
        usecases.delete_rule(service_context().uow(), rule_id, _rule_if_match)


@blp.route("/customers/<uuid:customer_id>/decisions")
class Decisions(MethodView):
    @blp.requires("customers:read")
    @blp.arguments(DecisionArgsSchema, location="query")
    @blp.response(200, DecisionPageSchema)
    def get(self, args: dict[str, Any], customer_id: uuid.UUID) -> dict[str, Any]:
        """Every rule evaluation for the customer, newest first: fired or not, and why."""
        before = None
        if args["cursor"]:
            (before,) = decode_cursor(args["cursor"], 1)
            if type(before) is not int:
                abort(422, message="invalid cursor", errors={"query": {"cursor": ["invalid"]}})
        rows, next_id = usecases.list_decisions(
            service_context().reads, customer_id, args["limit"], before
        )
        return {
            "items": [decision_json(row) for row in rows],
            "next_cursor": encode_cursor([next_id]) if next_id is not None else None,
        }


@blp.route("/events")
class Events(MethodView):
    @blp.requires("events:publish")
    @blp.doc(
        requestBody={
            "required": True,
            "content": {
                media: {"schema": schema}
                for media, schema in (
                    ("application/json", EventsDocSchema),
                    ("application/cloudevents+json", EventsDocSchema),
                    (
                        BATCH_CONTENT_TYPE,
                        {"type": "array", "items": {"$ref": "#/components/schemas/EventsDoc"}},
                    ),
                )
            },
        }
    )
    @blp.response(202, AcceptedSchema)
    def post(self) -> dict[str, int]:
        """Put external events on the bus (one CloudEvent, or a batch): 422 names the bad ones
        and accepts none; an id sent before has no second effect."""
        bodies = _posted_events()
        events = door.check_events(bodies)
        new = door.accept_events(service_context().uow(), events)
        return {"accepted": len(events), "new": new}


def _posted_events() -> list[Any]:
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        abort(422, message="the body is not JSON", errors={"json": {"_schema": ["not JSON"]}})
    if request.mimetype == BATCH_CONTENT_TYPE:
        if not isinstance(body, list):
            abort(
                422,
                message="a batch is a JSON array of events",
                errors={"json": {"_schema": ["a JSON array of CloudEvents"]}},
            )
        return list(body)
    return list(body) if isinstance(body, list) else [body]


def directory() -> Directory:
    """The owners this app asks (customers, tags), built on first use and kept with the app."""
    extensions = current_app.extensions
    if "automation.directory" not in extensions:
        extensions["automation.directory"] = RemoteDirectory(service_context().settings)
    found: Directory = extensions["automation.directory"]
    return found


def _settings_etag(settings: AutomationSettings) -> str:
    return etag_of("settings", settings.version)


def _settings_headers(settings: AutomationSettings) -> dict[str, str]:
    return {"ETag": _settings_etag(settings)}


def _rule_headers(rule: Rule) -> dict[str, str]:
    return {"ETag": etag_of(rule.id, rule.version)}


def _rule_if_match(rule: Rule) -> None:
    check_if_match(etag_of(rule.id, rule.version))
