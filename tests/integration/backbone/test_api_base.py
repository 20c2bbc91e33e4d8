"""The API base every service uses: auth, error shape, correlation ids, ops endpoints."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

import pytest
from flask.views import MethodView
from sqlalchemy import select

import shared.app
from shared.api import Blueprint, Refusal, Schema
from shared.app import create_service_app, service_context
from shared.auth import STAFF_SCOPES, issue_token
from shared.db import OutboxMessage
from shared.logging import JsonFormatter
from tests.backbone import PING
from tests.conftest import TEST_SECRET, bearer, settings_for
from tests.jwt_keys import claims, sign

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


@blp.route("/broken")
class BrokenPing(MethodView):
    @blp.response(200)
    def get(self):
        """Fail as a bug would."""
        raise KeyError("secret SQL: SELECT password FROM accounts")


@blp.route("/customers/<customer_id>")
class CustomerPing(MethodView):
    @blp.requires_customer(own="customer_id")
    @blp.response(200)
    def get(self, customer_id):
        """A customer's own resource."""
        return {"id": customer_id}


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


def test_a_request_with_a_bad_or_expired_token_is_a_generic_401(client, caplog):
    now = int(time.time())
    expired = sign(claims(aud=["automation"], iat=now - 60, exp=now - 5), TEST_SECRET)
    forged = issue_token(
        settings_for("automation", jwt_secret="another-secret-another-secret-0123456789"),
        "x",
        ["events:publish"],
        audience=["automation"],
    )
    no_audience = sign(claims(aud=None, scope="events:publish"), TEST_SECRET)
    no_iat = sign(claims(aud=["automation"], iat=None, scope="events:publish"), TEST_SECRET)
    too_long = sign(
        claims(aud=["automation"], iat=now, exp=now + 9 * 3600, scope="events:publish"),
        TEST_SECRET,
    )
    tokens = {
        "expired": expired,
        "Signature verification failed": forged,
        "Not enough segments": "not-a-jwt",
        "aud": no_audience,
        "iat": no_iat,
        "longer": too_long,
    }
    for reason, token in tokens.items():
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="shared.api"):
            response = client.post(
                "/automation/pings", json={"n": 1}, headers={"Authorization": f"Bearer {token}"}
            )
        assert response.status_code == 401, reason
        # The token library's words are in the log, not in the answer.
        assert response.json == {
            "code": 401,
            "status": "Unauthorized",
            "message": "invalid or expired token",
        }, reason
        assert any(reason in str(getattr(r, "reason", "")) for r in caplog.records), reason
    assert outbox(client) == []


def test_a_token_for_another_service_is_401(client):
    for audience in (["customers"], ["tags"]):
        response = client.post(
            "/automation/pings", json={"n": 1}, headers=bearer("events:publish", audience=audience)
        )
        assert response.status_code == 401
    ok = client.post(
        "/automation/pings",
        json={"n": 1},
        headers=bearer("events:publish", audience=["automation"]),
    )
    assert ok.status_code == 202


def test_a_customer_token_on_a_staff_endpoint_is_403_whatever_it_carries(client):
    # Valid for this service (so not 401), but a customer is never staff: 403, as for a scope.
    customer = bearer("events:publish", kind="customer", customer_id=str(uuid.uuid4()))
    response = client.post("/automation/pings", json={"n": 1}, headers=customer)
    assert response.status_code == 403
    assert response.json["message"] == "this action is for staff"
    assert outbox(client) == []


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


@pytest.mark.parametrize(
    "incoming",
    ["x" * 65, "", "a b", "tab\there", "<script>", "é", "id;rm", "a" * 200, "ok/../x"],
)
def test_a_malformed_correlation_id_is_replaced_by_a_new_one(client, make_token, incoming):
    response = client.post(
        "/automation/pings",
        json={"n": 4},
        headers={**make_token("events:publish"), "X-Correlation-ID": incoming},
    )
    assert response.status_code == 202
    cid = response.headers["X-Correlation-ID"]
    assert cid != incoming and re.fullmatch(r"[A-Za-z0-9._-]{1,64}", cid)
    (row,) = outbox(client)
    assert json.loads(row.payload)["correlationid"] == cid


def test_a_well_formed_correlation_id_is_kept(client):
    for incoming in ("a", "x" * 64, "Req_1.2-3"):
        response = client.get("/automation/healthz", headers={"X-Correlation-ID": incoming})
        assert response.headers["X-Correlation-ID"] == incoming


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


def test_readiness_fails_when_the_broker_is_unreachable_and_names_no_exception(pg_settings, caplog):
    settings = pg_settings("automation", broker_url="amqp://guest:guest@127.0.0.1:1//")
    client = create_service_app(settings, "Test", [blp]).test_client()
    with caplog.at_level(logging.WARNING, logger="crm.readiness"):
        response = client.get("/automation/readyz")
    assert response.status_code == 503
    assert response.json == {
        "status": "not ready",
        "checks": {"database": "ok", "broker": "unreachable"},
    }
    assert "Error" not in response.get_data(as_text=True)
    assert any(r.exc_info for r in caplog.records if r.name == "crm.readiness")  # why: logged


def test_readiness_is_checked_at_most_every_few_seconds(client, monkeypatch):
    connections, sessions = [], []
    real_connection = shared.app.make_connection
    monkeypatch.setattr(
        shared.app, "make_connection", lambda url: connections.append(1) or real_connection(url)
    )
    readiness = client.application.extensions["crm.readiness"]
    real_session = readiness.session_factory
    readiness.session_factory = lambda: sessions.append(1) or real_session()
    now = [1000.0]
    readiness.clock = lambda: now[0]
    for _ in range(20):
        assert client.get("/automation/readyz").status_code == 200
    assert (len(connections), len(sessions)) == (1, 1)
    now[0] += shared.app.READY_CACHE_SECONDS - 0.1
    assert client.get("/automation/readyz").status_code == 200
    assert (len(connections), len(sessions)) == (1, 1)
    now[0] += 0.1
    assert client.get("/automation/readyz").status_code == 200
    assert (len(connections), len(sessions)) == (2, 2)


def test_an_unexpected_error_is_a_generic_500_with_an_error_id_logged(client, caplog):
    with caplog.at_level(logging.ERROR, logger="shared.api"):
        response = client.get("/automation/pings/broken")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "secret SQL" not in body and "KeyError" not in body and "Traceback" not in body
    error_id = response.headers["X-Error-ID"]
    assert response.json == {
        "code": 500,
        "status": "Internal Server Error",
        "message": f"an unexpected error occurred; quote error id {error_id} to support",
    }
    (record,) = [r for r in caplog.records if getattr(r, "error_id", None) == error_id]
    line = json.loads(JsonFormatter().format(record))
    assert "secret SQL" in line["exception"] and "Traceback" in line["exception"]


def test_a_customer_endpoint_takes_only_its_own_customers_token(client):
    mine = str(uuid.uuid4())
    own = bearer(kind="customer", customer_id=mine, audience=["automation"])
    assert client.get(f"/automation/pings/customers/{mine}", headers=own).json == {"id": mine}
    other = client.get(f"/automation/pings/customers/{uuid.uuid4()}", headers=own)
    assert other.status_code == 403
    staff = client.get(f"/automation/pings/customers/{mine}", headers=bearer(*STAFF_SCOPES))
    assert staff.status_code == 403
    assert client.get(f"/automation/pings/customers/{mine}").status_code == 401


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
