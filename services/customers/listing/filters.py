"""The list parameters that select customers, and the one place they become SQL conditions.

`GET /customers`, saved filters (segments), bulk actions and exports all select customers with
`CustomerFilterSchema` + `matching_ids` (or `customer_conditions`), so they can never disagree.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import marshmallow as ma
from sqlalchemy import ColumnElement, Select, exists, func, or_, select
from sqlalchemy.orm import Session

from services.customers.fields.filters import custom_field_conditions
from services.customers.listing.filter_fields import (
    CountryCode,
    CustomFieldFilters,
    DateOrDateTime,
    FilterText,
    Language,
    SearchText,
    day_end,
    day_start,
    normalize_language,
    search_terms,
)
from services.customers.listing.summary_filters import summary_conditions
from services.customers.models import Customer, CustomerTag, NewsletterSubscription, Segment
from shared.api import Refusal, Schema

__all__ = [  # the fields' helpers are used (and tested) as the filters' own
    "CustomerFilterSchema",
    "day_end",
    "day_start",
    "normalize_language",
    "search_terms",
]

KINDS = ("individual", "company")
GENDERS = ("female", "male", "other", "unspecified")
TAGS_MATCH = ("any", "all")
MAX_TAGS = 50
CUSTOM_FIELD_PREFIX = "cf."
SEARCH_MAX_LENGTH = 200
REVENUE_LIMIT = Decimal(10) ** 15


# --- errors -------------------------------------------------------------------------------------
class SegmentError(Refusal, ValueError):
    """A `segment` parameter that cannot be applied; the message says why (answer 422)."""

    location, field = "query", "segment"


class UnknownSegment(SegmentError):
    """No saved filter has this id."""

    def __init__(self, segment_id: uuid.UUID) -> None:
        super().__init__(f"no saved filter (segment) has the id {segment_id}")
        self.segment_id = segment_id


# --- the schema ---------------------------------------------------------------------------------
class CustomerFilterSchema(Schema):
    """The list parameters that select customers (no paging, no sort); every one combines (AND)."""

    q = SearchText(
        validate=ma.validate.Length(max=SEARCH_MAX_LENGTH),
        metadata={
            "description": "Finds name, company name, email or phone (any format: +33 6 12…, "
            "06 12…); several words must all appear."
        },
    )
    tag = ma.fields.List(
        ma.fields.UUID(),
        validate=ma.validate.Length(min=1, max=MAX_TAGS),
        metadata={"description": "Tag ids (repeat the parameter); see `tags_match`."},
    )
    tags_match = ma.fields.String(
        validate=ma.validate.OneOf(TAGS_MATCH),
        metadata={"description": "`any` (default): at least one of the tags; `all`: every one."},
    )
    status = FilterText(32, metadata={"description": "A status key, e.g. `active`."})
    kind = ma.fields.String(validate=ma.validate.OneOf(KINDS))
    is_supplier = ma.fields.Boolean()
    is_conflict = ma.fields.Boolean()
    gender = ma.fields.String(validate=ma.validate.OneOf(GENDERS))
    city = FilterText(100, metadata={"description": "Whatever the case."})
    region = FilterText(100, metadata={"description": "Whatever the case."})
    postal_code = FilterText(20, metadata={"description": "Whatever the case."})
    country = CountryCode(metadata={"description": "ISO 3166-1 alpha-2, e.g. FR."})
    language = Language(
        metadata={"description": "A locale code; `fr` also finds `fr_BE`, `fr_CH`…"},
    )
    email_consent = ma.fields.Boolean()
    newsletter_subscribed = ma.fields.Boolean()
    newsletter_list = FilterText(100, metadata={"description": "Subscribed to this list."})
    login_enabled = ma.fields.Boolean()
    source_channel = FilterText(100, metadata={"description": "Whatever the case."})
    source_campaign = FilterText(200, metadata={"description": "Whatever the case."})
    utm_source = FilterText(200)
    utm_medium = FilterText(200)
    utm_campaign = FilterText(200)
    created_from = DateOrDateTime(
        metadata={"description": "Created at or after (a date means from 00:00 UTC)."}
    )
    created_to = DateOrDateTime(
        metadata={"description": "Created at or before (a date includes that whole day, UTC)."}
    )
    segment = ma.fields.UUID(
        metadata={"description": "A saved filter's id; it applies together with the others."}
    )
    purchases_min = ma.fields.Integer(
        validate=ma.validate.Range(min=0, max=2**31 - 1),
        metadata={"description": "At least this many purchases (the summary's count)."},
    )
    revenue_min = ma.fields.Decimal(
        as_string=True,
        allow_nan=False,
        metadata={
            "description": "Purchases worth at least this much in `revenue_currency` (needed "
            "with it), e.g. 100 or 99.50.",
            "type": "string",
            "format": "decimal",
        },
    )
    revenue_currency = ma.fields.String(
        validate=ma.validate.Regexp(r"^[A-Za-z]{3}$", error="an ISO 4217 code such as EUR"),
        metadata={"description": "The currency of `revenue_min` (ISO 4217, e.g. EUR)."},
    )
    last_action_after = DateOrDateTime(
        metadata={"description": "Last action at or after (a date means from 00:00 UTC)."}
    )
    last_action_before = DateOrDateTime(
        metadata={"description": "Last action before (a date means before 00:00 UTC)."}
    )
    cf = CustomFieldFilters(
        metadata={
            "description": "Custom fields, each written `cf.<key>=<value>` (e.g. "
            "`cf.loyalty=gold`, `cf.employees=12`, `cf.vip=true`, `cf.since=2024-05-31`): "
            "customers whose value is exactly that."
        }
    )

    @ma.pre_load
    def _one_tag_as_a_list(self, data: Any, **kwargs: Any) -> Any:
        # A JSON filter (segment, bulk action) may say "tag": "<id>" for one tag.
        if isinstance(data, Mapping) and isinstance(data.get("tag"), str):
            return {**data, "tag": [data["tag"]]}
        return data

    @ma.pre_load
    @ma.pre_dump
    def _custom_fields_by_key(self, data: Any, **kwargs: Any) -> Any:
        # `cf.<key>=<value>` parameters (or keys of a stored filter) become `cf: {key: value}`.
        if not isinstance(data, Mapping):
            return data
        names = [name for name in data if str(name).startswith(CUSTOM_FIELD_PREFIX)]
        if not names:
            return data
        rest = {name: data[name] for name in data if name not in names}
        rest["cf"] = {name[len(CUSTOM_FIELD_PREFIX) :]: data[name] for name in names}
        return rest

    @ma.post_dump
    def _custom_fields_as_parameters(self, data: dict[str, Any], **kwargs: Any) -> Any:
        # Stored and answered as the parameters are written: `cf.<key>`.
        for key, value in (data.pop("cf", None) or {}).items():
            data[f"{CUSTOM_FIELD_PREFIX}{key}"] = value
        return data

    @ma.post_load
    def _drop_blank_search(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if "q" in data and not data["q"]:
            del data["q"]
        return data

    @ma.validates("revenue_min")
    def _revenue_in_range(self, value: Decimal, **kwargs: Any) -> None:
        # Not a Range validator: the OpenAPI document would give a string field numeric bounds.
        if not Decimal(0) <= value < REVENUE_LIMIT:
            raise ma.ValidationError("an amount from 0 to under 10^15")

    @ma.validates_schema
    def _revenue_with_its_currency(self, data: dict[str, Any], **kwargs: Any) -> None:
        for given, missing in (
            ("revenue_min", "revenue_currency"),
            ("revenue_currency", "revenue_min"),
        ):
            if given in data and missing not in data:
                raise ma.ValidationError(f"{given} needs {missing}", field_name=missing)

    @ma.post_load
    def _currency_upper_case(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if "revenue_currency" in data:
            data["revenue_currency"] = data["revenue_currency"].upper()
        return data

    @ma.validates_schema
    def _dates_in_order(self, data: dict[str, Any], **kwargs: Any) -> None:
        start, end = data.get("created_from"), data.get("created_to")
        if start is not None and end is not None:
            last, included = day_end(end)
            first = day_start(start)
            if last < first or (last == first and not included):
                raise ma.ValidationError(
                    "created_to is before created_from", field_name="created_to"
                )


# --- the conditions -----------------------------------------------------------------------------
def _lower_equals(column: Any, value: str) -> ColumnElement[bool]:
    # lower() on both sides: the database's own case rules, and the functional indexes apply.
    return func.lower(column) == func.lower(value)


def _has_tag(tag_id: uuid.UUID | list[uuid.UUID]) -> ColumnElement[bool]:
    ids = tag_id if isinstance(tag_id, list) else [tag_id]
    return exists().where(CustomerTag.customer_id == Customer.id, CustomerTag.tag_id.in_(ids))


def _tag_conditions(params: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    tags: list[uuid.UUID] = list(dict.fromkeys(params.get("tag") or []))
    if not tags:
        return []
    if params.get("tags_match", "any") == "all":
        return [_has_tag(tag_id) for tag_id in tags]
    return [_has_tag(tags)]


def like_pattern(term: str) -> str:
    """`%term%` for `LIKE … ESCAPE '/'`, the term's own `%`, `_` and `/` taken literally."""
    escaped = term.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"%{escaped}%"


