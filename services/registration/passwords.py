"""Passwords: Argon2id hashing at ASVS's cost, run bounded, the policy and generated ones.

Hashing is the one costly step of a login (tens of milliseconds of a core, 19 MiB). A semaphore
lets at most `concurrency` hashes run at once, so that a login storm queues on it instead of
taking every core from the other endpoints; a caller that waits too long gets a 503.
"""

from __future__ import annotations

import functools
import secrets
import string
import threading
import unicodedata
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from services.registration.errors import HashingBusy, WeakPassword

MIN_LENGTH, MAX_LENGTH = 8, 128
GENERATED_LENGTH = 20
GENERATED_ALPHABET = string.ascii_letters + string.digits

# ASVS 5.0 / OWASP: Argon2id, m = 19 MiB, t = 2, p = 1.
ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_PARALLELISM = 1


def make_hasher() -> PasswordHasher:
    """Argon2id at the required cost."""
    return PasswordHasher(
        time_cost=ARGON2_TIME_COST,
        memory_cost=ARGON2_MEMORY_KIB,
        parallelism=ARGON2_PARALLELISM,
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )


class PasswordHashing:
    """Hashes and verifies, at most `concurrency` at once."""

    def __init__(self, concurrency: int, wait_seconds: float = 10.0) -> None:
        self.hasher = make_hasher()
        self._slots = threading.BoundedSemaphore(concurrency)
        self._wait = wait_seconds
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        """The Argon2id hash of a password."""
        with self._slot():
            return self.hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Whether `password` matches `stored`; with no hash, a dummy one is verified so that an
        unknown email costs the same time as a wrong password."""
        target = stored or self._dummy_hash()
        with self._slot():
            try:
                matched: bool = self.hasher.verify(target, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                matched = False
        return matched and stored is not None

    def needs_rehash(self, stored: str) -> bool:
        """Whether a hash was made at another cost than today's."""
        return self.hasher.check_needs_rehash(stored)

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self.hash(secrets.token_urlsafe(16))
        return self._dummy

    def _slot(self) -> _Slot:
        return _Slot(self._slots, self._wait)


class _Slot:
    def __init__(self, semaphore: threading.BoundedSemaphore, wait: float) -> None:
        self.semaphore, self.wait = semaphore, wait

    def __enter__(self) -> None:
        if not self.semaphore.acquire(timeout=self.wait):
            raise HashingBusy()

    def __exit__(self, *_exc: object) -> None:
        self.semaphore.release()


@functools.cache
def common_passwords() -> frozenset[str]:
    """The most common passwords (20,000, lower-cased), shipped with the service."""
    text = resources.files("services.registration").joinpath("common_passwords.txt").read_text()
    return frozenset(line.strip().casefold() for line in text.splitlines() if line.strip())


def check_policy(password: str, field: str = "password") -> None:
    """8 to 128 characters, no composition rules, not one of the most common passwords."""
    length = len(unicodedata.normalize("NFC", password))
    if length < MIN_LENGTH:
        raise WeakPassword(f"a password has at least {MIN_LENGTH} characters", field)
    if length > MAX_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_LENGTH} characters", field)
    if password.casefold() in common_passwords():
        raise WeakPassword("this password is among the most common ones; choose another", field)


def generate_password() -> str:
    """A random password from the CSPRNG (about 119 bits)."""
    while True:
        candidate = "".join(secrets.choice(GENERATED_ALPHABET) for _ in range(GENERATED_LENGTH))
        if any(c.isdigit() for c in candidate) and any(c.isalpha() for c in candidate):
            return candidate
