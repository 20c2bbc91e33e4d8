"""Request and response schemas of the automation API, split by role."""

from __future__ import annotations

import marshmallow as ma

from shared.api import PageArgsSchema, Schema
from shared.text import String

NAME_LENGTH = ma.validate.Length(min=1, max=200)
CONDITIONS_DOC = (
    "All must hold: each {field, op, value}; op one of eq, ne, gt, gte, lt, lte, in, contains; "
    "field one of status, tags (use contains), revenue.<CURRENCY>, purchases_count, "
    "payments_count, invoices_count, appointments_count, support_requests_count, "
    "emails_clicked_count, days_since_last_interaction, customer.<profile field>, "
    "event.<data field of the trigger>."
)
ACTIONS_DOC = 'Each {"set_status": key}, {"add_tag": tag id} or {"remove_tag": tag id}.'


class SettingsSchema(Schema):
    """The global settings."""

    enabled = ma.fields.Boolean(required=True)
    inactivity_days = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=3650))


class SettingsUpdateSchema(Schema):
    """`PUT /automation/settings`: both fields, or either."""

    enabled = ma.fields.Boolean()
    inactivity_days = ma.fields.Integer(validate=ma.validate.Range(min=1, max=3650))


class RuleSchema(Schema):
    """A rule as the API answers it."""

    id = ma.fields.String(dump_only=True)
    name = ma.fields.String(dump_only=True)
    builtin = ma.fields.Boolean(dump_only=True)
    enabled = ma.fields.Boolean(dump_only=True)
    trigger = ma.fields.String(dump_only=True)
    conditions = ma.fields.List(ma.fields.Dict(), dump_only=True)
    actions = ma.fields.List(ma.fields.Dict(), dump_only=True)
    version = ma.fields.Integer(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class RuleCreateSchema(Schema):
    """A custom rule; conditions and actions are checked against the grammar when saved."""

    name = String(required=True, validate=NAME_LENGTH)
    enabled = ma.fields.Boolean(load_default=True)
    trigger = String(
        required=True,
        validate=ma.validate.Length(min=1, max=200),
        metadata={"description": "An event type, or schedule.daily."},
    )
    conditions = ma.fields.List(
        ma.fields.Raw(), load_default=list, metadata={"description": CONDITIONS_DOC}
    )
    actions = ma.fields.List(ma.fields.Raw(), required=True, metadata={"description": ACTIONS_DOC})


class RuleUpdateSchema(Schema):
    """A rule's changes (a built-in rule takes only `enabled`)."""

    name = String(validate=NAME_LENGTH)
    enabled = ma.fields.Boolean()
    trigger = String(validate=ma.validate.Length(min=1, max=200))
    conditions = ma.fields.List(ma.fields.Raw(), metadata={"description": CONDITIONS_DOC})
    actions = ma.fields.List(ma.fields.Raw(), metadata={"description": ACTIONS_DOC})


class RuleListSchema(Schema):
    """Every rule."""

    items = ma.fields.List(ma.fields.Nested(RuleSchema), required=True)


class DecisionTriggerSchema(Schema):
    type = ma.fields.String(dump_only=True)
    event_id = ma.fields.String(dump_only=True, allow_none=True)
    time = ma.fields.AwareDateTime(dump_only=True)
    fact = ma.fields.String(dump_only=True)
    depth = ma.fields.Integer(dump_only=True)


class DecisionSchema(Schema):
    """One evaluation of one rule for the customer, fired or not, and why."""

    id = ma.fields.Integer(dump_only=True)
    customer_id = ma.fields.String(dump_only=True)
    rule_id = ma.fields.String(dump_only=True)
    rule_version = ma.fields.Integer(dump_only=True)
    trigger = ma.fields.Nested(DecisionTriggerSchema, dump_only=True)
    outcome = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "fired, automation_off, rule_off, condition_false, already_fired, "
            "depth_limit or unknown_customer"
        },
    )
    fired = ma.fields.Boolean(dump_only=True)
    conditions = ma.fields.List(
        ma.fields.Dict(),
        dump_only=True,
        metadata={"description": "Each {field, op, expected, actual, result}."},
    )
    actions = ma.fields.List(ma.fields.Dict(), dump_only=True)
    evaluated_at = ma.fields.AwareDateTime(dump_only=True)


class DecisionPageSchema(Schema):
    items = ma.fields.List(ma.fields.Nested(DecisionSchema), required=True)
    next_cursor = ma.fields.String(allow_none=True, required=True)


class DecisionArgsSchema(PageArgsSchema):
    """`limit` and `cursor`."""


class AcceptedSchema(Schema):
    """What the door accepted."""

    accepted = ma.fields.Integer(
        dump_only=True, metadata={"description": "Events received (repeats of an id included)."}
    )
    new = ma.fields.Integer(
        dump_only=True, metadata={"description": "Events not sent through this door before."}
    )


class EventsDocSchema(Schema):
    """One CloudEvent, or (as `application/cloudevents-batch+json`) a JSON array of them."""

    class Meta:
        unknown = ma.INCLUDE

    specversion = ma.fields.String(required=True)
    id = ma.fields.String(required=True)
    type = ma.fields.String(required=True)
    source = ma.fields.String(required=True)
    time = ma.fields.String(required=True)
    subject = ma.fields.String()
    data = ma.fields.Dict(required=True)
