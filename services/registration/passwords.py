"""Passwords: Argon2id hashing at ASVS's cost, run bounded, the policy and generated ones.

Hashing is the one costly step of a login (tens of milliseconds of a core, 19 MiB). It runs in a
pool of `concurrency` threads (the bound), at a lower CPU priority than the rest of the service,
so that a login storm takes the cores nothing else wants instead of every core from the other
endpoints; at most `queue` callers wait for the pool, the next one and a caller that waited too
long get a 503 with Retry-After.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import string
import sys
import threading
import unicodedata
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from importlib import resources
from typing import Any, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from services.registration.errors import HashingBusy, WeakPassword

log = logging.getLogger(__name__)
T = TypeVar("T")

MIN_LENGTH, MAX_LENGTH = 8, 128
GENERATED_LENGTH = 20
GENERATED_ALPHABET = string.ascii_letters + string.digits

# ASVS 5.0 / OWASP: Argon2id, m = 19 MiB, t = 2, p = 1.
ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_PARALLELISM = 1
HASHING_NICENESS = 10
"""How much lower the hashing threads' CPU priority is (nice 10 weighs about a tenth of 0)."""


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
    """Hashes and verifies in a pool of `concurrency` threads that run at a lower CPU priority,
    with at most `queue` more callers waiting for one (None: no bound but `wait_seconds`)."""

    def __init__(
        self, concurrency: int, wait_seconds: float = 10.0, queue: int | None = None
    ) -> None:
        self.hasher = make_hasher()
        self._pool = ThreadPoolExecutor(
            concurrency, thread_name_prefix="argon2", initializer=lower_thread_priority
        )
        # A caller waiting for a hash holds a server thread all the while: past `queue` of them
        # the next is refused at once (503), so that a login storm cannot take every thread
        # and leave the other endpoints' requests queued behind it.
        self._admitted = (
            threading.BoundedSemaphore(concurrency + queue) if queue is not None else None
        )
        self._holder = threading.local()  # whether this thread holds a place already
        self._wait = wait_seconds
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        """The Argon2id hash of a password."""
        return self._run(self.hasher.hash, password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Whether `password` matches `stored`; with no hash, a dummy one is verified so that an
        unknown email costs the same time as a wrong password."""
        target = stored or self._dummy_hash()
        matched: bool = self._run(_verify, self.hasher, target, password)
        return matched and stored is not None

    def needs_rehash(self, stored: str) -> bool:
        """Whether a hash was made at another cost than today's."""
        return self.hasher.check_needs_rehash(stored)

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self.hash(secrets.token_urlsafe(16))
        return self._dummy

    @contextlib.contextmanager
    def reserved(self) -> Iterator[None]:
        """A place among the callers that may hash (running or waiting), held for the block:
        taken before a login's other work, so that a caller refused for want of one (503) is
        refused before it costs a database round trip. Nested reservations share the first."""
        if self._admitted is None or getattr(self._holder, "place", False):
            yield
            return
        if not self._admitted.acquire(blocking=False):
            raise HashingBusy()
        self._holder.place = True
        try:
            yield
        finally:
            self._holder.place = False
            self._admitted.release()

    def _run(self, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)` in the pool; HashingBusy when no place is free or the wait too long."""
        with self.reserved():
            future = self._pool.submit(work, *args)
            try:
                return future.result(timeout=self._wait)
            except FutureTimeout:
                future.cancel()  # not started yet: it never will be
                raise HashingBusy() from None


def _verify(hasher: PasswordHasher, stored: str, password: str) -> bool:
    try:
        return bool(hasher.verify(stored, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def lower_thread_priority() -> None:
    """Make the calling thread yield the CPU to the service's other threads and processes (its
    own nice value, `HASHING_NICENESS` above the process's; Linux only, where a thread id is
    a `setpriority` target). Argon2 then takes the cores nothing else wants, and the other
    endpoints' requests (and the database) keep theirs during a login storm."""
    if not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, current + HASHING_NICENESS))
    except OSError:  # refused by a sandbox: hashing keeps the normal priority
        log.warning("password hashing could not lower its thread's priority")


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
