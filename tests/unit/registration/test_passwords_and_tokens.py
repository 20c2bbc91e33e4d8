"""Passwords (policy, common list, Argon2id cost, bounded hashing), the `act` claim, limits."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import jwt
import pytest

from services.registration.config import Limit, RegistrationConfig
from services.registration.errors import HashingBusy, WeakPassword
from services.registration.passwords import (
    HASHING_NICENESS,
    PasswordHashing,
    check_policy,
    common_passwords,
    generate_password,
)
from shared.auth import AuthError, TokenVerifier, issue_token
from shared.settings import ConfigurationError
from tests.conftest import settings_for


def test_the_common_password_list_has_at_least_ten_thousand_entries_and_is_refused():
    assert len(common_passwords()) >= 10_000
    for password in ("password123", "Qwertyuiop", "iloveyou1"):
        with pytest.raises(WeakPassword):
            check_policy(password)


@pytest.mark.parametrize(
    ("password", "accepted"),
    [("short1!", False), ("eight ch", True), ("x" * 128, True), ("x" * 129, False)],
)
def test_a_password_has_8_to_128_characters_and_no_composition_rules(password, accepted):
    if accepted:
        check_policy(password)
    else:
        with pytest.raises(WeakPassword):
            check_policy(password)


def test_generated_passwords_are_random_and_pass_the_policy():
    generated = {generate_password() for _ in range(50)}
    assert len(generated) == 50
    for password in generated:
        check_policy(password)


def test_hashes_are_argon2id_at_19_mib_and_two_passes():
    hashing = PasswordHashing(1)
    stored = hashing.hash("a fine password")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hashing.verify(stored, "a fine password")
    assert not hashing.verify(stored, "another password")
    assert not hashing.verify(None, "a fine password")  # the dummy hash never matches


class Slow:
    """Argon2 stand-in that records how many hashes run at once, each until `release`."""

    def __init__(self, seconds: float = 0.02) -> None:
        self.seconds = seconds
        self.running, self.peak, self.lock = 0, 0, threading.Lock()
        self.release = threading.Event()

    def hash(self, password: str) -> str:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        self.release.wait(self.seconds)
        with self.lock:
            self.running -= 1
        return password


def _in_thread(call: Callable[[], object]) -> threading.Thread:
    def run() -> None:
        with contextlib.suppress(HashingBusy):  # a caller that waited past its time
            call()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_hashing_runs_at_most_its_concurrency():
    hashing = PasswordHashing(2)
    hashing.hasher = slow = Slow()  # type: ignore[assignment]
    threads = [_in_thread(lambda: hashing.hash("pw pw pw pw")) for _ in range(6)]
    for thread in threads:
        thread.join()
    assert slow.peak == 2


def test_a_long_wait_for_a_hash_is_a_503():
    hashing = PasswordHashing(1, wait_seconds=0.05)
    hashing.hasher = slow = Slow(seconds=30)  # type: ignore[assignment]
    busy = _in_thread(lambda: hashing.hash("a fine password"))  # one hash in progress
    try:
        with pytest.raises(HashingBusy):
            hashing.hash("a fine password")
    finally:
        slow.release.set()
        busy.join()


def test_past_its_queue_a_caller_is_refused_at_once_and_frees_its_thread():
    hashing = PasswordHashing(1, wait_seconds=30, queue=1)
    hashing.hasher = slow = Slow(seconds=30)  # type: ignore[assignment]
    hashing_now = _in_thread(lambda: hashing.hash("first password"))
    waiting = _in_thread(lambda: hashing.hash("second password"))  # the one queued
    try:
        while slow.running == 0:
            time.sleep(0.01)
        started = time.monotonic()
        with pytest.raises(HashingBusy):
            hashing.hash("third password")
        # Refused without waiting the 30 s the queued caller may wait.
        assert time.monotonic() - started < 20
    finally:
        slow.release.set()
        hashing_now.join()
        waiting.join()
    assert hashing.hash("after the storm") == "after the storm"  # places were given back


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's nice is Linux's")
def test_hashes_run_at_a_lower_cpu_priority_than_the_callers_thread():
    def own_nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    class Nice:
        """Argon2 stand-in answering the nice value of the thread it runs in."""

        def hash(self, _password: str) -> str:
            return str(own_nice())

    hashing = PasswordHashing(1)
    hashing.hasher = Nice()  # type: ignore[assignment]
    caller = own_nice()
    assert int(hashing.hash("pw pw pw pw")) == min(19, caller + HASHING_NICENESS)
    assert own_nice() == caller  # the caller's own thread keeps its priority


def test_limits_read_as_flask_limiter_writes_them():
    assert Limit.parse("10/15minutes", "X") == Limit(10, timedelta(minutes=15))
    assert Limit.parse("20/hour", "X") == Limit(20, timedelta(hours=1))
    with pytest.raises(ConfigurationError, match="CRM_SIGNUPS_PER_IP"):
        RegistrationConfig.from_env(settings_for("registration"), {"CRM_SIGNUPS_PER_IP": "lots"})
    embedded = RegistrationConfig.from_env(settings_for("registration"), {})
    assert embedded.proxy_hops == 0 and embedded.login_failures_per_account.count == 10
    real = RegistrationConfig.from_env(settings_for("registration", broker_url="amqp://x@h//"), {})
    assert real.proxy_hops == 1


# --- the act claim (shared/auth.py) --------------------------------------------------------------
def _verify(token: str):
    return TokenVerifier(settings_for("customers")).verify(token)


def test_an_impersonation_token_names_its_actor():
    token = issue_token(
        settings_for("customers"),
        "customer:1",
        [],
        audience=["customers"],
        kind="customer",
        customer_id="1",
        actor="staff:alice",
    )
    assert _verify(token).actor == "staff:alice"
    plain = issue_token(
        settings_for("customers"),
        "customer:1",
        [],
        audience=["customers"],
        kind="customer",
        customer_id="1",
    )
    assert _verify(plain).actor is None


def test_an_act_claim_is_refused_on_a_staff_token_or_when_malformed():
    with pytest.raises(ValueError):
        issue_token(settings_for("customers"), "s", [], audience=["customers"], actor="x")
    secret = settings_for("customers").jwt_secret
    now = int(time.time())
    base = {"iss": "crm", "sub": "s", "aud": ["customers"], "iat": now, "exp": now + 60}
    for claims in (
        {**base, "kind": "staff", "act": {"sub": "x"}},
        {**base, "kind": "customer", "customer_id": "1", "act": "staff:x"},
        {**base, "kind": "customer", "customer_id": "1", "act": {"sub": ""}},
    ):
        with pytest.raises(AuthError):
            _verify(jwt.encode(claims, secret, algorithm="HS256"))


def test_a_place_is_reserved_before_a_logins_other_work_and_shared_by_its_hashes():
    hashing = PasswordHashing(1, wait_seconds=30, queue=0)  # one place in all
    hashing.hasher = Slow(seconds=0)  # type: ignore[assignment]
    with hashing.reserved():
        # The login's own hashes use its place (no second one is needed, none is free).
        assert hashing.hash("first password") == "first password"
        refused: list[BaseException] = []
        other = threading.Thread(target=lambda: _refused(hashing, refused))
        other.start()
        other.join()
        assert len(refused) == 1  # another login is refused before doing anything
    with hashing.reserved():  # the place was given back
        assert hashing.hash("second password") == "second password"


def _refused(hashing: PasswordHashing, refused: list[BaseException]) -> None:
    try:
        with hashing.reserved():
            pass
    except HashingBusy as exc:
        refused.append(exc)
