"""Every flow of sign-up and login under every combination of the four settings (R1-R4)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.integration.registration.conftest import PASSWORD

COMBINATIONS = list(
    itertools.product(
        [True, False],  # signup_notification
        ["none", "all", "companies"],  # admin_approval
        [True, False],  # new_device_confirmation
        ["optional", "required", "none"],  # email_validation
        ["individual", "company"],
    )
)


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


@pytest.mark.parametrize(
    ("notification", "approval", "device_confirmation", "validation", "kind"), COMBINATIONS
)
def test_every_setting_combination_leads_from_sign_up_to_login(
    client: FlaskClient,
    staff: dict[str, str],
    configure: Callable[..., Any],
    sign_up: Callable[..., dict[str, Any]],
    log_in: Callable[..., Any],
    events: Callable[..., list[dict[str, Any]]],
    link_token: Callable[[str, object], str],
    notification: bool,
    approval: str,
    device_confirmation: bool,
    validation: str,
    kind: str,
) -> None:
    configure(
        signup_notification=notification,
        admin_approval=approval,
        new_device_confirmation=device_confirmation,
        email_validation=validation,
    )
    extra = {"company_name": "Analytical Engines"} if kind == "company" else {}
    signed = sign_up(kind=kind, **extra)
    customer_id = signed["customer_id"]
    needs_approval = approval == "all" or (approval == "companies" and kind == "company")
    expected = (
        "pending_email"
        if validation == "required"
        else ("pending_approval" if needs_approval else "active")
    )
    assert signed["status"] == expected

    published = events(subject=customer_id)
    submitted = published[0]
    assert submitted["type"] == "registration.submitted"
    assert submitted["data"]["status"] == expected
    assert submitted["data"]["signup_notification"] is notification
    assert submitted["data"]["kind"] == kind
    assert ("registration.email_confirmation_requested" in _types(published)) is (
        validation != "none"
    )
    assert ("account.activated" in _types(published)) is (expected == "active")

    if expected != "active":  # not validated or not approved: the one generic refusal
        refused = log_in(signed["email"])
        assert refused.status_code == 401
    if validation == "required":
        token = link_token("registration.email_confirmation_requested", customer_id)
        confirmed = client.post("/registration/email-confirmations", json={"token": token})
        assert confirmed.status_code == 200, confirmed.get_json()
        assert confirmed.get_json()["email_confirmed"] is True
        after = "pending_approval" if needs_approval else "active"
        assert confirmed.get_json()["status"] == after
        follow_up = "registration.approval_requested" if needs_approval else "account.activated"
        assert follow_up in _types(events(subject=customer_id))
    if needs_approval:
        queue = client.get("/registration/signups?status=pending_approval", headers=staff)
        assert customer_id in [item["customer_id"] for item in queue.get_json()["items"]]
        assert log_in(signed["email"]).status_code == 401
        approved = client.post(f"/registration/signups/{customer_id}/approve", headers=staff)
        assert approved.status_code == 200, approved.get_json()
        assert {"registration.approved", "account.activated"} <= set(
            _types(events(subject=customer_id))
        )

    first = log_in(signed["email"])
    if device_confirmation:
        assert first.status_code == 202
        assert first.get_json() == {"status": "device_confirmation_required"}
        token = link_token("device.confirmation_requested", customer_id)
        assert (
            client.post("/registration/device-confirmations", json={"token": token}).status_code
            == 200
        )
        first = log_in(signed["email"])
    assert first.status_code == 200, first.get_json()
    answer = first.get_json()
    assert answer["customer_id"] == customer_id
    assert answer["access_token"] and answer["refresh_token"]
    assert answer["email_confirmed"] is (validation == "required")


def test_a_rejected_sign_up_cannot_log_in(
    client: FlaskClient,
    staff: dict[str, str],
    configure: Callable[..., Any],
    sign_up: Callable[..., dict[str, Any]],
    log_in: Callable[..., Any],
    events: Callable[..., list[dict[str, Any]]],
) -> None:
    configure(admin_approval="all")
    signed = sign_up()
    rejected = client.post(
        f"/registration/signups/{signed['customer_id']}/reject",
        json={"reason": "not a customer of ours"},
        headers=staff,
    )
    assert rejected.status_code == 200 and rejected.get_json()["status"] == "rejected"
    event = events("registration.rejected", signed["customer_id"])[0]
    assert event["data"]["reason"] == "not a customer of ours"
    assert log_in(signed["email"], PASSWORD).status_code == 401
    again = client.post(f"/registration/signups/{signed['customer_id']}/approve", headers=staff)
    assert again.status_code == 409


def test_optional_validation_keeps_asking_at_login_until_confirmed(
    client: FlaskClient,
    configure: Callable[..., Any],
    sign_up: Callable[..., dict[str, Any]],
    log_in: Callable[..., Any],
    events: Callable[..., list[dict[str, Any]]],
    link_token: Callable[[str, object], str],
    app: Any,
) -> None:
    configure(email_validation="optional")
    signed = sign_up()
    customer_id = signed["customer_id"]
    assert log_in(signed["email"]).get_json()["email_confirmed"] is False
    asked = "registration.email_confirmation_requested"
    assert len(events(asked, customer_id)) == 1  # the link sent at sign-up is still valid
    # Once that link expired, the next login asks again.
    from sqlalchemy import update

    from services.registration.models import LinkToken
    from shared.db import utcnow

    with app.extensions["crm"].session_factory() as session:
        session.execute(update(LinkToken).values(expires_at=utcnow()))
        session.commit()
    log_in(signed["email"])
    assert len(events(asked, customer_id)) == 2
    token = link_token(asked, customer_id)
    assert (
        client.post("/registration/email-confirmations", json={"token": token}).status_code == 200
    )
    assert log_in(signed["email"]).get_json()["email_confirmed"] is True


def test_a_sign_up_with_bad_fields_is_a_422_naming_them(client: FlaskClient) -> None:
    response = client.post(
        "/registration/signups",
        json={"email": "not-an-email", "password": "x" * 9, "kind": "robot"},
    )
    assert response.status_code == 422
    errors = response.get_json()["errors"]["json"]
    assert {"email", "kind"} <= set(errors)
    company = client.post(
        "/registration/signups",
        json={"email": "a@example.com", "password": PASSWORD, "kind": "company"},
    )
    assert company.status_code == 422
    assert "company_name" in company.get_json()["errors"]["json"]


def test_an_account_id_of_a_sign_up_is_the_customer_id_it_answered(
    client: FlaskClient, staff: dict[str, str], sign_up: Callable[..., dict[str, Any]]
) -> None:
    signed = sign_up()
    account = client.get(f"/registration/accounts/{signed['customer_id']}", headers=staff)
    assert account.status_code == 200
    assert account.get_json()["email"] == signed["email"]
    assert "password" not in account.get_json() and "password_hash" not in account.get_json()
