"""Who may publish what (shared.events.owners): the owner of a type is its first segment's, a few
owners delegate to the automation door, and the broker's topic permissions say the same."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from shared.events import owners
from shared.events.owners import (
    inbox_source,
    may_publish,
    owner_of,
    prefixes_of,
    register_owner,
    topic_write_pattern,
)

EXTERNAL = ("billing", "marketing", "scheduling", "support")


@pytest.fixture
def registered() -> Iterator[None]:
    """`unitprobe.*` owned by `unit-probe` for the test, forgotten afterwards."""
    register_owner("unitprobe", "unit-probe")
    yield
    owners._OWNERS.pop("unitprobe", None)


@pytest.mark.parametrize(
    ("event_type", "owner"),
    [
        ("tag.created", "crm-tags"),
        ("customer.status_changed", "crm-customers"),
        ("account.updated", "crm-registration"),
        ("billing.purchase.completed", "billing"),  # a type of three segments: its first one
        ("marketing.email.opened", "marketing"),
        ("tag", "crm-tags"),  # no dot at all
        ("tags.created", None),  # a prefix is a whole segment
        ("nobody.knows", None),
        ("", None),
    ],
)
def test_a_types_owner_is_its_first_segments(event_type: str, owner: str | None) -> None:
    assert owner_of(event_type) == owner
    assert inbox_source(event_type) == (owner or "")


@pytest.mark.parametrize(
    ("user", "event_type", "allowed"),
    [
        ("crm-tags", "tag.created", True),
        ("crm-customers", "tag.created", False),  # an owner without delegates
        ("crm-automation", "tag.created", False),  # the door speaks for external systems only
        ("billing", "billing.purchase.completed", True),
        ("crm-automation", "billing.purchase.completed", True),  # a delegate
        ("marketing", "billing.purchase.completed", False),
        ("crm-tags", "nobody.knows", False),
        (None, "tag.created", False),  # a message that names no publisher
        (None, "nobody.knows", False),
    ],
)
def test_only_the_owner_or_its_delegate_may_publish(
    user: str | None, event_type: str, allowed: bool
) -> None:
    assert may_publish(user, event_type) is allowed


def test_a_registered_owner_owns_its_prefix(registered: None) -> None:
    assert owner_of("unitprobe.happened") == "unit-probe"
    assert may_publish("unit-probe", "unitprobe.happened")
    assert prefixes_of("unit-probe") == ["unitprobe"]


@pytest.mark.parametrize(
    ("user", "prefixes", "pattern"),
    [
        ("crm-tags", ["tag"], r"^tag\."),
        (
            "crm-registration",
            ["account", "device", "registration"],
            r"^(account|device|registration)\.",
        ),
        (
            "crm-automation",
            ["automation", *EXTERNAL],
            r"^(automation|billing|marketing|scheduling|support)\.",
        ),
        ("billing", ["billing"], r"^billing\."),
        ("nobody", [], "^$"),
    ],
)
def test_the_topic_permission_lets_a_user_write_exactly_its_prefixes(
    user: str, prefixes: list[str], pattern: str
) -> None:
    assert prefixes_of(user) == prefixes
    assert topic_write_pattern(user) == pattern
    compiled = re.compile(topic_write_pattern(user))
    for prefix in prefixes:
        assert compiled.match(f"{prefix}.anything")
    for other in ("tag", "customer", "account", "billing", "automation", "x"):
        if other not in prefixes:
            assert not compiled.match(f"{other}.anything")
