"""Pooled database connections: pinged after a quiet spell, and a lost one answered with a 503."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, text

import shared.app
from services.tags.app import create_app
from shared.db import make_engine
from shared.settings import Settings
from tests.servers import cut_database_sessions


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        pid: int = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        return pid


@pytest.fixture
def tags_settings(pg_settings: Callable[..., Settings]) -> Settings:
    return pg_settings("tags")


def test_a_connection_cut_while_idle_is_replaced_before_use(tags_settings: Settings):
    engine = make_engine(tags_settings.database_url, ping_after=0.05)
    try:
        before = _backend_pid(engine)
        assert cut_database_sessions(tags_settings.database_url) >= 1
        time.sleep(0.1)  # idle for longer than ping_after (a longer pause changes nothing)
        assert _backend_pid(engine) != before
    finally:
        engine.dispose()


def test_a_connection_lost_mid_traffic_answers_503_then_the_pool_recovers(
    tags_settings: Settings,
    make_token: Callable[..., dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
):
    # Mid-traffic: however long this loaded machine takes between two requests, the pooled
    # connection is not pinged (as within the 2 s idle window of a busy service).
    monkeypatch.setattr(shared.app, "make_engine", functools.partial(make_engine, ping_after=1e9))
    app = create_app(tags_settings)
    client = app.test_client()
    headers = make_token("customers:read")
    try:
        assert client.get("/tags", headers=headers).status_code == 200
        assert cut_database_sessions(tags_settings.database_url) >= 1
        # Within the idle window the connection is not pinged (no round trip per request): the
        # statement meets the cut, and the client is told to retry.
        lost = client.get("/tags", headers=headers)
        assert lost.status_code == 503
        assert lost.headers["Retry-After"] == "1"
        assert "database is unavailable" in lost.get_json()["message"]
        assert client.get("/tags", headers=headers).status_code == 200  # pool renewed
    finally:
        app.extensions["crm"].engine.dispose()
