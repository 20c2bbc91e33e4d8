"""Dead letters: a message copied to `<service>.events.dead` with why it was not acted on.

The consumer sends there what it cannot handle (undecodable, invalid, refused, failing); a
service's job may send there what it kept aside and can no longer apply (e.g. an event for a
customer that never appeared). One place builds the copy, its headers and its metric.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared import metrics
from shared.events.publisher import EventPublisher, OutgoingMessage
from shared.events.topology import DEAD_EXCHANGE, dead_routing_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeadLetter:
    """A message to dead-letter: its body and identity, the kind of failure and the reason."""

    body: str
    message_id: str
    kind: str
    reason: str
    routing_key: str | None
    content_type: str | None = "application/json"
    headers: Mapping[str, Any] = field(default_factory=dict)


def publish_dead_letters(
    publisher: EventPublisher, service: str, letters: Sequence[DeadLetter]
) -> None:
    """Publish the letters to the service's dead-letter queue (confirmed by the broker)."""
    if not letters:
        return
    queue = dead_routing_key(service)
    messages = []
    for letter in letters:
        headers = dict(letter.headers)
        headers.update(
            {
                "x-crm-dead-reason": letter.reason[:2000],
                "x-crm-dead-kind": letter.kind,
                "x-crm-original-routing-key": letter.routing_key,
                "x-crm-original-content-type": letter.content_type,
            }
        )
        messages.append(
            OutgoingMessage(
                routing_key=queue,
                body=letter.body,
                message_id=letter.message_id,
                headers=_plain_headers(headers),
            )
        )
    publisher.publish_batch(messages, exchange=DEAD_EXCHANGE)
    for letter in letters:
        metrics.EVENTS_DEAD_LETTERED.labels(service, letter.kind).inc()
        log.warning(
            "message dead-lettered",
            extra={"reason": letter.reason, "routing_key": letter.routing_key, "queue": queue},
        )


def _plain_headers(headers: dict[str, Any]) -> dict[str, Any]:
    """AMQP headers the broker accepts back: drop the broker's own x-death bookkeeping."""
    plain: dict[str, Any] = {}
    for key, value in headers.items():
        if key in {"x-death", "x-first-death-exchange", "x-first-death-queue"}:
            continue
        if isinstance(value, str | int | float | bool) or value is None:
            plain[key] = value
        else:
            plain[key] = json.dumps(value, default=str)
    return plain
