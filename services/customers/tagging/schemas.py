"""Request and response schemas of customer tags, the status catalogue and bulk actions."""

from __future__ import annotations

import unicodedata
from typing import Any

import marshmallow as ma

from services.customers.listing.filters import CustomerFilterSchema
from services.customers.tagging.bulk import ACTIONS, DELETE_CONFIRM_ABOVE, TAG_ACTIONS
from shared.api import Schema, page_schema

TAG_NAME_MAX_LENGTH = 64
MAX_TAGS_PER_REQUEST = 100
MAX_BULK_IDS = 100_000
STATUS_KEY = r"^[a-z][a-z0-9_]{0,31}$"
POSITION_RANGE = ma.validate.Range(min=-(2**31), max=2**31 - 1)


class TagName(ma.fields.String):
    """A tag name as the tags service accepts it: trimmed, composed, 1-64 characters."""

    default_error_messages = {
        "blank": "a tag name cannot be blank",
        "too_long": f"a tag name has at most {TAG_NAME_MAX_LENGTH} characters",
        "control": "a tag name cannot contain control characters or line breaks",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = unicodedata.normalize("NFC", super()._deserialize(value, attr, data, **kwargs))
        text = text.strip()
        if not text:
            raise self.make_error("blank")
        if len(text) > TAG_NAME_MAX_LENGTH:
            raise self.make_error("too_long")
        if any(unicodedata.category(char) in {"Cc", "Cf"} for char in text):
            raise self.make_error("control")
        return text


def _tag_id_list(**kwargs: Any) -> ma.fields.List:
    return ma.fields.List(
        ma.fields.UUID(),
        validate=ma.validate.Length(
            max=MAX_TAGS_PER_REQUEST, error=f"at most {MAX_TAGS_PER_REQUEST} tags"
        ),
        **kwargs,
    )


# --- customer tags ------------------------------------------------------------------------------
class CustomerTagSchema(Schema):
    """A tag as a customer shows it."""

    id = ma.fields.UUID(dump_only=True)
    name = ma.fields.String(dump_only=True)
    color = ma.fields.String(dump_only=True)
    order = ma.fields.Integer(dump_only=True, allow_none=True)


class CustomerTagsSchema(Schema):
    """A customer's tags, by order (tags without one last) then name."""

    customer_id = ma.fields.UUID(dump_only=True)
    tags = ma.fields.List(ma.fields.Nested(CustomerTagSchema), dump_only=True)


class CustomerTagsReplaceSchema(Schema):
    """`PUT /customers/{id}/tags`: the customer's tags, all of them."""

    tag_ids = _tag_id_list(required=True)


class CustomerTagAddSchema(Schema):
    """`POST /customers/{id}/tags`: a tag by id, or by name (created when new)."""

    tag_id = ma.fields.UUID()
    name = TagName(metadata={"description": "A tag name; a new one creates the tag."})

    @ma.validates_schema
    def _one_of_id_or_name(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "tag_id" in data and "name" in data:
            raise ma.ValidationError("give tag_id or name, not both", field_name="name")
        if "tag_id" not in data and "name" not in data:
            raise ma.ValidationError("give tag_id or name", field_name="tag_id")


# --- statuses -----------------------------------------------------------------------------------
class StatusSchema(Schema):
    """A status of the catalogue."""

    key = ma.fields.String(dump_only=True)
    label = ma.fields.String(dump_only=True)
    is_default = ma.fields.Boolean(dump_only=True)
    position = ma.fields.Integer(dump_only=True)


def _label(**kwargs: Any) -> ma.fields.String:
    return ma.fields.String(
        validate=ma.validate.Length(min=1, max=100, error="between 1 and 100 characters"),
        **kwargs,
    )


class StatusCreateSchema(Schema):
    """`POST /customers/statuses`: a custom status."""

    key = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(
            STATUS_KEY, error="lower-case letters, digits and _, starting with a letter (max 32)"
        ),
        metadata={"example": "partner"},
    )
    label = _label(required=True, metadata={"example": "Partner"})
    position = ma.fields.Integer(strict=True, validate=POSITION_RANGE)

    @ma.pre_load
    def _trim_label(self, data: Any, **kwargs: Any) -> Any:
        return _trimmed(data)


class StatusUpdateSchema(Schema):
    """`PATCH /customers/statuses/{key}`: a new label or position."""

    label = _label()
    position = ma.fields.Integer(strict=True, validate=POSITION_RANGE)

    @ma.pre_load
    def _trim_label(self, data: Any, **kwargs: Any) -> Any:
        return _trimmed(data)


def _trimmed(data: Any) -> Any:
    if isinstance(data, dict) and isinstance(data.get("label"), str):
        return {**data, "label": data["label"].strip()}
    return data


StatusPageSchema = page_schema(StatusSchema, "StatusPageSchema")


# --- bulk actions -------------------------------------------------------------------------------
class BulkActionSchema(Schema):
    """`POST /customers/bulk`: an action on `ids` or on everything a `filter` matches."""

    action = ma.fields.String(required=True, validate=ma.validate.OneOf(ACTIONS))
    ids = ma.fields.List(
        ma.fields.UUID(),
        validate=ma.validate.Length(
            min=1, max=MAX_BULK_IDS, error=f"between 1 and {MAX_BULK_IDS} ids"
        ),
    )
    filter = ma.fields.Dict(
        metadata={"description": "The list parameters of `GET /customers`; `{}` selects all."}
    )
    tag_ids = _tag_id_list()
    status = ma.fields.String(validate=ma.validate.Length(min=1, max=32))
    confirm = ma.fields.Integer(
        strict=True,
        validate=ma.validate.Range(min=0, max=2**63 - 1),
        metadata={
            "description": "`delete` only: the number of customers it matches, needed above "
            f"{DELETE_CONFIRM_ABOVE:,} (409 with that number otherwise)."
        },
    )

    @ma.validates_schema
    def _consistent(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        if ("ids" in data) == ("filter" in data):
            errors["ids"] = ["give ids or filter (one of them)"]
        action = data.get("action")
        if action in TAG_ACTIONS and not data.get("tag_ids"):
            errors["tag_ids"] = [f"{action} needs at least one tag id"]
        if action not in TAG_ACTIONS and "tag_ids" in data:
            errors["tag_ids"] = [f"{action} takes no tag_ids"]
        if action == "set_status" and "status" not in data:
            errors["status"] = ["set_status needs a status"]
        if action != "set_status" and "status" in data:
            errors["status"] = [f"{action} takes no status"]
        if action != "delete" and "confirm" in data:
            errors["confirm"] = [f"{action} takes no confirm"]
        if "filter" in data:
            filter_errors = CustomerFilterSchema().validate(data["filter"])
            if filter_errors:
                errors["filter"] = filter_errors  # type: ignore[assignment]
        if errors:
            raise ma.ValidationError(errors)


class BulkResultSchema(Schema):
    """What a bulk action done at once matched and changed."""

    matched = ma.fields.Integer(dump_only=True)
    changed = ma.fields.Integer(dump_only=True)


class BulkJobSchema(Schema):
    """A bulk job and its progress (`processed` of `matched` customers so far)."""

    id = ma.fields.UUID(dump_only=True)
    action = ma.fields.String(dump_only=True)
    status = ma.fields.String(
        dump_only=True, metadata={"description": "queued, running, done or failed"}
    )
    matched = ma.fields.Integer(dump_only=True)
    processed = ma.fields.Integer(dump_only=True)
    changed = ma.fields.Integer(dump_only=True)
    progress = ma.fields.Method("_progress", dump_only=True, metadata={"type": "number"})
    error = ma.fields.String(dump_only=True, allow_none=True)
    error_id = ma.fields.Method(
        "_error_id",
        dump_only=True,
        metadata={
            "type": "string",
            "nullable": True,
            "description": "Of a failed job: where the service's log has the details.",
        },
    )
    created_at = ma.fields.AwareDateTime(dump_only=True)
    started_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)
    finished_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)

    def _error_id(self, job: Any) -> str | None:
        error_id = (job.params or {}).get("error_id")
        return None if error_id is None else str(error_id)

    def _progress(self, job: Any) -> float:
        if job.status == "done":
            return 1.0
        if not job.matched:
            return 0.0
        return round(min(job.processed / job.matched, 1.0), 4)
