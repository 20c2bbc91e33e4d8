"""The embedded mode's logins (SQLite): the one read before the hash (the account joined to the
throttle's counts) answers there too, and a login then takes the general path."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from services.registration.config import Limit, RegistrationConfig
from shared.migrations import migrate
from shared.settings import Settings
from tests.conftest import settings_for


@pytest.fixture
def registration_settings(tmp_path: Path) -> Settings:
    """The registration service on a migrated SQLite file, as the embedded mode runs it."""
    url = f"sqlite:///{tmp_path / 'registration.sqlite3'}"
    settings = settings_for("registration", database_urls={"registration": url})
    migrate(settings)
    return settings


@pytest.fixture
def config() -> RegistrationConfig:
    return RegistrationConfig(
        login_failures_per_account=Limit(3, timedelta(minutes=15)),
        signups_per_ip=Limit(1000, timedelta(hours=1)),
    )


def test_on_sqlite_logins_succeed_fail_and_lock_out_as_on_postgresql(
    client: FlaskClient,
    configure: Callable[..., Any],
    sign_up: Callable[..., dict[str, Any]],
    log_in: Callable[..., Any],
) -> None:
    configure(email_validation="none")
    signed = sign_up()
    for _ in range(2):  # a new device, then a known one
        answer = log_in(signed["email"])
        assert answer.status_code == 200, answer.get_json()
    refreshed = client.post(
        "/registration/tokens/refresh", json={"refresh_token": answer.get_json()["refresh_token"]}
    )
    assert refreshed.status_code == 200
    assert log_in("nobody@example.com").status_code == 401
    for _ in range(3):
        assert log_in(signed["email"], "not the password at all").status_code == 401
    locked = log_in(signed["email"])
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
