"""Issue 11: the usual login (a known device) is one read before the hash and one statement
after it (`login_writes`), and that statement decides as the general path does: the settings
in force at the next login, a disabled account, a password to change, a revoked device."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select, update

from services.registration import audit, throttle
from services.registration.models import Account, AuthEvent, Device, RefreshToken, ThrottleHit

EMAIL_ASKED = "registration.email_confirmation_requested"


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    """The SQL statements the app sends in the block (BEGIN and COMMIT are not statements)."""
    engine = app.extensions["crm"].engine
    seen: list[str] = []

    def _seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", _seen)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", _seen)


def _audit(app: Flask, account_id: str) -> list[AuthEvent]:
    with app.extensions["crm"].session_factory() as session:
        return list(
            session.scalars(
                select(AuthEvent).where(AuthEvent.account_id == account_id).order_by(AuthEvent.id)
            )
        )


def _set_account(app: Flask, account_id: str, **values: Any) -> None:
    with app.extensions["crm"].session_factory() as session:
        session.execute(update(Account).where(Account.id == account_id).values(**values))
        session.commit()


def test_a_login_from_a_known_device_is_one_read_and_one_write_with_the_same_effects(
    app: Flask,
    client: FlaskClient,
    configure: Callable[..., Any],
    sign_up: Callable[..., dict[str, Any]],
    log_in: Callable[..., Any],
) -> None:
    configure(email_validation="none")
    signed = sign_up()
    assert log_in(signed["email"], device_id="phone").status_code == 200  # the device is new
    with statements(app) as seen:
        answer = log_in(signed["email"], device_id="phone", headers={"X-Forwarded-For": "x"})
    assert answer.status_code == 200, answer.get_json()
    assert len(seen) == 2, seen
    body = answer.get_json()
    assert body["customer_id"] == signed["customer_id"] and body["token_type"] == "Bearer"
    assert body["email_confirmed"] is False and body["access_token"]
    with app.extensions["crm"].session_factory() as session:
        tokens = session.scalars(
            select(RefreshToken).where(RefreshToken.account_id == signed["customer_id"])
        ).all()
        device = session.get(Device, (signed["customer_id"], "phone"))
    assert len(tokens) == 2 and {t.device_id for t in tokens} == {"phone"}
    assert len({t.family_id for t in tokens}) == 2  # each login its own family
    assert device is not None and device.last_seen_at == max(t.created_at for t in tokens)
    succeeded = [e for e in _audit(app, signed["customer_id"]) if e.type == audit.LOGIN_SUCCEEDED]
    assert len(succeeded) == 2
    assert succeeded[-1].device_id == "phone" and succeeded[-1].ip == "127.0.0.1"
    refreshed = client.post(
        "/registration/tokens/refresh", json={"refresh_token": body["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.get_json()


def test_a_settings_change_holds_from_the_next_login_on_a_known_device(
    app: Flask,
    configure: Callable[..., Any],
    sign_up: Callable[..., dict[str, Any]],
    log_in: Callable[..., Any],
    events: Callable[..., list[dict[str, Any]]],
) -> None:
    configure(email_validation="none")
    signed = sign_up()  # active at once, its email never confirmed
    for _ in range(2):
        assert log_in(signed["email"]).status_code == 200
    configure(email_validation="required")
    assert log_in(signed["email"]).status_code == 401
    configure(email_validation="optional")
    asked = len(events(EMAIL_ASKED, signed["customer_id"]))
    assert log_in(signed["email"]).status_code == 200
    assert len(events(EMAIL_ASKED, signed["customer_id"])) == asked + 1
    configure(email_validation="none", new_device_confirmation=True)
    assert log_in(signed["email"]).status_code == 200  # trusted before: trusted still
    for _ in range(2):  # known now, but not confirmed
        assert log_in(signed["email"], device_id="tablet").get_json() == {
            "status": "device_confirmation_required"
        }


def test_a_known_device_does_not_let_in_an_account_that_may_not_log_in(
    app: Flask,
    client: FlaskClient,
    staff: dict[str, str],
    configure: Callable[..., Any],
    sign_up: Callable[..., dict[str, Any]],
    log_in: Callable[..., Any],
) -> None:
    configure(email_validation="none")
    signed = sign_up()
    customer = signed["customer_id"]
    account = f"/registration/accounts/{customer}"
    for _ in range(2):
        assert log_in(signed["email"]).status_code == 200
    client.patch(account, json={"login_enabled": False}, headers=staff)
    assert log_in(signed["email"]).status_code == 401
    assert _audit(app, customer)[-1].type == audit.LOGIN_REFUSED
    client.patch(account, json={"login_enabled": True}, headers=staff)
    assert log_in(signed["email"]).status_code == 200
    _set_account(app, customer, status="pending_approval")
    assert log_in(signed["email"]).status_code == 401
    _set_account(app, customer, status="active", must_change_password=True)
    assert log_in(signed["email"]).get_json() == {"status": "password_change_required"}
    _set_account(app, customer, must_change_password=False)
    configure(email_validation="none", new_device_confirmation=True)
    revoked = client.delete(f"{account}/devices/laptop-1", headers=staff)
    assert revoked.status_code == 204
    assert log_in(signed["email"]).get_json() == {"status": "device_confirmation_required"}


def test_without_a_key_to_sign_with_a_known_device_gets_a_503_and_nothing_is_written(
    app: Flask,
    configure: Callable[..., Any],
    sign_up: Callable[..., dict[str, Any]],
    log_in: Callable[..., Any],
) -> None:
    configure(email_validation="none")
    signed = sign_up()
    assert log_in(signed["email"]).status_code == 200
    before = _audit(app, signed["customer_id"])
    registration = app.extensions["crm.registration"]
    issuer, registration.token_issuer = registration.token_issuer, None
    try:
        assert log_in(signed["email"]).status_code == 503
    finally:
        registration.token_issuer = issuer
    assert [e.id for e in _audit(app, signed["customer_id"])] == [e.id for e in before]
    with app.extensions["crm"].session_factory() as session:
        tokens = session.scalars(
            select(RefreshToken).where(RefreshToken.account_id == signed["customer_id"])
        ).all()
    assert len(tokens) == 1


def test_a_success_from_a_known_device_forgets_the_account_failures(
    app: Flask,
    configure: Callable[..., Any],
    sign_up: Callable[..., dict[str, Any]],
    log_in: Callable[..., Any],
) -> None:
    configure(email_validation="none")
    signed = sign_up()
    assert log_in(signed["email"]).status_code == 200
    for _ in range(2):
        assert log_in(signed["email"], "not the password at all").status_code == 401

    def failures() -> list[str]:
        with app.extensions["crm"].session_factory() as session:
            return list(
                session.scalars(
                    select(ThrottleHit.bucket).where(ThrottleHit.key == signed["email"].lower())
                )
            )

    assert failures() == [throttle.LOGIN_ACCOUNT] * 2
    assert log_in(signed["email"]).status_code == 200
    assert failures() == []
