"""The worker purges throttling hits past every window, safely with several workers at once."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.registration import throttle
from services.registration.config import RegistrationConfig
from services.registration.models import ThrottleHit
from services.registration.worker import build_worker
from shared.db import make_engine, make_session_factory, utcnow
from shared.settings import Settings


def _seed(session: Session, old: int, recent: int, config: RegistrationConfig) -> None:
    now = utcnow()
    past = now - throttle.longest_window(config) - timedelta(minutes=1)
    session.add_all(
        ThrottleHit(bucket=throttle.SIGNUP_IP, key=f"10.0.0.{i % 250}", at=past) for i in range(old)
    )
    session.add_all(
        ThrottleHit(bucket=throttle.LOGIN_ACCOUNT, key="ada@example.com", at=now)
        for _ in range(recent)
    )
    session.commit()


def _count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(ThrottleHit)) or 0)


def test_the_worker_schedules_the_purge_of_hits_past_every_window(
    registration_settings: Settings, config: RegistrationConfig
) -> None:
    worker = build_worker(registration_settings, config)
    [job] = [job for job in worker.jobs if job.name == "throttle-purge"]
    assert job.interval <= timedelta(hours=1)
    factory = make_session_factory(make_engine(registration_settings.database_url))
    with factory() as session:
        _seed(session, old=throttle.PURGE_BATCH + 7, recent=3, config=config)  # two batches

    job.run()

    with factory() as session:
        # What may still hold a key back stays: the recent hits, nothing older than a window.
        assert _count(session) == 3
        oldest = session.scalar(select(func.min(ThrottleHit.at)))
        assert oldest is not None and oldest > utcnow() - throttle.longest_window(config)


def test_two_workers_purging_at_once_skip_each_others_rows_without_waiting(
    registration_settings: Settings, config: RegistrationConfig
) -> None:
    factory = make_session_factory(make_engine(registration_settings.database_url))
    with factory() as session:
        _seed(session, old=40, recent=2, config=config)
    held = factory()
    held.begin()
    # Another worker's purge is in the middle of its batch: it holds ten old rows.
    locked = list(
        held.scalars(
            select(ThrottleHit.id)
            .where(ThrottleHit.at < utcnow() - throttle.longest_window(config))
            .limit(10)
            .with_for_update()
        )
    )
    assert len(locked) == 10
    result: list[int] = []
    purger = threading.Thread(
        target=lambda: result.append(throttle.purge_expired(factory, config)), daemon=True
    )
    purger.start()
    purger.join(30)  # a purge that waited on the other's rows would still be blocked here
    still_blocked = purger.is_alive()
    held.rollback()
    held.close()
    purger.join(30)
    assert not still_blocked, "the purge waited on rows another worker holds"
    assert result == [30]  # the thirty free old rows; the ten held are the other's to delete
    assert throttle.purge_expired(factory, config) == 10
    with factory() as session:
        assert _count(session) == 2
