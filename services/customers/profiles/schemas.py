"""Request and response schemas of customer profiles; input is normalised here.

`CustomerSchema` is the customer as every customers endpoint answers it (the contract): dump
a view row (`profiles.representation.CUSTOMER_VIEW`, loaded by `profiles.reads`), not a
`Customer`.
"""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import marshmallow as ma
from flask_smorest.fields import Upload

from services.customers.fields.rules import KEY_PATTERN, KEY_RULE
from services.customers.profiles import validation
from services.customers.profiles.representation import DERIVED_FIELDS, customer_json
from shared.api import Schema
from shared.db import utcnow
from shared.text import String

READ_ONLY_FIELDS = ("id", "tags", "login", "created_at", "updated_at")
MAX_PHONES = 20
MAX_SHIPPING_ADDRESSES = 20
MAX_NEWSLETTER_LISTS = 100
MAX_CUSTOM_FIELDS = 200
# A consent obtained "now" on a device whose clock runs a little ahead is not in the future.
CLOCK_SKEW = timedelta(minutes=5)


# --- fields -------------------------------------------------------------------------------------
class Text(String):
    """Trimmed, Unicode-composed text of at most `max_length` characters; blank means null.

    Control characters are refused by every schema (`shared.text`); `multiline` text (notes)
    keeps its tabs and line breaks.
    """

    default_error_messages = {
        "blank": "cannot be blank",
        "too_long": "at most {max_length} characters",
    }

    def __init__(
        self, max_length: int, multiline: bool = False, blank: bool = True, **kwargs: Any
    ) -> None:
        kwargs.setdefault("allow_none", blank)
        super().__init__(multiline=multiline, **kwargs)
        self.max_length = max_length
        self.blank = blank

    def _deserialize(  # type: ignore[override]  # blank text loads as None
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> str | None:
        text = unicodedata.normalize("NFC", super()._deserialize(value, attr, data, **kwargs))
        text = text.strip()
        if not text:
            if not self.blank:
                raise self.make_error("blank")
            return None
        if len(text) > self.max_length:
            raise self.make_error("too_long", max_length=self.max_length)
        return text


class Normalised(Text):
    """Text passed through one of `validation`'s rules; its ValueError is the field's error."""

    def __init__(self, rule: Any, max_length: int, **kwargs: Any) -> None:
        super().__init__(max_length, **kwargs)
        self.rule = rule

    def _deserialize(  # type: ignore[override]  # blank text loads as None
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> str | None:
        text = super()._deserialize(value, attr, data, **kwargs)
        if text is None:
            return None
        try:
            return str(self.rule(text))
        except ValueError as exc:
            raise ma.ValidationError(str(exc)) from None


class BirthDate(ma.fields.Date):
    """A date of birth: not in the future."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        day = super()._deserialize(value, attr, data, **kwargs)
        try:
            return validation.check_birth_date(day, utcnow().date())
        except ValueError as exc:
            raise ma.ValidationError(str(exc)) from None


class DiscountRate(ma.fields.Decimal):
    """A percentage from 0 to 100 with at most two decimals; answered as a string (`12.50`)."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"type": "string", "format": "decimal", **kwargs.pop("metadata", {})}
        super().__init__(as_string=True, allow_nan=False, metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        rate = super()._deserialize(value, attr, data, **kwargs)
        try:
            return validation.normalize_discount(rate)
        except ValueError as exc:
            raise ma.ValidationError(str(exc)) from None


class Flag(ma.fields.Boolean):
    """A JSON boolean only: `true` or `false` (not 1, "yes" or "true")."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class CustomFieldValues(ma.fields.Dict):
    """`custom_fields {key: value}`: JSON scalars by key; the definitions of the customer's kind
    check each value (`services.customers.fields.values`); null removes one (PATCH merges)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            keys=ma.fields.String(validate=ma.validate.Regexp(KEY_PATTERN, error=KEY_RULE)),
            values=ma.fields.Raw(allow_none=True),
            validate=ma.validate.Length(max=MAX_CUSTOM_FIELDS),
            metadata={
                "description": "Values of the custom fields defined for the customer's kind "
                "(GET /customers/fields), by key: text, number, date (YYYY-MM-DD), boolean or one "
                "of a choice's options; null removes a value.",
                "example": {"loyalty_level": "gold", "employees": 12},
            },
            **kwargs,
        )

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        loaded = super()._deserialize(value, attr, data, **kwargs)
        nested = {
            key: ["a custom field takes a text, a number, a date, true or false, or null"]
            for key, item in loaded.items()
            if isinstance(item, dict | list)
        }
        if nested:
            raise ma.ValidationError(nested)
        return loaded


# --- nested parts -------------------------------------------------------------------------------
class AddressSchema(Schema):
    """A postal address; every part is optional."""

    street = Text(300)
    postal_code = Text(20)
    city = Text(100)
    region = Text(100)
    country = Normalised(validation.normalize_country, 100, metadata={"example": "FR"})


class PhoneInputSchema(Schema):
    """A phone number as written, its type and its per-channel consent (off unless said)."""

    number = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=40),
        metadata={"description": "any usual writing; answered in E.164"},
    )
    type = Normalised(
        validation.normalize_phone_type,
        validation.PHONE_TYPE_MAX_LENGTH,
        blank=False,
        metadata={"description": "mobile, work, home, or your own label"},
    )
    sms = Flag()
    whatsapp = Flag()
    viber = Flag()


