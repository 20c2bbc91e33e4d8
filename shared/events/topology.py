"""The broker topology: one topic exchange, a quorum queue per service, dead-letter queues."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kombu import Exchange, Queue, binding

EVENTS_EXCHANGE = Exchange("crm.events", type="topic", durable=True)
DEAD_EXCHANGE = Exchange("crm.dead", type="direct", durable=True)


def queue_name(service: str) -> str:
    """The queue a service consumes its events from."""
    return f"{service}.events"


def dead_routing_key(service: str) -> str:
    """The routing key (and queue name) of a service's dead letters."""
    return f"{service}.events.dead"


def service_queue(service: str, event_types: Iterable[str], delivery_limit: int) -> Queue:
    """The durable quorum queue of a service, bound to the event types it handles."""
    return Queue(
        queue_name(service),
        bindings=[binding(EVENTS_EXCHANGE, routing_key=t) for t in sorted(set(event_types))],
        durable=True,
        auto_delete=False,
        queue_arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": delivery_limit,
            "x-dead-letter-exchange": DEAD_EXCHANGE.name,
            "x-dead-letter-routing-key": dead_routing_key(service),
        },
    )


def dead_queue(service: str) -> Queue:
    """Where a service's unprocessable messages wait for a person to look at them."""
    return Queue(
        dead_routing_key(service),
        exchange=DEAD_EXCHANGE,
        routing_key=dead_routing_key(service),
        durable=True,
        auto_delete=False,
    )


def declare_topology(
    channel: Any, service: str, event_types: Iterable[str], delivery_limit: int
) -> Queue:
    """Declare exchanges, the service's queue and bindings, and its dead-letter queue."""
    EVENTS_EXCHANGE(channel).declare()
    DEAD_EXCHANGE(channel).declare()
    dead_queue(service)(channel).declare()
    queue = service_queue(service, event_types, delivery_limit)(channel)
    queue.declare()
    return queue
