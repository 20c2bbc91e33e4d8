"""Event handlers of the customers service and the explicit list of what it subscribes to.

Handlers act on an event's data as its type's schema loads it (`loaded`): UUIDs, aware times,
booleans and integers, never the raw JSON, in which `"false"` is a string that Python's `bool()`
would take for true.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.customers.automation_actions import apply_rule_actions
from services.customers.profiles.login_state import project_login_state
from services.customers.profiles.signups import create_signed_up_customer
from services.customers.tagging.cascades import move_tag_customers, remove_tag_everywhere
from services.customers.tagging.projection import project_tag
from services.customers.timeline.entries import TIMELINE_TYPES, delete_timeline, record_entries
from services.customers.timeline.summary import PUSH_TYPES, record_push_devices
from shared.db import UnitOfWork
from shared.events.consumer import Handler, batch_handler, mixed_batch_handler
from shared.events.envelope import CloudEvent, InvalidEvent, parse_time
from shared.events.registry import load_data


def loaded(event: CloudEvent) -> dict[str, Any]:
    """The event's data as its type's schema loaded it (`parse_event` sets it; an event built
    otherwise is loaded here, through the same registry)."""
    return event.loaded if event.loaded is not None else load_data(event.type, event.data)


def on_tag_changed(event: CloudEvent, uow: UnitOfWork) -> None:
    """Keep the local copy of a created or updated tag (an older state never overwrites)."""
    project_tag(uow.session, loaded(event))


def on_tag_deleted(event: CloudEvent, uow: UnitOfWork) -> None:
    """Forget a deleted tag and take it off every customer (`customer.untagged` each)."""
    data = loaded(event)
    remove_tag_everywhere(uow, data["id"], data["name"])


def on_tag_merged(event: CloudEvent, uow: UnitOfWork) -> None:
    """Move every customer of the merged tag to the surviving one, and forget the merged tag."""
    data = loaded(event)
    move_tag_customers(uow, data["from_"], data["into"])


@batch_handler
def on_actions_requested(events: Sequence[CloudEvent], uow: UnitOfWork) -> None:
    """Apply rules' actions (status or tag) in order, each published back with
    `reason: "rule:<id>"`; their customers locked at once."""
    apply_rule_actions(uow, [(loaded(event), event.correlationid) for event in events])


def on_registration_submitted(event: CloudEvent, uow: UnitOfWork) -> None:
    """Create the profile of a sign-up, with the account's id."""
    create_signed_up_customer(uow, loaded(event))


def on_account_updated(event: CloudEvent, uow: UnitOfWork) -> None:
    """Show the account's login state on the profile (an older event never overwrites)."""
    time = parse_time(event.time)
    if time is None:
        raise InvalidEvent(f"time {event.time!r} is not an RFC 3339 time with its offset")
    project_login_state(uow.session, loaded(event), time)


@mixed_batch_handler
def on_timeline_events(events: Sequence[CloudEvent], uow: UnitOfWork) -> None:
    """Put a run of events on their customers' timelines, once per event (one statement for
    the run, whatever its types: purchases, invoices, requests... of one batch together)."""
    record_entries(uow.session, events)


@batch_handler
def on_push_devices(events: Sequence[CloudEvent], uow: UnitOfWork) -> None:
    """Count devices registered for push in the summary (the latest event of a device wins)."""
    record_push_devices(uow.session, events)


@batch_handler
def on_customers_deleted(events: Sequence[CloudEvent], uow: UnitOfWork) -> None:
    """Forget what reached deleted customers' timelines after their deletion (events in
    flight); the deletion itself took the rest."""
    delete_timeline(uow.session, *(loaded(event)["customer_id"] for event in events))


SUBSCRIPTIONS: dict[str, Sequence[Handler]] = {
    "tag.created": [on_tag_changed],
    "tag.updated": [on_tag_changed],
    "tag.deleted": [on_tag_deleted],
    "tag.merged": [on_tag_merged],
    "automation.action_requested": [on_actions_requested],
    "customer.deleted": [on_customers_deleted],
    **{event_type: [on_timeline_events] for event_type in TIMELINE_TYPES},
    **{event_type: [on_push_devices] for event_type in PUSH_TYPES},
    # The profile first, then its timeline's first entry.
    "registration.submitted": [on_registration_submitted, on_timeline_events],
    "account.updated": [on_account_updated],
}
