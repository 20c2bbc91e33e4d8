"""Who may publish what: the owner of each event type, checked by every consumer.

An event is acted on only when the broker user that published it (the message's `user_id`,
which RabbitMQ checks against the connection's login) owns its type. Each service of the suite
publishes under its own broker user, `crm-<service>` (`broker_user`); other internal systems
under theirs (`billing`, `scheduling`, `support`, `marketing`), with topic permissions that let
each write only its own prefixes. The automation service's HTTP door (`POST /automation/events`)
publishes the external events it accepted, so `crm-automation` may publish those too.

The inbox keys an event by its type's owner and its id (`inbox_source`): a publisher can
neither pre-empt nor replay another owner's event by reusing its id.
"""

from __future__ import annotations

EXTERNAL_PREFIXES = ("billing", "scheduling", "support", "marketing")
SUITE_PUBLISHERS = ("customers", "tags", "registration", "notifications", "automation")
# Development broker passwords (`make stack`, the tests): this prefix and the user's name.
# Refused in production, like every development credential.
DEV_BROKER_PASSWORD_PREFIX = "dev-"  # noqa: S105


def development_broker_password(user: str) -> str:
    """The password a broker user has on development machines (never in production)."""
    return f"{DEV_BROKER_PASSWORD_PREFIX}{user}"


def broker_user(service: str) -> str:
    """The broker user a service of the suite publishes and consumes as."""
    return f"crm-{service}"


# First segment of the type -> its owner: the broker user of the service or system that says
# it happened.
_OWNERS: dict[str, str] = {
    "tag": broker_user("tags"),
    "customer": broker_user("customers"),
    "registration": broker_user("registration"),
    "account": broker_user("registration"),
    "device": broker_user("registration"),
    "notification": broker_user("notifications"),
    "automation": broker_user("automation"),
    **{prefix: prefix for prefix in EXTERNAL_PREFIXES},
}
# Owner -> the broker users allowed to publish its types, besides the owner itself.
_DELEGATES: dict[str, frozenset[str]] = {
    prefix: frozenset({broker_user("automation")}) for prefix in EXTERNAL_PREFIXES
}


def register_owner(prefix: str, owner: str) -> None:
    """Declare the owner of the types starting with `prefix.` (tests and tools add theirs)."""
    _OWNERS[prefix] = owner


def owner_of(event_type: str) -> str | None:
    """The owner of an event type, or None when no one owns it (nobody may publish it)."""
    return _OWNERS.get(event_type.split(".", 1)[0])


def may_publish(user: str | None, event_type: str) -> bool:
    """Whether the broker user `user` may publish events of `event_type`."""
    owner = owner_of(event_type)
    if owner is None or user is None:
        return False
    return user == owner or user in _DELEGATES.get(owner, frozenset())


def inbox_source(event_type: str) -> str:
    """The namespace of an event's id in the inbox: its type's owner."""
    return owner_of(event_type) or ""


def prefixes_of(user: str) -> list[str]:
    """The type prefixes a broker user may publish (its topic permission, as prefixes)."""
    return sorted(
        prefix
        for prefix, owner in _OWNERS.items()
        if user == owner or user in _DELEGATES.get(owner, frozenset())
    )


def topic_write_pattern(user: str) -> str:
    """The regular expression of routing keys `user` may write to `crm.events` (RabbitMQ)."""
    prefixes = prefixes_of(user)
    if not prefixes:
        return "^$"
    if len(prefixes) == 1:
        return f"^{prefixes[0]}\\."
    return "^(" + "|".join(prefixes) + r")\."
