"""Event handlers of the customers service and the explicit list of what it subscribes to."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from services.customers.tagging.projection import project_tag
from services.customers.tagging.usecases import move_tag_customers, remove_tag_everywhere
from shared.db import UnitOfWork
from shared.events.consumer import Handler
from shared.events.envelope import CloudEvent


def on_tag_changed(event: CloudEvent, uow: UnitOfWork) -> None:
    """Keep the local copy of a created or updated tag (an older state never overwrites)."""
    project_tag(uow.session, event.data)


def on_tag_deleted(event: CloudEvent, uow: UnitOfWork) -> None:
    """Forget a deleted tag and take it off every customer (`customer.untagged` each)."""
    remove_tag_everywhere(uow, uuid.UUID(event.data["id"]), event.data.get("name"))


def on_tag_merged(event: CloudEvent, uow: UnitOfWork) -> None:
    """Move every customer of the merged tag to the surviving one, and forget the merged tag."""
    move_tag_customers(uow, uuid.UUID(event.data["from"]), uuid.UUID(event.data["into"]))


SUBSCRIPTIONS: dict[str, Sequence[Handler]] = {
    "tag.created": [on_tag_changed],
    "tag.updated": [on_tag_changed],
    "tag.deleted": [on_tag_deleted],
    "tag.merged": [on_tag_merged],
}
