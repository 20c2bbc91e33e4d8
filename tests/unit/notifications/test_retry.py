"""Retrying after a temporary failure: pauses doubling from the base up to the cap, jittered
over their upper half so that many emails do not all come back at once, then giving up."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.config import RetryPolicy
from services.notifications.models import Delivery
from services.notifications.retry import backoff, schedule_retry

POLICY = RetryPolicy(base=5.0, maximum=60.0, max_attempts=4)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("attempts", "ceiling"), [(0, 5), (1, 5), (2, 10), (3, 20), (4, 40),
                                                   (5, 60), (30, 60)])  # fmt: skip
def test_the_pause_doubles_up_to_the_cap_within_its_upper_half(
    attempts: int, ceiling: float
) -> None:
    pauses = [backoff(POLICY, attempts) for _ in range(200)]
    assert all(ceiling / 2 <= pause <= ceiling for pause in pauses)
    assert max(pauses) - min(pauses) > ceiling / 10  # jittered, not one fixed pause


def _delivery(status: str, attempts: int) -> Delivery:
    return Delivery(id=uuid.uuid4(), status=status, attempts=attempts, next_attempt_at=NOW)


def test_a_delivery_not_sent_waits_its_pause_with_the_reason() -> None:
    delivery = _delivery("sending", 2)
    assert schedule_retry(delivery, POLICY, "421 try later", NOW) == "pending"
    assert delivery.error == "421 try later" and delivery.attempts == 2
    assert NOW + timedelta(seconds=5) <= delivery.next_attempt_at <= NOW + timedelta(seconds=10)


def test_a_try_that_never_reached_the_claim_counts_too() -> None:
    delivery = _delivery("pending", 0)
    schedule_retry(delivery, POLICY, "customers did not answer", NOW)
    assert delivery.attempts == 1


def test_after_its_tries_a_delivery_is_failed_with_the_last_reason() -> None:
    delivery = _delivery("sending", 4)
    assert schedule_retry(delivery, POLICY, "421 try later", NOW) == "failed"
    assert delivery.error == "gave up after 4 tries: 421 try later"
