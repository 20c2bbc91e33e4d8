"""Request and response schemas of the registration service (every one a `shared.api.Schema`)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from email_validator import EmailNotValidError, validate_email

from services.registration.models import (
    ACCOUNT_STATUSES,
    DEVICE_ID_MAX_LENGTH,
    EMAIL_MAX_LENGTH,
    PUSH_TOKEN_MAX_LENGTH,
)
from services.registration.options import APPROVAL_MODES, VALIDATION_MODES
from services.registration.passwords import MAX_LENGTH
from shared.api import PageArgsSchema, Schema, page_schema

fields, validate = ma.fields, ma.validate


class Email(fields.String):
    """An email address as email-validator reads it (syntax only, no DNS), normalized."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > EMAIL_MAX_LENGTH:
            raise ma.ValidationError(f"at most {EMAIL_MAX_LENGTH} characters")
        try:
            return str(validate_email(text, check_deliverability=False).normalized)
        except EmailNotValidError as exc:
            raise ma.ValidationError(f"not a valid email address: {exc}") from exc


def _password(**kwargs: Any) -> fields.String:
    # The policy (8 minimum, common passwords) is the use case's; here only a bound on the size
    # of what gets hashed (a 1 MB password would cost the hash its time).
    return fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=4 * MAX_LENGTH), **kwargs
    )


DeviceId = fields.String(required=True, validate=validate.Length(min=1, max=DEVICE_ID_MAX_LENGTH))
Token = fields.String(required=True, validate=validate.Length(min=1, max=200))


# --- settings -----------------------------------------------------------------------------------
class SettingsSchema(Schema):
    """R1's four options."""

    signup_notification = fields.Boolean(required=True)
    admin_approval = fields.String(required=True, validate=validate.OneOf(APPROVAL_MODES))
    new_device_confirmation = fields.Boolean(required=True)
    email_validation = fields.String(required=True, validate=validate.OneOf(VALIDATION_MODES))


class SettingsChangeSchema(Schema):
    id = fields.Integer(dump_only=True)
    changed_at = fields.AwareDateTime(dump_only=True)
    actor = fields.String(dump_only=True)
    old = fields.Nested(SettingsSchema, dump_only=True)
    new = fields.Nested(SettingsSchema, dump_only=True)


class SettingsChangeListSchema(Schema):
    items = fields.List(fields.Nested(SettingsChangeSchema), required=True)


class LimitArgsSchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


