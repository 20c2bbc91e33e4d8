"""Retrying after a temporary failure: exponential backoff with jitter, then giving up."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from services.notifications.config import RetryPolicy
from services.notifications.models import Delivery


def backoff(policy: RetryPolicy, attempts: int) -> float:
    """The pause before try `attempts + 1`: doubling from `base`, capped, with full jitter
    over its upper half (so retries of many emails spread out)."""
    ceiling = min(policy.maximum, policy.base * 2 ** max(attempts - 1, 0))
    return ceiling / 2 + random.random() * ceiling / 2  # noqa: S311  (jitter, not secrecy)


def schedule_retry(delivery: Delivery, policy: RetryPolicy, reason: str, now: datetime) -> str:
    """A delivery that was not sent this time: `pending` again after its pause, or `failed`
    once it has had its tries; the status it is left in."""
    if delivery.status == "pending":
        delivery.attempts += 1  # a try that never reached the claim
    if delivery.attempts >= policy.max_attempts:
        delivery.status = "failed"
        delivery.error = f"gave up after {delivery.attempts} tries: {reason}"
    else:
        delivery.status = "pending"
        delivery.error = reason
        delivery.next_attempt_at = now + timedelta(seconds=backoff(policy, delivery.attempts))
    delivery.updated_at = now
    return delivery.status
