"""The suite's RabbitMQ set-up: users, permissions and the delivery-limit policy.

`broker_definitions` is what `deploy/rabbitmq/definitions.json` holds (a test keeps the file
equal to it; `crm broker-definitions` writes it). `setup_development_broker` applies the same to
the broker of a development machine with `rabbitmqctl` (`make stack`, root available), each
service user with its development password, refused in production.
"""

from __future__ import annotations

import importlib
import json
import subprocess
from collections.abc import Sequence
from typing import Any

from shared.events.owners import broker_user, development_broker_password, topic_write_pattern
from shared.events.topology import EVENTS_EXCHANGE, broker_definitions, delivery_limit_policy
from shared.settings import SERVICES


def subscriptions() -> dict[str, list[str]]:
    """Each service that consumes events -> the types it consumes (its `SUBSCRIPTIONS`)."""
    found = {}
    for service in SERVICES:
        module = importlib.import_module(f"services.{service}.handlers")
        if module.SUBSCRIPTIONS:
            found[service] = sorted(module.SUBSCRIPTIONS)
    return found


def suite_definitions(delivery_limit: int = 5, vhost: str = "/") -> dict[str, Any]:
    """The suite's RabbitMQ definitions (deploy/rabbitmq/definitions.json)."""
    return {
        "rabbit_version": "3.13.0",
        **broker_definitions(
            subscriptions(),
            {service: broker_user(service) for service in SERVICES},
            delivery_limit,
            vhost,
        ),
        "parameters": [],
        "global_parameters": [],
    }


def _rabbitmqctl(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, timeout=120, check=check
    )


def setup_development_broker(
    users: Sequence[str], delivery_limit: int, vhost: str = "/"
) -> list[str]:
    """Create (or update) `users` with their development passwords on the local broker, allowed
    what their owner table allows on `vhost`, and the delivery-limit policy; what was done."""
    done = []
    for user in users:
        password = development_broker_password(user)
        if _rabbitmqctl("add_user", user, password, check=False).returncode != 0:
            _rabbitmqctl("change_password", user, password)
        _rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        _rabbitmqctl(
            "set_topic_permissions",
            "-p",
            vhost,
            user,
            EVENTS_EXCHANGE.name,
            topic_write_pattern(user),
            ".*",
        )
        done.append(f"user {user}: may publish {topic_write_pattern(user)} on {vhost}")
    policy = delivery_limit_policy(delivery_limit, vhost)
    _rabbitmqctl(
        "set_policy",
        "-p",
        vhost,
        "--apply-to",
        policy["apply-to"],
        "--priority",
        str(policy["priority"]),
        policy["name"],
        policy["pattern"],
        json.dumps(policy["definition"]),
    )
    done.append(f"policy {policy['name']}: delivery-limit {delivery_limit} on {vhost}")
    return done
