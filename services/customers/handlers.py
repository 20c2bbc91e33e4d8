"""Event handlers of the customers service and the explicit list of what it subscribes to."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from services.customers.models import TagView
from shared.db import UnitOfWork
from shared.events.consumer import Handler
from shared.events.envelope import CloudEvent


def on_tag_changed(event: CloudEvent, uow: UnitOfWork) -> None:
    """Keep the local copy of a created or updated tag (an older state never overwrites)."""
    data = event.data
    updated_at = datetime.fromisoformat(data["updated_at"])
    view = uow.session.get(TagView, uuid.UUID(data["id"]))
    if view is None:
        view = TagView(id=uuid.UUID(data["id"]))
        uow.session.add(view)
    elif view.updated_at > updated_at:
        return
    view.name = data["name"]
    view.color = data["color"]
    view.order = data["order"]
    view.is_fixed = data["is_fixed"]
    view.updated_at = updated_at


def on_tag_deleted(event: CloudEvent, uow: UnitOfWork) -> None:
    """Forget a deleted tag."""
    view = uow.session.get(TagView, uuid.UUID(event.data["id"]))
    if view is not None:
        uow.session.delete(view)


def on_tag_merged(event: CloudEvent, uow: UnitOfWork) -> None:
    """Forget the tag merged away (its customers move to the surviving tag)."""
    view = uow.session.get(TagView, uuid.UUID(event.data["from"]))
    if view is not None:
        uow.session.delete(view)


SUBSCRIPTIONS: dict[str, Sequence[Handler]] = {
    "tag.created": [on_tag_changed],
    "tag.updated": [on_tag_changed],
    "tag.deleted": [on_tag_deleted],
    "tag.merged": [on_tag_merged],
}
