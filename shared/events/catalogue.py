"""The data schema of every event type the suite publishes or accepts (see docs/events.md)."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema


class EventData(Schema):
    """Event data: unknown fields are tolerated so that producers can add fields first."""

    class Meta:
        unknown = EXCLUDE


def _uuid(**kwargs: object) -> fields.UUID:
    return fields.UUID(required=True, **kwargs)  # type: ignore[arg-type]


Decimal = fields.String(
    required=True, validate=validate.Regexp(r"^-?\d{1,15}(\.\d{1,4})?$", error="not a decimal")
)
Currency = fields.String(
    required=True, validate=validate.Regexp(r"^[A-Z]{3}$", error="not an ISO 4217 code")
)


# --- tags ---------------------------------------------------------------------------------------
class TagStateData(EventData):
    """A tag's full state, so that consumers keep a projection without calling back."""

    id = _uuid()
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    description = fields.String(required=True)
    color = fields.String(required=True, validate=validate.Regexp(r"^#[0-9a-f]{6}$"))
    order = fields.Integer(required=True, allow_none=True)
    is_fixed = fields.Boolean(required=True)
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)


class TagDeletedData(EventData):
    id = _uuid()
    name = fields.String(required=True)


class TagMergedData(EventData):
    from_ = _uuid(data_key="from")
    into = _uuid()


# --- customers ----------------------------------------------------------------------------------
class CustomerContactData(EventData):
    """What notifications needs of a customer to write to them."""

    email = fields.String(allow_none=True)
    language = fields.String(allow_none=True)
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    company_name = fields.String(allow_none=True)
    email_consent = fields.Boolean()
    newsletter_subscribed = fields.Boolean()


class CustomerCreatedData(EventData):
    customer_id = _uuid()
    kind = fields.String(required=True, validate=validate.OneOf(["individual", "company"]))
    status = fields.String(required=True)
    customer = fields.Nested(CustomerContactData, required=True)


class CustomerUpdatedData(EventData):
    customer_id = _uuid()
    changed = fields.List(fields.String(), required=True)
    customer = fields.Nested(CustomerContactData, required=True)


class CustomerDeletedData(EventData):
    customer_id = _uuid()
    tag_ids = fields.List(fields.UUID(), load_default=list)


class CustomerMergedData(EventData):
    customer_id = _uuid()
    duplicate_id = _uuid()


class CustomerTaggingData(EventData):
    customer_id = _uuid()
    tag_id = _uuid()
    tag_name = fields.String(allow_none=True)
    reason = fields.String(load_default="manual")
    customer = fields.Nested(CustomerContactData)


class CustomerStatusChangedData(EventData):
    customer_id = _uuid()
    from_ = fields.String(required=True, allow_none=True, data_key="from")
    to = fields.String(required=True)
    reason = fields.String(required=True, validate=validate.Regexp(r"^(manual|rule:.+|import)$"))
    customer = fields.Nested(CustomerContactData)


# --- registration -------------------------------------------------------------------------------
class RegistrationData(EventData):
    """What every registration and account event carries: the customer it is about."""

    customer_id = _uuid()


class RegistrationSubmittedData(RegistrationData):
    email = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["individual", "company"]))
    status = fields.String(
        required=True, validate=validate.OneOf(["pending_email", "pending_approval", "active"])
    )
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    company_name = fields.String(allow_none=True)
    language = fields.String(allow_none=True)
    signup_notification = fields.Boolean(load_default=False)


class LinkData(RegistrationData):
    link = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class RegistrationRejectedData(RegistrationData):
    reason = fields.String(allow_none=True, validate=validate.Length(max=2000))


class CredentialsGeneratedData(RegistrationData):
    login = fields.String(required=True)
    password = fields.String(required=True)


class DeviceConfirmationRequestedData(LinkData):
    device_id = fields.String(required=True, validate=validate.Length(min=1, max=200))


class ApprovalRequestedData(RegistrationData):
    """An account that confirmed its email now waits for an admin (tell the admins)."""

    email = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["individual", "company"]))
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    company_name = fields.String(allow_none=True)
    language = fields.String(allow_none=True)


class AccountUpdatedData(RegistrationData):
    """An account's login state, whole, after any change of it (customers shows it as `login`)."""

    login_enabled = fields.Boolean(required=True)
    email_confirmed = fields.Boolean(required=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf(["pending_email", "pending_approval", "active", "rejected"]),
    )


class ImpersonatedData(RegistrationData):
    actor = fields.String(required=True, validate=validate.Length(min=1, max=200))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    expires_at = fields.AwareDateTime(required=True)


class DeviceData(RegistrationData):
    device_id = fields.String(required=True, validate=validate.Length(min=1, max=200))


