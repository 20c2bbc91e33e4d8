"""The refusals of the timeline use cases."""

from __future__ import annotations

import uuid

from shared.api import Refusal


class EntryNotFound(Refusal):
    """No entry of this customer has this id (404)."""

    status = 404

    def __init__(self, entry_id: uuid.UUID) -> None:
        super().__init__(f"no timeline entry of this customer has the id {entry_id}")


class EventEntryIsFixed(Refusal):
    """An event's entry records what happened: it is neither edited nor deleted (409)."""

    status = 409

    def __init__(self, entry_id: uuid.UUID) -> None:
        super().__init__(
            f"the timeline entry {entry_id} records an event; only custom entries change"
        )
