"""Throttling in the service's database, the one store every gunicorn worker and replica shares
(the embedded mode's SQLite file included).

A bucket counts hits by key (an account's email, a client address) in a sliding window. Failed
logins lock a key once it reached its limit; each further failure after a lock doubles the wait
(1, 2, 4... minutes, at most the window): growing delays, answered 429 with Retry-After.
Sign-ups and confirmations count every attempt and wait until the oldest leaves the window.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from services.registration.config import Limit, RegistrationConfig
from services.registration.models import ThrottleHit
from shared.db import utcnow

LOGIN_ACCOUNT, LOGIN_IP = "login-account", "login-ip"
SIGNUP_IP, CONFIRMATION_IP = "signup-ip", "confirmation-ip"
FIRST_DELAY = timedelta(minutes=1)
PURGE_BATCH = 5000
PURGE_INTERVAL = timedelta(minutes=15)


@dataclass(frozen=True)
class Lockout:
    """A key's failures in its window, and how long it must wait before trying again."""

    failures: int
    wait: float | None
    """Seconds to wait before the next attempt, or None when it may try now."""


def lockouts(
    session: Session, checks: Sequence[tuple[str, str, Limit]], now: datetime
) -> list[Lockout]:
    """`lockout_wait` of several (bucket, key, limit) at once: one statement for all."""
    counts = lockout_counts([(b, k, now - limit.window) for b, k, limit in checks])
    return read_lockouts(session.execute(counts), checks, now)


def lockout_counts(
    wanted: Sequence[tuple[str, Any, Any]],
) -> Select[str, str, int, datetime]:
    """The statement `lockouts` runs: (bucket, key, hits, last) of each (bucket, key, since)
    with hits since then; key and since are values or bound parameters (a caller may build
    it once and join it to its own read, for one round trip)."""
    return (
        select(
            ThrottleHit.bucket,
            ThrottleHit.key,
            func.count().label("hits"),
            func.max(ThrottleHit.at).label("last"),
        )
        .where(
            or_(
                *(
                    and_(ThrottleHit.bucket == b, ThrottleHit.key == k, ThrottleHit.at > since)
                    for b, k, since in wanted
                )
            )
        )
        .group_by(ThrottleHit.bucket, ThrottleHit.key)
    )


def read_lockouts(
    rows: Iterable[Any], checks: Sequence[tuple[str, str, Limit]], now: datetime
) -> list[Lockout]:
    """The lockouts of `checks` from rows of `lockout_counts` (bucket, key, hits, last; rows
    whose bucket is None are ignored)."""
    found = {(row.bucket, row.key): (row.hits, row.last) for row in rows if row.bucket is not None}
    answers = []
    for bucket, key, limit in checks:
        count, last = found.get((bucket, key), (0, None))
        answers.append(Lockout(count, _lockout_wait(count, last, limit, now)))
    return answers


def lockout_wait(
    session: Session, bucket: str, key: str, limit: Limit, now: datetime
) -> float | None:
    """Seconds to wait before the next attempt for this key, or None when it may try now."""
    return lockouts(session, [(bucket, key, limit)], now)[0].wait


def _lockout_wait(count: int, last: datetime | None, limit: Limit, now: datetime) -> float | None:
    if count < limit.count or last is None:
        return None
    delay = min(FIRST_DELAY * 2 ** (count - limit.count), limit.window)
    wait = (last + delay - now).total_seconds()
    return wait if wait > 0 else None


def window_wait(
    session: Session, bucket: str, key: str, limit: Limit, now: datetime
) -> float | None:
    """Seconds until a hit leaves the window when it holds `limit.count` of them, else None."""
    since = now - limit.window
    hits = list(
        session.scalars(
            select(ThrottleHit.at)
            .where(ThrottleHit.bucket == bucket, ThrottleHit.key == key, ThrottleHit.at > since)
            .order_by(ThrottleHit.at.desc())
            .limit(limit.count)
        )
    )
    if len(hits) < limit.count:
        return None
    return max(1.0, (hits[-1] + limit.window - now).total_seconds())


def record(session: Session, bucket: str, key: str, now: datetime) -> None:
    """Count one hit."""
    session.add(ThrottleHit(bucket=bucket, key=key[:400], at=now))


def forget(session: Session, bucket: str, key: str) -> None:
    """Forget a key's hits (a successful login clears its account's failures)."""
    session.execute(delete(ThrottleHit).where(ThrottleHit.bucket == bucket, ThrottleHit.key == key))


def purge(session: Session, before: datetime, batch: int = PURGE_BATCH) -> int:
    """Drop up to `batch` hits older than `before`; how many went.

    The rows are claimed with SKIP LOCKED: two workers purging at once each take rows the other
    has not (never a wait on, nor a deadlock with, the other), and a batch keeps each
    transaction short beside the logins that write hits.
    """
    doomed = (
        select(ThrottleHit.id)
        .where(ThrottleHit.at < before)
        .limit(batch)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = session.execute(delete(ThrottleHit).where(ThrottleHit.id.in_(doomed)))
    return int(getattr(result, "rowcount", 0) or 0)


def longest_window(config: RegistrationConfig) -> timedelta:
    """The longest window of every limit: a hit older than it counts nowhere any more."""
    return max(
        config.login_failures_per_account.window,
        config.login_failures_per_ip.window,
        config.signups_per_ip.window,
        config.confirmations_per_ip.window,
    )


def purge_expired(session_factory: sessionmaker[Session], config: RegistrationConfig) -> int:
    """The worker's housekeeping: every hit past the longest window goes, batch by batch, each
    in its own transaction; how many went."""
    before = utcnow() - longest_window(config)
    purged = 0
    while True:
        with session_factory() as session, session.begin():
            count = purge(session, before)
        purged += count
        if count < PURGE_BATCH:
            return purged
