"""R3's guarantees: no enumeration, throttling shared by every worker, refresh rotation and
revocation, generated credentials changed at first login."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.registration.app import create_app
from services.registration.config import Limit, RegistrationConfig
from shared.auth import TokenVerifier
from shared.settings import Settings
from tests.integration.registration.conftest import PASSWORD


@pytest.fixture
def config() -> RegistrationConfig:
    return RegistrationConfig(
        login_failures_per_account=Limit(3, timedelta(minutes=15)),
        login_failures_per_ip=Limit(6, timedelta(minutes=15)),
        signups_per_ip=Limit(1000, timedelta(hours=1)),
    )


def _body(response: Any) -> tuple[int, Any]:
    return response.status_code, response.get_json()


def test_unknown_email_wrong_password_and_disabled_account_answer_alike(
    client: FlaskClient,
    staff: dict[str, str],
    configure: Callable[..., Any],
    sign_up: Callable[..., dict[str, Any]],
    log_in: Callable[..., Any],
) -> None:
    configure()
    known, disabled = sign_up(), sign_up()
    client.patch(
        f"/registration/accounts/{disabled['customer_id']}",
        json={"login_enabled": False},
        headers=staff,
    )
    unknown = log_in("nobody-here@example.com", PASSWORD, headers={"X-Forwarded-For": "1"})
    wrong = log_in(known["email"], "not the password at all")
    off = log_in(disabled["email"], PASSWORD)
    assert _body(unknown) == _body(wrong) == _body(off)
    assert unknown.status_code == 401
    taken = client.post(
        "/registration/signups",
        json={
            "email": known["email"],
            "password": PASSWORD,
            "kind": "individual",
            "last_name": "X",
        },
    )
    fresh = sign_up()
    assert taken.status_code == 202 and set(taken.get_json()) == {"customer_id", "status"}
    assert taken.get_json()["status"] == fresh["status"]
    assert taken.get_json()["customer_id"] != known["customer_id"]


def test_an_unknown_email_takes_as_long_as_a_wrong_password(
    configure: Callable[..., Any],
    sign_up: Callable[..., dict[str, Any]],
    log_in: Callable[..., Any],
    app: Flask,
) -> None:
    configure()
    known = sign_up()

    def timed(email: str) -> float:
        start = time.perf_counter()
        log_in(email, "wrong password here")
        return time.perf_counter() - start

    unknown, wrong = [], []
    for index in range(6):
        # Failures are throttled: clear them so that every attempt is verified.
        with app.extensions["crm"].session_factory() as session:
            session.execute(__import__("sqlalchemy").text("DELETE FROM throttle_hits"))
            session.commit()
        unknown.append(timed(f"nobody-{index}@example.com"))
        wrong.append(timed(known["email"]))
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.6 < ratio < 1.6, (unknown, wrong)


def test_failed_logins_lock_the_account_across_workers_with_growing_delays(
    registration_settings: Settings,
    config: RegistrationConfig,
    client: FlaskClient,
    configure: Callable[..., Any],
    sign_up: Callable[..., dict[str, Any]],
    log_in: Callable[..., Any],
) -> None:
    configure()
    victim = sign_up()
    other_worker = create_app(registration_settings, config).test_client()
    try:
        for worker in (client, other_worker, client):
            answer = worker.post(
                "/registration/login",
                json={"email": victim["email"], "password": "wrong guess 1", "device_id": "d"},
            )
            assert answer.status_code == 401
        locked = other_worker.post(
            "/registration/login",
            json={"email": victim["email"], "password": PASSWORD, "device_id": "d"},
        )
        assert locked.status_code == 429
        assert 0 < int(locked.headers["Retry-After"]) <= 60
    finally:
        other_worker.application.extensions["crm"].engine.dispose()  # type: ignore[attr-defined]


def test_the_per_address_limit_counts_failures_on_every_account(
    configure: Callable[..., Any],
    sign_up: Callable[..., dict[str, Any]],
    log_in: Callable[..., Any],
) -> None:
    configure()
    accounts = [sign_up() for _ in range(3)]
    for account in accounts:
        for _ in range(2):
            assert log_in(account["email"], "wrong guess 2").status_code == 401
    assert log_in(sign_up()["email"]).status_code == 429


def test_a_client_cannot_forge_its_address_but_the_gateway_sets_it(
    registration_settings: Settings,
    configure: Callable[..., Any],
    sign_up: Callable[..., dict[str, Any]],
    client: FlaskClient,
) -> None:
    configure()
    accounts = [sign_up() for _ in range(3)]

    def fail(worker: FlaskClient, email: str, forwarded: str) -> int:
        return worker.post(
            "/registration/login",
            json={"email": email, "password": "wrong guess 3", "device_id": "d"},
            headers={"X-Forwarded-For": forwarded},
        ).status_code

    # No trusted proxy (embedded): a forged X-Forwarded-For changes nothing.
    for index, account in enumerate(accounts):
        fail(client, account["email"], f"10.0.0.{index}")
        fail(client, account["email"], f"10.0.1.{index}")
    assert fail(client, sign_up()["email"], "10.9.9.9") == 429
    # Behind the gateway (one hop): the address it appended is the client's.
    limits = RegistrationConfig(
        login_failures_per_account=Limit(100, timedelta(minutes=15)),
        login_failures_per_ip=Limit(2, timedelta(minutes=15)),
        proxy_hops=1,
    )
    gateway = create_app(registration_settings, limits).test_client()
    email = sign_up()["email"]
    assert fail(gateway, email, "6.6.6.6, 192.0.2.1") == 401
    assert fail(gateway, email, "7.7.7.7, 192.0.2.1") == 401
    assert fail(gateway, email, "8.8.8.8, 192.0.2.1") == 429  # same client, forged prefix
    assert fail(gateway, email, "192.0.2.2") == 401  # another client


def test_refresh_tokens_rotate_and_a_reused_one_revokes_the_login(
    client: FlaskClient,
    configure: Callable[..., Any],
    sign_up: Callable[..., dict[str, Any]],
    log_in: Callable[..., Any],
    registration_settings: Settings,
) -> None:
    configure()
    signed = sign_up()
    first = log_in(signed["email"]).get_json()
    principal = TokenVerifier(registration_settings).verify(first["access_token"])
    assert (principal.kind, principal.customer_id) == ("customer", signed["customer_id"])
    second = client.post(
        "/registration/tokens/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert second.status_code == 200
    rotated = second.get_json()["refresh_token"]
    assert rotated != first["refresh_token"]
    reused = client.post(
        "/registration/tokens/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert reused.status_code == 401
    # The reuse revoked the whole family, the rotated token included.
    assert (
        client.post("/registration/tokens/refresh", json={"refresh_token": rotated}).status_code
        == 401
    )


def test_disabling_login_or_setting_a_password_revokes_refresh_tokens(
    client: FlaskClient,
    staff: dict[str, str],
    configure: Callable[..., Any],
    sign_up: Callable[..., dict[str, Any]],
    log_in: Callable[..., Any],
) -> None:
    configure()
    signed = sign_up()
    account = f"/registration/accounts/{signed['customer_id']}"
    token = log_in(signed["email"]).get_json()["refresh_token"]
    client.patch(account, json={"login_enabled": False}, headers=staff)
    assert (
        client.post("/registration/tokens/refresh", json={"refresh_token": token}).status_code
        == 401
    )
    client.patch(account, json={"login_enabled": True}, headers=staff)
    token = log_in(signed["email"]).get_json()["refresh_token"]
    changed = client.patch(account, json={"password": "a new one set by staff"}, headers=staff)
    assert changed.status_code == 200 and changed.get_json()["must_change_password"] is True
    assert (
        client.post("/registration/tokens/refresh", json={"refresh_token": token}).status_code
        == 401
    )
    weak = client.patch(account, json={"password": "password123"}, headers=staff)
    assert weak.status_code == 422 and "password" in weak.get_json()["errors"]["json"]


def test_generated_credentials_are_emailed_once_and_changed_at_first_login(
    client: FlaskClient,
    staff: dict[str, str],
    configure: Callable[..., Any],
    sign_up: Callable[..., dict[str, Any]],
    log_in: Callable[..., Any],
    events: Callable[..., list[dict[str, Any]]],
) -> None:
    configure()
    signed = sign_up()
    sent = client.post(f"/registration/accounts/{signed['customer_id']}/credentials", headers=staff)
    assert sent.status_code == 202
    [event] = events("account.credentials_generated", signed["customer_id"])
    password = event["data"]["password"]
    assert len(password) >= 16 and event["data"]["login"] == signed["email"]
    assert log_in(signed["email"], PASSWORD).status_code == 401  # the old one is gone
    first = log_in(signed["email"], password)
    assert _body(first) == (202, {"status": "password_change_required"})
    change = {"email": signed["email"], "password": password, "device_id": "laptop-1"}
    weak = client.post(
        "/registration/password-changes", json={**change, "new_password": "qwertyuiop"}
    )
    assert weak.status_code == 422 and "new_password" in weak.get_json()["errors"]["json"]
    changed = client.post(
        "/registration/password-changes", json={**change, "new_password": "my own new secret"}
    )
    assert changed.status_code == 200 and changed.get_json()["access_token"]
    assert log_in(signed["email"], "my own new secret").status_code == 200
