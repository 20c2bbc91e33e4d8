"""Passwords (policy, common list, Argon2id cost, bounded hashing), the `act` claim, limits."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import jwt
import pytest

from services.registration.config import Limit, RegistrationConfig
from services.registration.errors import HashingBusy, WeakPassword
from services.registration.passwords import (
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


def test_hashing_runs_at_most_its_concurrency_and_a_long_wait_is_a_503():
    hashing = PasswordHashing(1, wait_seconds=0.05)
    hashing._slots.acquire()  # one hash in progress
    try:
        with pytest.raises(HashingBusy):
            hashing.hash("a fine password")
    finally:
        hashing._slots.release()
    running, peak, lock = [0], [0], threading.Lock()

    class Counting:
        """Argon2 stand-in that records how many hashes run at once."""

        def hash(self, password: str) -> str:
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.02)
            with lock:
                running[0] -= 1
            return password

    hashing = PasswordHashing(2)
    hashing.hasher = Counting()  # type: ignore[assignment]
    threads = [threading.Thread(target=hashing.hash, args=("pw pw pw pw",)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak[0] == 2


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
