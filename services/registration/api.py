"""HTTP endpoints of the registration service: thin views over the use cases.

Public (no token; throttled; generic refusals): sign-up, email and device confirmations, login,
password change, token refresh and revocation, the JWKS. Staff: settings, the approval queue,
accounts, devices, impersonation. Customers (their own token): their devices' push tokens.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import current_app, jsonify, request
from flask.views import MethodView
from flask_smorest import abort

from services.registration import accounts, logins, options, signups
from services.registration.context import Registration
from services.registration.errors import ImpersonationRefused
from services.registration.jwks import public_jwks
from services.registration.schemas import (
    AccountSchema,
    AccountUpdateSchema,
    CredentialsAnswerSchema,
    DeviceConfirmedSchema,
    DeviceListSchema,
    DeviceSchema,
    EmailConfirmedSchema,
    ImpersonationAnswerSchema,
    ImpersonationSchema,
    JwksSchema,
    LimitArgsSchema,
    LoginSchema,
    PasswordChangeSchema,
    PushTokenSchema,
    RefreshSchema,
    RejectSchema,
    SettingsChangeListSchema,
    SettingsSchema,
    SignupAnswerSchema,
    SignupPageSchema,
    SignupQueryArgsSchema,
    SignupSchema,
    SubmittedEventSchema,
    TokenSchema,
    TokensSchema,
)
from shared.api import Blueprint, current_principal, decode_cursor, encode_cursor

blp = Blueprint(
    "registration",
    __name__,
    url_prefix="/registration",
    description="Sign-up, email validation, approval, login, devices and credentials.",
)


def registration() -> Registration:
    """The service's dependencies (built by `create_app`)."""
    return current_app.extensions["crm.registration"]  # type: ignore[no-any-return]


def client_address() -> str:
    """The client's address: the socket's, or the gateway's X-Forwarded-For entry when the
    service runs behind it (ProxyFix trusts exactly the configured hops, never more)."""
    return request.remote_addr or "unknown"


# --- settings (R1) ------------------------------------------------------------------------------
@blp.route("/settings")
class Settings(MethodView):
    @blp.requires("customers:read")
    @blp.response(200, SettingsSchema)
    def get(self) -> dict[str, Any]:
        """The registration settings."""
        return options.read_settings(registration().reads)

    @blp.requires("settings:write")
    @blp.arguments(SettingsSchema)
    @blp.response(200, SettingsSchema)
    def put(self, body: dict[str, Any]) -> dict[str, Any]:
        """Replace the registration settings (audited: who, when, old, new)."""
        return options.save_settings(registration().uow(), body, current_principal().subject)