class PhoneSchema(Schema):
    """A phone number in E.164 with its type and per-channel consent."""

    number = ma.fields.String(required=True)
    type = ma.fields.String(required=True)
    sms = ma.fields.Boolean(required=True)
    whatsapp = ma.fields.Boolean(required=True)
    viber = ma.fields.Boolean(required=True)


class BillingSchema(Schema):
    """Billing details: legal name, intra-EU VAT number, fiscal code, billing address."""

    legal_name = Text(200)
    vat_number = Text(30, metadata={"description": "intra-EU VAT number, e.g. FR40303265045"})
    fiscal_code = Text(50)
    address = ma.fields.Nested(AddressSchema, allow_none=True)


class SourceSchema(Schema):
    """How the customer found us."""

    channel = Text(100)
    campaign = Text(200)
    utm_source = Text(200)
    utm_medium = Text(200)
    utm_campaign = Text(200)
    device = Text(200)


class ConsentSchema(Schema):
    """The record of a consent: how it was obtained (`source`) and when."""

    source = Text(200, blank=False, required=True, metadata={"example": "signed form"})
    obtained_at = ma.fields.AwareDateTime(required=True)

    @ma.validates("obtained_at")
    def _not_in_the_future(self, value: Any, **_: Any) -> None:
        if value > utcnow() + CLOCK_SKEW:
            raise ma.ValidationError("a consent cannot be obtained in the future")


class LoginSchema(Schema):
    """The customer's access to the reserved area (managed by registration)."""

    enabled = ma.fields.Boolean(required=True)
    email_confirmed = ma.fields.Boolean(required=True)


class AppliedTagSchema(Schema):
    """A tag a customer carries, as the local tag catalogue knows it."""

    id = ma.fields.UUID(required=True)
    name = ma.fields.String(allow_none=True)
    color = ma.fields.String(allow_none=True)
    order = ma.fields.Integer(allow_none=True)


# --- input --------------------------------------------------------------------------------------
class _ProfileInput(Schema):
    """The writable fields of a profile; read-only ones are refused by name."""

    kind = ma.fields.String(validate=ma.validate.OneOf(validation.KINDS))
    first_name = Text(100)
    last_name = Text(100)
    company_name = Text(200)
    email = Normalised(validation.normalize_email, 320)
    website = Normalised(validation.normalize_website, 2000)
    birth_date = BirthDate(allow_none=True)
    gender = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(validation.GENDERS))
    language = Normalised(validation.normalize_language, 16)
    address = ma.fields.Nested(AddressSchema, allow_none=True)
    phones = ma.fields.List(
        ma.fields.Nested(PhoneInputSchema), validate=ma.validate.Length(max=MAX_PHONES)
    )
    email_consent = Flag()
    newsletter_subscribed = Flag()
    newsletter_lists = ma.fields.List(
        Text(100, blank=False), validate=ma.validate.Length(max=MAX_NEWSLETTER_LISTS)
    )
    billing = ma.fields.Nested(BillingSchema, allow_none=True)
    shipping_addresses = ma.fields.List(
        ma.fields.Nested(AddressSchema), validate=ma.validate.Length(max=MAX_SHIPPING_ADDRESSES)
    )
    is_supplier = Flag()
    is_conflict = Flag()
    status = ma.fields.String(validate=ma.validate.Length(min=1, max=32))
    source = ma.fields.Nested(SourceSchema, allow_none=True)
    notes = Text(20_000, multiline=True)
    discount_percent = DiscountRate(allow_none=True, metadata={"example": "12.50"})
    consent = ma.fields.Nested(
        ConsentSchema,
        metadata={"description": "how and when the consent to the channels switched on was got"},
    )
    custom_fields = CustomFieldValues()

    @ma.pre_load
    def _refuse_read_only_fields(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict):
            errors = {
                name: [f"{name} is read-only and cannot be written"]
                for name in READ_ONLY_FIELDS
                if name in data
            }
            if errors:
                raise ma.ValidationError(errors)
        return data


