"""The registration service's own settings, from the environment (defaults embedded).

Limits read as `<count>/<period>` (`10/15minutes`, `20/hour`), as flask-limiter writes them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import timedelta

from shared.settings import ConfigurationError, Settings, web_threads

_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(second|minute|hour|day)s?\s*$")
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Limit:
    """At most `count` hits in any `window`."""

    count: int
    window: timedelta

    @classmethod
    def parse(cls, text: str, name: str) -> Limit:
        """`10/15minutes` -> Limit(10, 15 min); ConfigurationError naming `name` otherwise."""
        match = _LIMIT.match(text)
        if match is None or int(match.group(1)) < 1:
            raise ConfigurationError(f"{name}={text!r} is not a limit such as 10/15minutes")
        periods = int(match.group(2) or 1)
        return cls(int(match.group(1)), timedelta(seconds=periods * _UNITS[match.group(3)]))


HASH_QUEUE = 1
"""Callers that may wait for a hashing slot by default (`CRM_PASSWORD_HASH_QUEUE`)."""


def _cpu_share() -> int:
    # Every core, within half the process's threads (hashing and waiting included): a client's
    # kept-alive connections may all land on one process, which must then be able to keep the
    # cores busy alone (half the cores each halved the logins in that case), and the other
    # half of the threads stays free for the other requests. The hashing threads run niced,
    # so those requests keep their share of the CPU too.
    return max(1, min(os.cpu_count() or 2, web_threads("registration") // 2 - HASH_QUEUE))


@dataclass(frozen=True)
class RegistrationConfig:
    """Throttling limits, hashing concurrency, token lifetimes and where links point."""

    login_failures_per_account: Limit = Limit(10, timedelta(minutes=15))
    login_failures_per_ip: Limit = Limit(100, timedelta(minutes=15))
    signups_per_ip: Limit = Limit(20, timedelta(hours=1))
    confirmations_per_ip: Limit = Limit(60, timedelta(hours=1))
    hash_concurrency: int = field(default_factory=_cpu_share)
    hash_wait_seconds: float = 10.0
    hash_queue: int | None = HASH_QUEUE
    """Callers that may wait for a hashing slot beyond those hashing; the next gets a 503 at
    once. By default hashing and waiting take at most half of a web process's threads."""
    proxy_hops: int = 0
    """Proxies in front whose X-Forwarded-For is trusted (the gateway: 1 in the real mode)."""
    link_base_url: str = "http://127.0.0.1:8000"
    access_token_ttl: timedelta = timedelta(minutes=15)
    refresh_token_ttl: timedelta = timedelta(days=30)
    impersonation_ttl: timedelta = timedelta(minutes=15)
    email_link_ttl: timedelta = timedelta(hours=24)
    device_link_ttl: timedelta = timedelta(minutes=10)

    @classmethod
    def from_env(
        cls, settings: Settings, environ: dict[str, str] | None = None
    ) -> RegistrationConfig:
        """Read from the environment; the real mode sits behind the gateway (one trusted hop)."""
        env = dict(os.environ if environ is None else environ)

        def limit(name: str, default: str) -> Limit:
            return Limit.parse(env.get(name) or default, name)

        try:
            concurrency = int(env.get("CRM_PASSWORD_HASH_CONCURRENCY") or _cpu_share())
            queue = int(env.get("CRM_PASSWORD_HASH_QUEUE") or HASH_QUEUE)
            hops = int(env.get("CRM_TRUSTED_PROXY_HOPS") or (0 if settings.embedded else 1))
        except ValueError as exc:
            raise ConfigurationError(f"registration: {exc}") from exc
        return cls(
            login_failures_per_account=limit("CRM_LOGIN_FAILURES_PER_ACCOUNT", "10/15minutes"),
            login_failures_per_ip=limit("CRM_LOGIN_FAILURES_PER_IP", "100/15minutes"),
            signups_per_ip=limit("CRM_SIGNUPS_PER_IP", "20/hour"),
            confirmations_per_ip=limit("CRM_CONFIRMATIONS_PER_IP", "60/hour"),
            hash_concurrency=max(1, concurrency),
            hash_queue=max(0, queue),
            proxy_hops=max(0, hops),
            link_base_url=(env.get("CRM_PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/"),
        )