class DevicePushRegisteredData(DeviceData):
    platform = fields.String(required=True, validate=validate.OneOf(["ios", "android", "web"]))


# --- notifications ------------------------------------------------------------------------------
class NotificationSentData(EventData):
    delivery_id = _uuid()
    customer_id = fields.UUID(required=True, allow_none=True)
    key = fields.String(required=True)
    event_id = fields.String(required=True)
    message_id = fields.String(required=True)
    subject = fields.String(required=True)
    locale = fields.String(required=True)
    sent_at = fields.AwareDateTime(required=True)


# --- external systems ---------------------------------------------------------------------------
class ExternalEventData(EventData):
    customer_id = _uuid()


class PurchaseCompletedData(ExternalEventData):
    amount = Decimal
    currency = Currency
    order_reference = fields.String(required=True, validate=validate.Length(min=1, max=200))


class InvoiceIssuedData(ExternalEventData):
    amount = Decimal
    currency = Currency
    invoice_number = fields.String(required=True, validate=validate.Length(min=1, max=200))


class PaymentRecordedData(ExternalEventData):
    amount = Decimal
    currency = Currency


class AppointmentCompletedData(ExternalEventData):
    kind = fields.String(
        load_default="appointment", validate=validate.OneOf(["appointment", "group_event"])
    )
    appointment_id = fields.String(validate=validate.Length(max=200))
    title = fields.String(validate=validate.Length(max=500))


class SupportRequestCreatedData(ExternalEventData):
    request_id = fields.String(validate=validate.Length(max=200))
    title = fields.String(validate=validate.Length(max=500))


class MarketingEmailData(ExternalEventData):
    campaign = fields.String(required=True, validate=validate.Length(min=1, max=200))
    url = fields.String(validate=validate.Length(max=2000))


# --- automation ---------------------------------------------------------------------------------
RULE_ACTIONS = ("set_status", "add_tag", "remove_tag")


class RuleActionData(Schema):
    """One action of a rule: exactly one of `set_status` (a status key), `add_tag`, `remove_tag`
    (a tag id)."""

    class Meta:
        unknown = EXCLUDE

    set_status = fields.String(validate=validate.Length(min=1, max=50))
    add_tag = fields.UUID()
    remove_tag = fields.UUID()

    @validates_schema
    def _exactly_one(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if len(data) != 1:
            raise ValidationError(f"exactly one of {', '.join(RULE_ACTIONS)}")


class RuleTriggerData(EventData):
    """The event an automation decision answered: customers lets a later manual change win."""

    event_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    type = fields.String(required=True, validate=validate.Length(min=1, max=200))
    time = fields.AwareDateTime(required=True)


class ActionRequestedData(EventData):
    customer_id = _uuid()
    rule_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    action = fields.Nested(RuleActionData, required=True)
    trigger = fields.Nested(RuleTriggerData, required=True)
    depth = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100))


CATALOGUE: dict[str, type[Schema]] = {
    "tag.created": TagStateData,
    "tag.updated": TagStateData,
    "tag.deleted": TagDeletedData,
    "tag.merged": TagMergedData,
    "customer.created": CustomerCreatedData,
    "customer.updated": CustomerUpdatedData,
    "customer.deleted": CustomerDeletedData,
    "customer.merged": CustomerMergedData,
    "customer.tagged": CustomerTaggingData,
    "customer.untagged": CustomerTaggingData,
    "customer.status_changed": CustomerStatusChangedData,
    "registration.submitted": RegistrationSubmittedData,
    "registration.email_confirmation_requested": LinkData,
    "registration.approved": RegistrationData,
    "registration.rejected": RegistrationRejectedData,
    "account.activated": RegistrationData,
    "account.updated": AccountUpdatedData,
    "account.credentials_generated": CredentialsGeneratedData,
    "device.confirmation_requested": DeviceConfirmationRequestedData,
    "registration.approval_requested": ApprovalRequestedData,
    "account.impersonated": ImpersonatedData,
    "device.confirmed": DeviceData,
    "device.push_registered": DevicePushRegisteredData,
    "device.push_revoked": DeviceData,
    "notification.sent": NotificationSentData,
    "billing.purchase.completed": PurchaseCompletedData,
    "billing.invoice.issued": InvoiceIssuedData,
    "billing.payment.recorded": PaymentRecordedData,
    "scheduling.appointment.completed": AppointmentCompletedData,
    "support.request.created": SupportRequestCreatedData,
    "marketing.email.opened": MarketingEmailData,
    "marketing.email.clicked": MarketingEmailData,
    "automation.action_requested": ActionRequestedData,
}

EXTERNAL_TYPES = frozenset(
    t for t in CATALOGUE if t.split(".")[0] in {"billing", "scheduling", "support", "marketing"}
)