class CustomerCreateSchema(_ProfileInput):
    """A new customer; every consent channel starts off unless `consent` records how it was got."""

    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(validation.KINDS))


class CustomerUpdateSchema(_ProfileInput):
    """The fields to change; objects (address, billing, source) are merged, lists replaced."""


class MergeSchema(Schema):
    """The duplicate profile to fold into this one."""

    duplicate_id = ma.fields.UUID(required=True)


class AvatarUploadSchema(Schema):
    """A PNG, JPEG or WebP image of at most 2 MB (multipart field `file`)."""

    file = Upload(required=True)


# --- output -------------------------------------------------------------------------------------
class AvatarSchema(Schema):
    """The stored avatar: re-encoded, at most 512x512."""

    content_type = ma.fields.String(required=True)
    width = ma.fields.Integer(required=True)
    height = ma.fields.Integer(required=True)
    updated_at = ma.fields.AwareDateTime(required=True)


class CustomerSchema(Schema):
    """A customer profile as the API answers it (dump a `CUSTOMER_VIEW` row)."""

    id = ma.fields.UUID(required=True)
    kind = ma.fields.String(required=True)
    first_name = ma.fields.String(allow_none=True)
    last_name = ma.fields.String(allow_none=True)
    company_name = ma.fields.String(allow_none=True)
    email = ma.fields.String(allow_none=True)
    website = ma.fields.String(allow_none=True)
    birth_date = ma.fields.Date(allow_none=True)
    gender = ma.fields.String(allow_none=True)
    language = ma.fields.String(allow_none=True)
    address = ma.fields.Nested(AddressSchema, required=True)
    phones = ma.fields.List(ma.fields.Nested(PhoneSchema), required=True)
    email_consent = ma.fields.Boolean(required=True)
    newsletter_subscribed = ma.fields.Boolean(required=True)
    newsletter_lists = ma.fields.List(ma.fields.String(), required=True)
    billing = ma.fields.Nested(BillingSchema, required=True)
    shipping_addresses = ma.fields.List(ma.fields.Nested(AddressSchema), required=True)
    is_supplier = ma.fields.Boolean(required=True)
    is_conflict = ma.fields.Boolean(required=True)
    status = ma.fields.String(required=True)
    tags = ma.fields.List(ma.fields.Nested(AppliedTagSchema), required=True)
    source = ma.fields.Nested(SourceSchema, required=True)
    notes = ma.fields.String(allow_none=True)
    discount_percent = DiscountRate(allow_none=True, metadata={"example": "12.50"})
    login = ma.fields.Nested(LoginSchema, required=True)
    custom_fields = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Raw(), required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    updated_at = ma.fields.AwareDateTime(required=True)

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """The JSON of one customer or many, built directly (lists answer 50 at a time).

        Equal to marshmallow's own dump of the fields above (`customer_json`'s unit test checks
        it field by field), at a tenth of the cost.
        """
        if self.many if many is None else many:
            return [customer_json(answer) for answer in obj]
        return customer_json(obj)

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        """Contract fields from the view row's columns, or derived from them."""
        derived = DERIVED_FIELDS.get(attr)
        if derived is not None:
            return derived(obj)
        return super().get_attribute(obj, attr, default)