def _search_conditions(q: str | None) -> list[ColumnElement[bool]]:
    # One LIKE per word, its pattern a single constant: each can use the trigram index (PG).
    return [
        Customer.search_text.like(like_pattern(term), escape="/") for term in search_terms(q or "")
    ]


def _language_condition(language: str) -> ColumnElement[bool]:
    # `fr` finds fr, fr_BE, fr_CH…; `zh_Hans` finds zh_Hans and zh_Hans_CN.
    stored = func.lower(Customer.language)
    wanted = language.lower()
    return or_(stored == wanted, stored.startswith(f"{wanted}_", autoescape=True))


_EQUAL_COLUMNS = {
    "kind": Customer.kind,
    "is_supplier": Customer.is_supplier,
    "is_conflict": Customer.is_conflict,
    "gender": Customer.gender,
    "country": Customer.address_country,
    "email_consent": Customer.email_consent,
    "newsletter_subscribed": Customer.newsletter_subscribed,
    "login_enabled": Customer.login_enabled,
    "status": Customer.status,
}
_CASELESS_COLUMNS = {
    "city": Customer.address_city,
    "region": Customer.address_region,
    "postal_code": Customer.address_postal_code,
    "source_channel": Customer.source_channel,
    "source_campaign": Customer.source_campaign,
    "utm_source": Customer.utm_source,
    "utm_medium": Customer.utm_medium,
    "utm_campaign": Customer.utm_campaign,
}


