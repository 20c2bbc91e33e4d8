"""R4 devices and push tokens, R5 log-in-as, and the JWKS of customer tokens."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from flask.testing import FlaskClient
from sqlalchemy import select

from services.registration.app import create_app
from services.registration.models import AuthEvent
from shared.auth import TokenVerifier
from shared.settings import Settings
from tests.integration.registration.conftest import PASSWORD
from tests.jwt_keys import ed25519_pair


def _customer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_new_device_is_confirmed_by_its_link_then_listed_and_may_register_push(
    client: FlaskClient,
    staff: dict[str, str],
    configure: Callable[..., Any],
    sign_up: Callable[..., dict[str, Any]],
    log_in: Callable[..., Any],
    events: Callable[..., list[dict[str, Any]]],
    link_token: Callable[[str, object], str],
) -> None:
    configure(new_device_confirmation=True)
    signed = sign_up()
    customer_id = signed["customer_id"]
    assert log_in(signed["email"], device_id="phone-1").status_code == 202
    event = events("device.confirmation_requested", customer_id)[-1]
    assert event["data"]["device_id"] == "phone-1" and "token=" in event["data"]["link"]
    devices = client.get(f"/registration/accounts/{customer_id}/devices", headers=staff)
    assert [d["confirmed"] for d in devices.get_json()["items"]] == [False]
    token = link_token("device.confirmation_requested", customer_id)
    assert (
        client.post("/registration/device-confirmations", json={"token": token}).status_code == 200
    )
    assert events("device.confirmed", customer_id)[0]["data"]["device_id"] == "phone-1"
    logged = log_in(signed["email"], device_id="phone-1")
    assert logged.status_code == 200
    # Another device still asks.
    assert log_in(signed["email"], device_id="tablet-9").status_code == 202

    access = _customer(logged.get_json()["access_token"])
    push = {"token": "fcm-token-123", "platform": "android"}
    unconfirmed = client.put("/registration/devices/tablet-9/push-token", json=push, headers=access)
    assert unconfirmed.status_code == 404
    registered = client.put("/registration/devices/phone-1/push-token", json=push, headers=access)
    assert registered.status_code == 200, registered.get_json()
    assert events("device.push_registered", customer_id)[0]["data"]["platform"] == "android"
    assert (
        client.put("/registration/devices/phone-1/push-token", json=push, headers=staff).status_code
        == 403
    )
    listed = client.get(f"/registration/accounts/{customer_id}/devices", headers=staff).get_json()
    phone = next(d for d in listed["items"] if d["device_id"] == "phone-1")
    assert (
        phone["push_token"] == "fcm-token-123" and phone["first_seen_at"] and phone["last_seen_at"]
    )

    # Revoking the device revokes its push token and its refresh tokens.
    refresh = logged.get_json()["refresh_token"]
    revoked = client.delete(f"/registration/accounts/{customer_id}/devices/phone-1", headers=staff)
    assert revoked.status_code == 204
    assert events("device.push_revoked", customer_id)[0]["data"]["device_id"] == "phone-1"
    assert (
        client.post("/registration/tokens/refresh", json={"refresh_token": refresh}).status_code
        == 401
    )
    assert log_in(signed["email"], device_id="phone-1").status_code == 202


def test_the_device_that_signed_up_is_confirmed_with_the_email(
    client: FlaskClient,
    configure: Callable[..., Any],
    sign_up: Callable[..., dict[str, Any]],
    log_in: Callable[..., Any],
    link_token: Callable[[str, object], str],
) -> None:
    configure(new_device_confirmation=True, email_validation="required")
    signed = sign_up(device_id="browser-7")
    token = link_token("registration.email_confirmation_requested", signed["customer_id"])
    client.post("/registration/email-confirmations", json={"token": token})
    assert log_in(signed["email"], device_id="browser-7").status_code == 200


def test_impersonation_needs_its_scope_and_a_reason_and_is_audited_and_published(
    app: Any,
    client: FlaskClient,
    make_token: Callable[..., dict[str, str]],
    staff: dict[str, str],
    configure: Callable[..., Any],
    sign_up: Callable[..., dict[str, Any]],
    events: Callable[..., list[dict[str, Any]]],
    registration_settings: Settings,
) -> None:
    configure()
    customer_id = sign_up()["customer_id"]
    url = f"/registration/accounts/{customer_id}/impersonation"
    assert client.post(url, json={"reason": "ticket 42"}, headers=staff).status_code == 403
    support = make_token("customers:impersonate", subject="staff:alice")
    assert client.post(url, json={}, headers=support).status_code == 422
    answer = client.post(url, json={"reason": "ticket 42"}, headers=support)
    assert answer.status_code == 201, answer.get_json()
    token = answer.get_json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["act"] == {"sub": "staff:alice"} and claims["customer_id"] == customer_id
    assert claims["exp"] - claims["iat"] <= 15 * 60
    principal = TokenVerifier(registration_settings).verify(token)
    assert (principal.kind, principal.actor) == ("customer", "staff:alice")
    [event] = events("account.impersonated", customer_id)
    assert event["data"]["actor"] == "staff:alice" and event["data"]["reason"] == "ticket 42"
    with app.extensions["crm"].session_factory() as session:
        audited = session.scalars(select(AuthEvent).where(AuthEvent.type == "impersonated")).all()
    assert [(row.actor, row.detail) for row in audited] == [("staff:alice", "ticket 42")]
    # What the impersonation token cannot do: staff endpoints, push tokens (customer-only acts).
    acting = _customer(token)
    assert client.get(f"/registration/accounts/{customer_id}", headers=acting).status_code == 403
    assert (
        client.patch(
            f"/registration/accounts/{customer_id}",
            json={"password": "new pass 123"},
            headers=acting,
        ).status_code
        == 403
    )
    push = {"token": "t", "platform": "ios"}
    assert (
        client.put("/registration/devices/d/push-token", json=push, headers=acting).status_code
        == 403
    )


def test_the_jwks_serves_the_public_key_customer_tokens_verify_with(
    registration_settings: Settings,
    config: Any,
    configure: Callable[..., Any],
    sign_up: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    configure()
    email = sign_up()["email"]
    private, _public = ed25519_pair()
    issuer = registration_settings.__class__(
        **{
            **registration_settings.__dict__,
            "jwt_secret": None,
            "jwt_private_key": private,
            "jwt_key_id": "customer-issuer",
        }
    )
    app = create_app(issuer, config)
    try:
        client = app.test_client()
        jwks = client.get("/registration/.well-known/jwks.json")
        assert jwks.status_code == 200 and "max-age" in jwks.headers["Cache-Control"]
        [key] = jwks.get_json()["keys"]
        assert key["kid"] == "customer-issuer" and "d" not in key
        path = tmp_path / "jwks.json"
        path.write_text(json.dumps(jwks.get_json()))
        login = client.post(
            "/registration/login", json={"email": email, "password": PASSWORD, "device_id": "x"}
        )
        token = login.get_json()["access_token"]
        verifier_settings = issuer.__class__(
            **{
                **issuer.__dict__,
                "jwt_private_key": None,
                "jwt_jwks_url": path.as_uri(),
                "service": "customers",
            }
        )
        principal = TokenVerifier(verifier_settings).verify(token)
        assert principal.kind == "customer"
    finally:
        app.extensions["crm"].engine.dispose()
