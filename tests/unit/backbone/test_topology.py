"""What the consumers declare over AMQP (`service_queue`, `dead_queue`, `declare_topology`) is what
deploy/rabbitmq/definitions.json declares: the same durable queues, arguments and bindings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.broker import subscriptions
from shared.events.topology import (
    DEAD_EXCHANGE,
    EVENTS_EXCHANGE,
    broker_definitions,
    dead_queue,
    service_queue,
)

ROOT = Path(__file__).resolve().parents[3]
DEFINITIONS: dict[str, Any] = json.loads(
    (ROOT / "deploy" / "rabbitmq" / "definitions.json").read_text()
)
SUBSCRIPTIONS = subscriptions()


def declared(name: str) -> dict[str, Any]:
    (queue,) = [q for q in DEFINITIONS["queues"] if q["name"] == name]
    return queue


def bound(name: str) -> list[tuple[str, str]]:
    return sorted(
        (b["source"], b["routing_key"]) for b in DEFINITIONS["bindings"] if b["destination"] == name
    )


@pytest.mark.parametrize("service", sorted(SUBSCRIPTIONS))
def test_a_services_queue_is_declared_as_the_definitions_say(service: str) -> None:
    queue = service_queue(service, SUBSCRIPTIONS[service])
    entry = declared(queue.name)
    assert queue.name == f"{service}.events"
    assert (queue.durable, queue.auto_delete) == (entry["durable"], entry["auto_delete"])
    assert (queue.durable, queue.auto_delete) == (True, False)
    assert queue.queue_arguments == entry["arguments"]
    assert queue.queue_arguments["x-queue-type"] == "quorum"
    assert sorted((b.exchange.name, b.routing_key) for b in queue.bindings) == bound(queue.name)
    assert {b.exchange.name for b in queue.bindings} == {EVENTS_EXCHANGE.name}


@pytest.mark.parametrize("service", sorted(SUBSCRIPTIONS))
def test_a_services_dead_letter_queue_is_declared_as_the_definitions_say(service: str) -> None:
    queue = dead_queue(service)
    entry = declared(queue.name)
    assert queue.name == f"{service}.events.dead"
    assert (queue.durable, queue.auto_delete) == (entry["durable"], entry["auto_delete"])
    assert (queue.durable, queue.auto_delete) == (True, False)
    assert (queue.queue_arguments or {}) == entry["arguments"]
    assert queue.exchange.name == DEAD_EXCHANGE.name and queue.exchange.type == "direct"
    assert [(queue.exchange.name, queue.routing_key)] == bound(queue.name)
    # the service queue dead-letters exactly there
    arguments = service_queue(service, SUBSCRIPTIONS[service]).queue_arguments
    assert arguments["x-dead-letter-exchange"] == queue.exchange.name
    assert arguments["x-dead-letter-routing-key"] == queue.routing_key


def test_definitions_for_another_virtual_host_put_everything_there() -> None:
    definitions = broker_definitions({"tags": ["customer.created"]}, {"tags": "crm-tags"}, 3, "v")
    assert definitions["vhosts"] == [{"name": "v"}]
    for kind in ("permissions", "topic_permissions", "policies", "exchanges", "queues", "bindings"):
        assert definitions[kind] and {entry["vhost"] for entry in definitions[kind]} == {"v"}
    assert definitions["policies"][0]["definition"] == {"delivery-limit": 3}
