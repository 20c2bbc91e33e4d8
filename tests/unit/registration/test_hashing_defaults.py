"""Default hashing slots: one process can keep every core hashing, never holding all its threads."""

from __future__ import annotations

import pytest

from services.registration import config
from services.registration.config import RegistrationConfig
from shared.settings import Settings, web_threads


@pytest.mark.parametrize("cores", [1, 2, 4, 8, 64])
def test_hashing_and_waiting_leave_half_the_web_threads_to_the_other_requests(
    monkeypatch: pytest.MonkeyPatch, cores: int
) -> None:
    monkeypatch.setattr(config.os, "cpu_count", lambda: cores)
    defaults = RegistrationConfig.from_env(Settings(service="registration"), environ={})
    assert defaults.hash_queue is not None
    assert 1 <= defaults.hash_concurrency + defaults.hash_queue <= web_threads("registration") // 2


def test_on_two_cores_one_process_alone_can_hash_on_both(monkeypatch: pytest.MonkeyPatch) -> None:
    # A client's kept-alive connections may all land on one process of the two.
    monkeypatch.setattr(config.os, "cpu_count", lambda: 2)
    defaults = RegistrationConfig.from_env(Settings(service="registration"), environ={})
    assert defaults.hash_concurrency == 2
