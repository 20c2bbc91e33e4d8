"""Event handlers of the tags service and the explicit list of what it subscribes to."""

from __future__ import annotations

from collections.abc import Sequence

from shared.events.consumer import Handler

SUBSCRIPTIONS: dict[str, Sequence[Handler]] = {}