def filter_conditions(params: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    """The SQL conditions on `Customer` of loaded list parameters, `segment` left aside."""
    conditions = _search_conditions(params.get("q")) + _tag_conditions(params)
    for name, column in _EQUAL_COLUMNS.items():
        if params.get(name) is not None:
            conditions.append(column == params[name])
    for name, column in _CASELESS_COLUMNS.items():
        if params.get(name) is not None:
            conditions.append(_lower_equals(column, params[name]))
    if params.get("language") is not None:
        conditions.append(_language_condition(params["language"]))
    if params.get("newsletter_list") is not None:
        conditions.append(
            exists().where(
                NewsletterSubscription.customer_id == Customer.id,
                NewsletterSubscription.list_name == params["newsletter_list"],
            )
        )
    if params.get("created_from") is not None:
        conditions.append(Customer.created_at >= day_start(params["created_from"]))
    if params.get("created_to") is not None:
        end, included = day_end(params["created_to"])
        conditions.append(Customer.created_at <= end if included else Customer.created_at < end)
    after, before = params.get("last_action_after"), params.get("last_action_before")
    return conditions + summary_conditions(
        purchases_min=params.get("purchases_min"),
        revenue_min=params.get("revenue_min"),
        currency=params.get("revenue_currency"),
        last_action_after=None if after is None else day_start(after),
        last_action_before=None if before is None else day_start(before),
    )


def segment_filter(session: Session, segment_id: uuid.UUID) -> dict[str, Any]:
    """The loaded list parameters a saved filter holds; UnknownSegment, SegmentError."""
    stored = session.scalar(select(Segment.filter).where(Segment.id == segment_id))
    if stored is None:
        raise UnknownSegment(segment_id)
    try:
        params: dict[str, Any] = CustomerFilterSchema().load(stored)
    except ma.ValidationError as exc:
        raise SegmentError(
            f"the saved filter {segment_id} is no longer valid: {exc.messages}"
        ) from None
    if params.get("segment") is not None:
        raise SegmentError(f"the saved filter {segment_id} refers to another saved filter")
    return params


def customer_conditions(session: Session, params: Mapping[str, Any]) -> list[ColumnElement[bool]]:
    """Every SQL condition of loaded list parameters, the `segment` one resolved (AND)."""
    conditions = filter_conditions(params) + custom_field_conditions(
        session, params.get("cf") or {}
    )
    if params.get("segment") is not None:
        saved = segment_filter(session, params["segment"])
        conditions += filter_conditions(saved) + custom_field_conditions(
            session, saved.get("cf") or {}
        )
    return conditions


def matching_ids(session: Session, params: dict[str, Any]) -> Select[uuid.UUID]:
    """`select(Customer.id)` of the customers loaded list parameters match (segment resolved).

    Raises UnknownSegment (no such saved filter) or SegmentError: answer 422 on `segment`.
    """
    return select(Customer.id).where(*customer_conditions(session, params))
