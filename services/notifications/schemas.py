"""Request and response schemas of the notifications API, split by role."""

from __future__ import annotations

import marshmallow as ma

from services.notifications import languages
from shared.api import PageArgsSchema, Schema, page_schema
from shared.text import String

TEMPLATE_PART_MAX = 100_000
SUBJECT_MAX = 998  # RFC 5322's line limit
ADMIN_EMAILS_MAX = 50
DELIVERY_STATUSES = ("pending", "sending", "sent", "failed", "ambiguous", "skipped")


class Language(String):
    """A locale code (`fr`, `fr_BE`, `fr-be`...), answered in one form (`fr_BE`)."""

    default_error_messages = {"language": "not a language code such as fr, fr_BE or en"}

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        code = languages.normalize(super()._deserialize(value, attr, data, **kwargs))
        if code is None:
            raise self.make_error("language")
        return code


class TemplateSchema(Schema):
    """A template as the API answers it."""

    key = ma.fields.String(dump_only=True)
    language = ma.fields.String(dump_only=True)
    subject = ma.fields.String(dump_only=True)
    body_text = ma.fields.String(dump_only=True)
    body_html = ma.fields.String(dump_only=True)
    is_predefined = ma.fields.Boolean(
        dump_only=True,
        metadata={"description": "The shipped text (no saved template for this key and language)"},
    )
    updated_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)


class TemplateWriteSchema(Schema):
    """`PUT /notifications/templates/{key}/{language}`: Jinja2 templates of the three parts."""

    subject = String(required=True, validate=ma.validate.Length(min=1, max=SUBJECT_MAX))
    body_text = String(
        multiline=True, required=True, validate=ma.validate.Length(min=1, max=TEMPLATE_PART_MAX)
    )
    body_html = String(
        multiline=True, required=True, validate=ma.validate.Length(min=1, max=TEMPLATE_PART_MAX)
    )


class TemplateQueryArgsSchema(PageArgsSchema):
    """`GET /notifications/templates`: `key` keeps one key's templates."""

    key = String(load_default=None, validate=ma.validate.Length(max=200))


class SettingsSchema(Schema):
    """`GET|PUT /notifications/settings`."""

    default_language = Language(required=True)
    admin_emails = ma.fields.List(
        ma.fields.Email(), required=True, validate=ma.validate.Length(max=ADMIN_EMAILS_MAX)
    )


class DeliverySchema(Schema):
    """One email of the delivery log: what, to whom, from which event, and the outcome."""

    id = ma.fields.UUID(dump_only=True)
    key = ma.fields.String(dump_only=True)
    customer_id = ma.fields.UUID(dump_only=True, allow_none=True)
    recipients = ma.fields.List(ma.fields.String(), dump_only=True, allow_none=True)
    to_admins = ma.fields.Boolean(dump_only=True)
    event_id = ma.fields.String(dump_only=True)
    event_type = ma.fields.String(dump_only=True)
    message_id = ma.fields.String(dump_only=True)
    status = ma.fields.String(dump_only=True)
    error = ma.fields.String(dump_only=True, allow_none=True)
    requested_language = ma.fields.String(dump_only=True, allow_none=True)
    locale = ma.fields.String(dump_only=True, allow_none=True)
    fallback = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "exact, base (fr_BE -> fr), default or default_base"},
    )
    consent = ma.fields.Boolean(
        dump_only=True, allow_none=True, metadata={"description": "email_consent at send time"}
    )
    subject = ma.fields.String(dump_only=True, allow_none=True)
    attempts = ma.fields.Integer(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)
    sent_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)


class DeliveryQueryArgsSchema(PageArgsSchema):
    """`GET /notifications/deliveries`: by customer, key, status and creation time."""

    customer_id = ma.fields.UUID(load_default=None)
    key = String(load_default=None, validate=ma.validate.Length(max=200))
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(DELIVERY_STATUSES))
    from_ = ma.fields.AwareDateTime(load_default=None, data_key="from")
    to = ma.fields.AwareDateTime(load_default=None)


TemplatePageSchema = page_schema(TemplateSchema, "TemplatePageSchema")
DeliveryPageSchema = page_schema(DeliverySchema, "DeliveryPageSchema")
