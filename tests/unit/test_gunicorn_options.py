"""What `crm web` gives gunicorn: one access line per request (the app's), threads per service."""

from __future__ import annotations

import logging

import pytest
from gunicorn.config import Config

from shared.cli import AppLogsRequestsLogger, gunicorn_options


def _web_config() -> Config:
    config = Config()
    for name, value in gunicorn_options("tags", 8101, 2, "info").items():
        config.set(name, value)
    return config


def test_crm_web_gives_gunicorn_the_logger_without_access_log() -> None:
    assert _web_config().logger_class is AppLogsRequestsLogger


def test_gunicorn_writes_no_access_line_and_builds_none_even_with_a_logging_dict(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = _web_config().logger_class(_web_config())
    with caplog.at_level(logging.INFO, logger="gunicorn.access"):
        # gunicorn's own logger builds the line's atoms from the response first: with None it
        # raises, so this also fails if the atoms are still built per request.
        logger.access(None, None, {}, None)
    assert [r for r in caplog.records if r.name == "gunicorn.access"] == []


def test_registration_serves_with_more_threads_than_the_others_for_its_hashes() -> None:
    threads = {
        service: gunicorn_options(service, 8101, 2, "info")["threads"]
        for service in ("registration", "customers")
    }
    assert threads == {"registration": 8, "customers": 4}