@blp.route("/settings/changes")
class SettingsChanges(MethodView):
    @blp.requires("settings:write")
    @blp.arguments(LimitArgsSchema, location="query")
    @blp.response(200, SettingsChangeListSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Who changed the settings, when, from what to what; newest first."""
        return {"items": options.list_changes(registration().reads, args["limit"])}


# --- sign-up (R2) -------------------------------------------------------------------------------
@blp.route("/signups")
class Signups(MethodView):
    @blp.arguments(SignupSchema)
    @blp.response(202, SignupAnswerSchema)
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Sign up (public): `pending_email`, `pending_approval` or `active`, by the settings."""
        return signups.sign_up(registration(), body, client_address())

    @blp.requires("customers:read")
    @blp.arguments(SignupQueryArgsSchema, location="query")
    @blp.response(200, SignupPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Sign-ups oldest first, e.g. `status=pending_approval` (the approval queue)."""
        after = _signup_key(args["cursor"]) if args["cursor"] else None
        items, next_key = signups.list_signups(registration(), args["status"], args["limit"], after)
        cursor = encode_cursor([next_key[0].isoformat(), str(next_key[1])]) if next_key else None
        return {"items": items, "next_cursor": cursor}


@blp.route("/signups/<uuid:customer_id>/submitted")
class SignupSubmitted(MethodView):
    @blp.requires("customers:read")
    @blp.response(200, SubmittedEventSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, customer_id: uuid.UUID) -> dict[str, Any]:
        """The sign-up's `registration.submitted` event as published (kept a week): customers
        creates a profile read before the event arrives from it (read your writes)."""
        return signups.submitted_event(registration(), customer_id)


@blp.route("/signups/<uuid:customer_id>/approve")
class Approve(MethodView):
    @blp.requires("customers:write")
    @blp.response(200, AccountSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, customer_id: uuid.UUID) -> Any:
        """Approve a sign-up waiting for approval: the account becomes active."""
        return signups.approve(registration(), customer_id, current_principal().subject)


@blp.route("/signups/<uuid:customer_id>/reject")
class Reject(MethodView):
    @blp.requires("customers:write")
    @blp.arguments(RejectSchema)
    @blp.response(200, AccountSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body: dict[str, Any], customer_id: uuid.UUID) -> Any:
        """Reject a sign-up waiting for approval, with a reason."""
        return signups.reject(
            registration(), customer_id, body["reason"], current_principal().subject
        )


@blp.route("/email-confirmations")
class EmailConfirmations(MethodView):
    @blp.arguments(TokenSchema)
    @blp.response(200, EmailConfirmedSchema)
    @blp.alt_response(400, response="DEFAULT_ERROR")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Confirm an email with the `token=` of its link (public; single use, 24 h)."""
        return signups.confirm_email(registration(), body["token"], client_address())


# --- login (R3, R4) -----------------------------------------------------------------------------
@blp.route("/login")
class Login(MethodView):
    @blp.arguments(LoginSchema)
    @blp.response(200, TokensSchema)
    @blp.alt_response(202, schema=TokensSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def post(self, body: dict[str, Any]) -> Any:
        """Log in (public): tokens, or 202 `device_confirmation_required` /
        `password_change_required`; one generic 401 for every refusal."""
        status, answer = logins.log_in(registration(), _attempt(body))
        return answer, status


@blp.route("/password-changes")
class PasswordChanges(MethodView):
    @blp.arguments(PasswordChangeSchema)
    @blp.response(200, TokensSchema)
    @blp.alt_response(202, schema=TokensSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def post(self, body: dict[str, Any]) -> Any:
        """Change one's password with the current one (public, as login), then log in."""
        status, answer = logins.change_password(
            registration(), _attempt(body), body["new_password"]
        )
        return answer, status


@blp.route("/device-confirmations")
class DeviceConfirmations(MethodView):
    @blp.arguments(TokenSchema)
    @blp.response(200, DeviceConfirmedSchema)
    @blp.alt_response(400, response="DEFAULT_ERROR")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Confirm a new device with the `token=` of its link (public; single use, 10 min)."""
        return logins.confirm_device(registration(), body["token"], client_address())


@blp.route("/tokens/refresh")
class TokenRefresh(MethodView):
    @blp.arguments(RefreshSchema)
    @blp.response(200, TokensSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """New tokens for a refresh token, which is used up (a reused one revokes its login)."""
        return logins.refresh(registration(), body["refresh_token"])


@blp.route("/tokens/revoke")
class TokenRevoke(MethodView):
    @blp.arguments(RefreshSchema)
    @blp.response(204)
    def post(self, body: dict[str, Any]) -> None:
        """Log out: the refresh token and every token of its login stop working."""
        logins.revoke(registration(), body["refresh_token"])


# --- accounts (R3, R5) --------------------------------------------------------------------------
@blp.route("/accounts/<uuid:customer_id>")
class AccountById(MethodView):
    @blp.requires("customers:read")
    @blp.response(200, AccountSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, customer_id: uuid.UUID) -> Any:
        """A customer's account: login on or off, email confirmed, status."""
        return accounts.get_account(registration(), customer_id)

    @blp.requires("customers:write")
    @blp.arguments(AccountUpdateSchema)
    @blp.response(200, AccountSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def patch(self, changes: dict[str, Any], customer_id: uuid.UUID) -> Any:
        """Turn login on or off, or set a password (changed by the customer at first login)."""
        return accounts.update_account(
            registration(), customer_id, changes, current_principal().subject
        )


@blp.route("/accounts/<uuid:customer_id>/credentials")
class Credentials(MethodView):
    @blp.requires("customers:write")
    @blp.response(202, CredentialsAnswerSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, customer_id: uuid.UUID) -> dict[str, Any]:
        """Generate a password and email it to the customer (changed at first login); 409 while
        the customer has no email."""
        accounts.generate_credentials(registration(), customer_id, current_principal().subject)
        return {"status": "sent"}


@blp.route("/accounts/<uuid:customer_id>/devices")
class Devices(MethodView):
    @blp.requires("customers:read")
    @blp.response(200, DeviceListSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, customer_id: uuid.UUID) -> dict[str, Any]:
        """The customer's devices, first and last seen, confirmed or not, push tokens."""
        return {"items": accounts.list_devices(registration(), customer_id)}


@blp.route("/accounts/<uuid:customer_id>/devices/<string:device_id>")
class DeviceById(MethodView):
    @blp.requires("customers:write")
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, customer_id: uuid.UUID, device_id: str) -> None:
        """Revoke a device: its push token and refresh tokens too; it must be confirmed again."""
        accounts.revoke_device(registration(), customer_id, device_id, current_principal().subject)


@blp.route("/accounts/<uuid:customer_id>/devices/<string:device_id>/push-token")
class StaffPushToken(MethodView):
    @blp.requires("customers:write")
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, customer_id: uuid.UUID, device_id: str) -> None:
        """Revoke a device's push token."""
        accounts.revoke_push_token(
            registration(), customer_id, device_id, current_principal().subject
        )


@blp.route("/accounts/<uuid:customer_id>/impersonation")
class Impersonation(MethodView):
    @blp.requires("customers:impersonate")
    @blp.arguments(ImpersonationSchema)
    @blp.response(201, ImpersonationAnswerSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, body: dict[str, Any], customer_id: uuid.UUID) -> dict[str, Any]:
        """Log in as the customer: a customer token of at most 15 minutes naming the operator
        (`act`), audited and published (`account.impersonated`)."""
        return accounts.impersonate(
            registration(), customer_id, current_principal().subject, body["reason"]
        )


# --- the customer's own devices (R4) ------------------------------------------------------------
@blp.route("/devices/<string:device_id>/push-token")
class PushToken(MethodView):
    @blp.requires_customer()
    @blp.arguments(PushTokenSchema)
    @blp.response(200, DeviceSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def put(self, body: dict[str, Any], device_id: str) -> Any:
        """Register the push token of one of one's own confirmed devices."""
        return accounts.register_push_token(
            registration(), _own_customer_id(), device_id, body["token"], body["platform"]
        )

    @blp.requires_customer()
    @blp.response(204)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, device_id: str) -> None:
        """Forget the push token of one of one's own devices."""
        principal = current_principal()
        accounts.revoke_push_token(
            registration(), _own_customer_id(), device_id, principal.actor or principal.subject
        )


# --- keys ---------------------------------------------------------------------------------------
@blp.route("/.well-known/jwks.json")
class Jwks(MethodView):
    @blp.response(200, JwksSchema)
    def get(self) -> Any:
        """The public keys customer tokens are signed with (public; cacheable 5 minutes)."""
        response = jsonify(public_jwks(registration().settings))
        response.headers["Cache-Control"] = "public, max-age=300"
        return response


def _own_customer_id() -> uuid.UUID:
    principal = current_principal()
    if principal.actor is not None:
        # Support acting as the customer does not register devices in its name.
        raise ImpersonationRefused()
    return uuid.UUID(str(principal.customer_id))


def _attempt(body: dict[str, Any]) -> logins.Attempt:
    return logins.Attempt(body["email"], body["password"], body["device_id"], client_address())


def _signup_key(cursor: str) -> tuple[datetime, uuid.UUID]:
    created_at, customer_id = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(str(created_at)), uuid.UUID(str(customer_id))
    except ValueError:
        abort(422, message="invalid cursor", errors={"query": {"cursor": ["invalid cursor"]}})
        raise
