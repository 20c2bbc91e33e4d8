"""R1 settings (audited) and the single-use, expiring, purpose-bound link tokens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from services.registration.models import LinkToken
from shared.db import utcnow


def test_settings_default_then_replaced_and_every_change_audited(
    client: FlaskClient, staff: dict[str, str], make_token: Callable[..., dict[str, str]]
) -> None:
    defaults = client.get("/registration/settings", headers=staff).get_json()
    assert defaults == {
        "signup_notification": True,
        "admin_approval": "none",
        "new_device_confirmation": False,
        "email_validation": "required",
    }
    new = {**defaults, "admin_approval": "companies", "email_validation": "optional"}
    assert client.put("/registration/settings", json=new, headers=staff).get_json() == new
    client.put("/registration/settings", json=new, headers=staff)  # no change: not audited
    changes = client.get("/registration/settings/changes", headers=staff).get_json()["items"]
    assert len(changes) == 1
    assert changes[0]["old"] == defaults and changes[0]["new"] == new
    assert changes[0]["actor"] == "staff:test" and changes[0]["changed_at"]
    assert client.get("/registration/settings", headers=staff).get_json() == new


def test_settings_refuse_unknown_values_naming_the_field_and_need_their_scope(
    client: FlaskClient, staff: dict[str, str], make_token: Callable[..., dict[str, str]]
) -> None:
    body = {
        "signup_notification": True,
        "admin_approval": "sometimes",
        "new_device_confirmation": False,
        "email_validation": "required",
    }
    refused = client.put("/registration/settings", json=body, headers=staff)
    assert refused.status_code == 422
    assert list(refused.get_json()["errors"]["json"]) == ["admin_approval"]
    reader = make_token("customers:read")
    ok = {**body, "admin_approval": "all"}
    assert client.put("/registration/settings", json=ok, headers=reader).status_code == 403
    customer = make_token(kind="customer", customer_id="00000000-0000-0000-0000-000000000001")
    assert client.get("/registration/settings", headers=customer).status_code == 403
    assert client.get("/registration/settings").status_code == 401


def test_a_link_token_is_single_use_expires_and_serves_its_purpose_only(
    app: Flask,
    client: FlaskClient,
    configure: Callable[..., Any],
    sign_up: Callable[..., dict[str, Any]],
    link_token: Callable[[str, object], str],
) -> None:
    configure(email_validation="required")
    first, second = sign_up(), sign_up()
    token = link_token("registration.email_confirmation_requested", first["customer_id"])
    other = link_token("registration.email_confirmation_requested", second["customer_id"])

    # Another purpose: an email link is not a device link.
    wrong_purpose = client.post("/registration/device-confirmations", json={"token": token})
    used = client.post("/registration/email-confirmations", json={"token": token})
    assert used.status_code == 200
    again = client.post("/registration/email-confirmations", json={"token": token})
    unknown = client.post("/registration/email-confirmations", json={"token": "A" * 43})
    with app.extensions["crm"].session_factory() as session:
        session.execute(update(LinkToken).values(expires_at=utcnow()))
        session.commit()
    expired = client.post("/registration/email-confirmations", json={"token": other})
    answers = [wrong_purpose, again, unknown, expired]
    assert {answer.status_code for answer in answers} == {400}
    assert len({str(answer.get_json()) for answer in answers}) == 1
    assert (
        client.get(
            f"/registration/accounts/{second['customer_id']}",
            headers={"Authorization": "Bearer x"},
        ).status_code
        == 401
    )


def test_link_tokens_are_stored_only_as_their_hash(
    app: Flask,
    configure: Callable[..., Any],
    sign_up: Callable[..., dict[str, Any]],
    link_token: Callable[[str, object], str],
) -> None:
    configure(email_validation="required")
    signed = sign_up()
    token = link_token("registration.email_confirmation_requested", signed["customer_id"])
    assert len(token) >= 22  # >= 128 bits in URL-safe base64
    with app.extensions["crm"].session_factory() as session:
        stored = [row.token_hash for row in session.query(LinkToken).all()]
    assert token not in stored and all(len(value) == 64 for value in stored)
