"""The API base every service uses: auth, error shape, correlation ids, ops endpoints."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from flask.views import MethodView
from sqlalchemy import select

from shared.api import Blueprint, Refusal, Schema
from shared.app import create_service_app, service_context
from shared.auth import issue_token
from shared.db import OutboxMessage
from shared.logging import JsonFormatter
from tests.backbone import PING
from tests.conftest import settings_for

blp = Blueprint("pings", __name__, url_prefix="/automation/pings")


class PingArgs(Schema):
    n = __import__("marshmallow").fields.Integer(required=True)


@blp.route("")
class Pings(MethodView):
    @blp.requires("events:publish")
    @blp.arguments(PingArgs)
    @blp.response(202, PingArgs)
    def post(self, args):
        """Emit a ping."""
        with service_context().uow() as uow:
            uow.emit(PING, {"n": args["n"]})
            uow.commit()
        return args


class PingRefused(Refusal):
    status, field = 409, "n"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


@blp.route("/refused")
class RefusedPing(MethodView):
    @blp.response(200)
    def get(self):
        """Refuse, as a use case would."""
        raise PingRefused("13 is taken")


@pytest.fixture
def client(pg_settings):
    app = create_service_app(pg_settings("automation"), "Test", [blp])
    return app.test_client()


def outbox(client):
    with client.application.app_context(), service_context().session_factory() as session:
        return list(session.scalars(select(OutboxMessage)))


def test_a_request_without_a_token_is_401(client):
    response = client.post("/automation/pings", json={"n": 1})
    assert response.status_code == 401
    assert response.json["message"] == "a bearer token is required"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_request_with_a_bad_or_expired_token_is_401(client):
    settings = settings_for("automation")
    expired = issue_token(settings, "x", ["events:publish"], ttl=timedelta(seconds=-5))
    forged = issue_token(
        settings_for("automation", jwt_secret="another-secret-another-secret-0123456789"),
        "x",
        ["events:publish"],
    )
    for token in (expired, forged, "not-a-jwt"):
        response = client.post(
            "/automation/pings", json={"n": 1}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401, token


def test_a_token_lacking_the_scope_is_403_and_names_it(client, make_token):
    response = client.post("/automation/pings", json={"n": 1}, headers=make_token("customers:read"))
    assert response.status_code == 403
    assert "events:publish" in response.json["message"]
    assert outbox(client) == []


def test_invalid_input_is_422_naming_the_field_and_emits_nothing(client, make_token):
    response = client.post(
        "/automation/pings", json={"n": "x", "extra": 1}, headers=make_token("events:publish")
    )
    assert response.status_code == 422
    assert set(response.json["errors"]["json"]) == {"n", "extra"}
    assert outbox(client) == []


def test_the_correlation_id_of_a_request_is_on_the_event_it_caused(client, make_token):
    response = client.post(
        "/automation/pings",
        json={"n": 4},
        headers={**make_token("events:publish"), "X-Correlation-ID": "req-abc"},
    )
    assert response.status_code == 202
    assert response.headers["X-Correlation-ID"] == "req-abc"
    (row,) = outbox(client)
    envelope = json.loads(row.payload)
    assert envelope["correlationid"] == "req-abc"
    assert envelope["type"] == PING and envelope["source"] == "automation"
    assert envelope["specversion"] == "1.0" and envelope["data"] == {"n": 4}


def test_a_request_without_a_correlation_id_gets_one(client, make_token):
    response = client.post("/automation/pings", json={"n": 4}, headers=make_token("events:publish"))
    (row,) = outbox(client)
    assert json.loads(row.payload)["correlationid"] == response.headers["X-Correlation-ID"]


def test_the_openapi_document_declares_the_scopes_of_each_endpoint(client):
    spec = client.get("/automation/openapi.json").json
    operation = spec["paths"]["/automation/pings"]["post"]
    assert operation["security"] == [{"bearerAuth": ["events:publish"]}]
    assert {"401", "403", "422"} <= set(operation["responses"])
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_ops_endpoints_answer_under_the_service_prefix(client):
    assert client.get("/automation/healthz").json["status"] == "ok"
    ready = client.get("/automation/readyz")
    assert ready.status_code == 200 and ready.json["checks"] == {
        "database": "ok",
        "broker": "ok",
    }
    metrics = client.get("/automation/metrics").get_data(as_text=True)
    assert "crm_http_requests_total" in metrics
    assert 'crm_outbox_backlog{service="automation"}' in metrics
    docs = client.get("/automation/docs")
    assert docs.status_code == 200 and b"/automation/docs/assets/swagger-ui-bundle.js" in docs.data
    assert client.get("/automation/docs/assets/swagger-ui-bundle.js").status_code == 200


def test_readiness_fails_when_the_broker_is_unreachable(pg_settings):
    settings = pg_settings("automation", broker_url="amqp://guest:guest@127.0.0.1:1//")
    client = create_service_app(settings, "Test", [blp]).test_client()
    response = client.get("/automation/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["broker"].startswith("unreachable")


def test_an_unknown_path_is_a_json_404(client):
    response = client.get("/automation/nothing-here")
    assert response.status_code == 404
    assert response.json["status"] == "Not Found"


def test_every_request_is_logged_with_its_correlation_id(client, make_token, caplog):
    with caplog.at_level(logging.INFO, logger="crm.access"):
        client.post(
            "/automation/pings",
            json={"n": 1},
            headers={**make_token("events:publish"), "X-Correlation-ID": "log-me"},
        )
    (record,) = [r for r in caplog.records if r.name == "crm.access"]
    line = json.loads(JsonFormatter().format(record))
    assert line["correlation_id"] == "log-me"
    assert line["status"] == 202 and line["path"] == "/automation/pings"
    assert line["subject"] == "staff:test"


def test_a_use_case_refusal_is_answered_in_the_one_error_shape(client):
    response = client.get("/automation/pings/refused")
    assert response.status_code == 409
    assert response.json == {
        "code": 409,
        "status": "Conflict",
        "message": "13 is taken",
        "errors": {"json": {"n": ["13 is taken"]}},
    }
    assert response.headers["Retry-After"] == "1"