# --- sign-up ------------------------------------------------------------------------------------
class SignupSchema(Schema):
    """A sign-up: an individual (first and last name) or a company (company name)."""

    email = Email(required=True)
    password = _password()
    kind = fields.String(required=True, validate=validate.OneOf(["individual", "company"]))
    first_name = fields.String(load_default=None, validate=validate.Length(min=1, max=100))
    last_name = fields.String(load_default=None, validate=validate.Length(min=1, max=100))
    company_name = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    language = fields.String(
        load_default=None, validate=validate.Regexp(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
    )
    device_id = fields.String(
        load_default=None, validate=validate.Length(min=1, max=DEVICE_ID_MAX_LENGTH)
    )

    @ma.validates_schema
    def _names(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("kind") == "company" and not data.get("company_name"):
            raise ma.ValidationError("a company signs up with its name", "company_name")
        if data.get("kind") == "individual" and not data.get("last_name"):
            raise ma.ValidationError("an individual signs up with a last name", "last_name")


class SignupAnswerSchema(Schema):
    customer_id = fields.UUID(dump_only=True)
    status = fields.String(dump_only=True)


class TokenSchema(Schema):
    """A token from a link (`token=`)."""

    token = Token


class EmailConfirmedSchema(Schema):
    customer_id = fields.UUID(dump_only=True)
    status = fields.String(dump_only=True)
    email_confirmed = fields.Boolean(dump_only=True)


class DeviceConfirmedSchema(Schema):
    customer_id = fields.UUID(dump_only=True)
    device_id = fields.String(dump_only=True)
    status = fields.String(dump_only=True)


class SignupQueryArgsSchema(PageArgsSchema):
    status = fields.String(load_default=None, validate=validate.OneOf(ACCOUNT_STATUSES))


class AccountSchema(Schema):
    """An account as staff see it (never its password)."""

    customer_id = fields.UUID(attribute="id", dump_only=True)
    # None for a customer staff created without an email (it cannot log in until it has one).
    email = fields.String(dump_only=True, allow_none=True)
    kind = fields.String(dump_only=True)
    first_name = fields.String(dump_only=True, allow_none=True)
    last_name = fields.String(dump_only=True, allow_none=True)
    company_name = fields.String(dump_only=True, allow_none=True)
    language = fields.String(dump_only=True, allow_none=True)
    status = fields.String(dump_only=True)
    login_enabled = fields.Boolean(dump_only=True)
    email_confirmed = fields.Boolean(dump_only=True)
    must_change_password = fields.Boolean(dump_only=True)
    has_password = fields.Function(lambda account: account.password_hash is not None)
    rejection_reason = fields.String(dump_only=True, allow_none=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


SignupPageSchema = page_schema(AccountSchema, "SignupPageSchema")


class RejectSchema(Schema):
    reason = fields.String(load_default=None, validate=validate.Length(min=1, max=2000))


class AccountUpdateSchema(Schema):
    """`login_enabled`, and a `password` the operator sets (write-only)."""

    login_enabled = fields.Boolean()
    password = fields.String(load_only=True, validate=validate.Length(min=1, max=4 * MAX_LENGTH))


class CredentialsAnswerSchema(Schema):
    status = fields.String(dump_only=True)


# --- login --------------------------------------------------------------------------------------
class LoginSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=1, max=EMAIL_MAX_LENGTH))
    password = _password()
    device_id = DeviceId


class PasswordChangeSchema(LoginSchema):
    new_password = _password()


class TokensSchema(Schema):
    """What a login answers: a customer access token (JWT) and an opaque refresh token; or,
    202, only `status` (`device_confirmation_required`, `password_change_required`)."""

    status = fields.String(dump_only=True)
    access_token = fields.String(dump_only=True)
    token_type = fields.String(dump_only=True)
    expires_in = fields.Integer(dump_only=True)
    refresh_token = fields.String(dump_only=True)
    customer_id = fields.UUID(dump_only=True)
    email_confirmed = fields.Boolean(dump_only=True)


class RefreshSchema(Schema):
    refresh_token = Token


class SubmittedEventSchema(Schema):
    """A `registration.submitted` CloudEvent, as the outbox published it."""

    specversion = fields.String(dump_only=True)
    id = fields.String(dump_only=True)
    type = fields.String(dump_only=True)
    source = fields.String(dump_only=True)
    subject = fields.String(dump_only=True, allow_none=True)
    time = fields.String(dump_only=True)
    datacontenttype = fields.String(dump_only=True)
    correlationid = fields.String(dump_only=True, allow_none=True)
    data = fields.Dict(dump_only=True)


# --- devices ------------------------------------------------------------------------------------
class DeviceSchema(Schema):
    device_id = fields.String(dump_only=True)
    confirmed = fields.Function(
        lambda device: device.confirmed_at is not None and device.revoked_at is None
    )
    confirmed_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    first_seen_at = fields.AwareDateTime(dump_only=True)
    last_seen_at = fields.AwareDateTime(dump_only=True)
    revoked_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    push_token = fields.String(dump_only=True, allow_none=True)
    push_platform = fields.String(dump_only=True, allow_none=True)
    push_registered_at = fields.AwareDateTime(dump_only=True, allow_none=True)


class DeviceListSchema(Schema):
    items = fields.List(fields.Nested(DeviceSchema), required=True)


class PushTokenSchema(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=PUSH_TOKEN_MAX_LENGTH))
    platform = fields.String(required=True, validate=validate.OneOf(["ios", "android", "web"]))


# --- impersonation ------------------------------------------------------------------------------
class ImpersonationSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class ImpersonationAnswerSchema(Schema):
    access_token = fields.String(dump_only=True)
    expires_at = fields.AwareDateTime(dump_only=True)


class JwksSchema(Schema):
    keys = fields.List(fields.Dict(), required=True)
