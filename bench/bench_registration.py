"""Logins through the registration API beside the raw Argon2id verify rate, and the p99 of an
unrelated endpoint while a login storm runs (issue 11).

The server is what production runs: `crm web registration` (gunicorn, gthread workers) on a
fresh PostgreSQL database, tokens signed with an Ed25519 key, Argon2id at the required cost
(`passwords.make_hasher`). The raw baseline is argon2-cffi's `PasswordHasher.verify` of the same
hash in as many threads as the server may hash at once (its workers times its hashing threads),
at the same lowered CPU priority, measured in windows alternating with the server's (the
machine's load drifts); the note adds the CPU per login (server, PostgreSQL) beside a raw
verify's, which that load moves far less. Clients told 503 busy (the hashing queue is full)
wait its Retry-After.
Sizes: `CRM_BENCH_LOGIN_SECONDS` (16, split in `CRM_BENCH_LOGIN_ROUNDS`, 4, windows of each),
`CRM_BENCH_LOGIN_ACCOUNTS` (32), `CRM_BENCH_LOGIN_CONNECTIONS` (8).
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from bench.cpu_time import cpu_seconds, database_sessions, process_tree
from bench.harness import Result, env_float, env_int, fresh_database, say
from bench.servers import WORKERS, Gunicorn, get
from services.registration.config import RegistrationConfig
from services.registration.models import ACTIVE, Account, RegistrationSettings
from services.registration.passwords import lower_thread_priority, make_hasher
from shared.auth.issuing import issue_token
from shared.db import utcnow
from shared.migrations import migrate
from shared.settings import Settings
from tests.jwt_keys import ed25519_pair  # the suite's key pairs for tests, here a fresh one

PASSWORD = "correct horse battery staple"
SETTINGS_PATH = "/registration/settings"
LOGIN_PATH = "/registration/login"
PROBE_PAUSE = 0.02
"""Seconds between two probes of the settings (a client reading a page, not a second storm)."""
DRAIN = 0.5
"""Seconds for the logins in flight to finish when the storm pauses, or to resume."""


# --- the raw baseline ---------------------------------------------------------------------------
def raw_verify_rate(threads: int, seconds: float, cpu: list[float] | None = None) -> float:
    """argon2-cffi's verify of one Argon2id hash at the required cost, in `threads` threads
    (it releases the GIL) at the CPU priority the service hashes at: verifications per
    second. Each verification's CPU seconds are appended to `cpu`."""
    hasher = make_hasher()
    stored = hasher.hash(PASSWORD)
    hasher.verify(stored, PASSWORD)  # warm: the first call maps the memory
    counts = [0] * threads
    deadline = time.perf_counter() + seconds

    def loop(index: int) -> None:
        lower_thread_priority()  # as the service's hashing threads run
        started = time.thread_time()
        while time.perf_counter() < deadline:
            hasher.verify(stored, PASSWORD)
            counts[index] += 1
        if cpu is not None and counts[index]:
            cpu.append((time.thread_time() - started) / counts[index])

    started = time.perf_counter()
    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - started)


# --- the server ---------------------------------------------------------------------------------
class CrmWeb(Gunicorn):
    """`crm web registration`: the production server (gthread workers), on `self.port`."""

    def command(self) -> list[str]:
        crm = str(Path(sys.executable).parent / "crm")
        return [crm, "web", "registration", "--port", str(self.port), "--workers", str(WORKERS)]


@dataclass(frozen=True)
class Keys:
    """The Ed25519 pair the server signs customer tokens with (and verifies the staff one)."""

    private: str
    public: str

    @classmethod
    def new(cls) -> Keys:
        return cls(*ed25519_pair())


def prepare_database(url: str, accounts: int) -> list[str]:
    """Migrate, save settings under which a login answers 200 (no validation, no new-device
    step), and create `accounts` active accounts sharing one password; their emails."""
    migrate(Settings(service="registration", database_urls={"registration": url}))
    stored = make_hasher().hash(PASSWORD)
    now = utcnow()
    emails = [f"bench-{index}@example.com" for index in range(accounts)]
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.insert(RegistrationSettings),
                [
                    {
                        "id": 1,
                        "signup_notification": False,
                        "admin_approval": "none",
                        "new_device_confirmation": False,
                        "email_validation": "none",
                        "version": 1,
                        "updated_at": now,
                    }
                ],
            )
            connection.execute(
                sa.insert(Account),
                [
                    {
                        "id": uuid.uuid4(),
                        "email": email,
                        "email_key": email,
                        "kind": "individual",
                        "status": ACTIVE,
                        "login_enabled": True,
                        "email_confirmed": True,
                        "password_hash": stored,
                        "must_change_password": False,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for email in emails
                ],
            )
    finally:
        engine.dispose()
    return emails


# --- the clients --------------------------------------------------------------------------------
@dataclass
class Storm:
    """`connections` clients logging in without pause, each as its own account, while `going`
    is set (a request in flight when it is cleared finishes); until `stop`."""

    port: int
    emails: list[str]
    connections: int
    going: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    ok: int = 0
    busy: int = 0
    errors: int = 0
    reconnects: int = 0
    refusals: dict[int, int] = field(default_factory=dict)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Storm:
        self.threads = [
            threading.Thread(target=self._client, args=(i,), daemon=True)
            for i in range(self.connections)
        ]
        for thread in self.threads:
            thread.start()
        return self

    def end(self) -> None:
        self.stop.set()
        self.going.set()
        for thread in self.threads:
            thread.join(70)

    def _client(self, index: int) -> None:
        email = self.emails[index % len(self.emails)]
        body = json.dumps({"email": email, "password": PASSWORD, "device_id": f"bench-{index}"})
        headers = {"Content-Type": "application/json"}
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        while self.going.wait() and not self.stop.is_set():
            try:
                connection.request("POST", LOGIN_PATH, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                # Mostly a kept-alive connection the server closed while the storm paused.
                self.reconnects += 1
                connection.close()
                continue
            if response.status == 200:
                self.ok += 1
            elif response.status == 503 and response.getheader("Retry-After"):
                self.busy += 1  # every slot and waiting place taken: wait as told (1 s at most)
                self.stop.wait(min(1.0, float(response.getheader("Retry-After") or 1)))
            else:
                self.errors += 1
                self.refusals[response.status] = self.refusals.get(response.status, 0) + 1
        connection.close()

    def logins_per_second(self, seconds: float) -> float:
        """Run for `seconds` after a short warm-up; the successful logins per second."""
        self.going.set()
        time.sleep(DRAIN)
        before, started = self.ok, time.perf_counter()
        time.sleep(seconds)
        rate = (self.ok - before) / (time.perf_counter() - started)
        self.pause()
        return rate

    def pause(self) -> None:
        """Stop sending and let the requests in flight finish."""
        self.going.clear()
        time.sleep(DRAIN)


def probe(port: int, headers: dict[str, str], seconds: float) -> list[float]:
    """`GET /registration/settings`, one at a time on a kept-alive connection, a short pause
    between two, for `seconds`: each one's latency (s)."""
    latencies: list[float] = []
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    deadline = time.perf_counter() + seconds
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            connection.request("GET", SETTINGS_PATH, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {SETTINGS_PATH} answered {response.status}")
            latencies.append(time.perf_counter() - started)
            time.sleep(PROBE_PAUSE)
    finally:
        connection.close()
    return latencies


def p99_ms(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000


def _cpu_note(cpu: dict[str, list[float]]) -> str:
    """CPU per login (the server's processes, the database's sessions) beside a raw verify's:
    what the rate comes to on cores nothing else uses (the clients' CPU left out)."""
    verify, server, database = (
        1000 * sum(cpu[name]) / max(1, len(cpu[name])) for name in ("verify", "server", "database")
    )
    if not server + database:
        return "CPU per login not measured"
    return (
        f"CPU per login {server:.1f} ms in the server (its hash included) and {database:.1f} ms "
        f"in PostgreSQL, beside {verify:.1f} ms per raw verify "
        f"({verify / (server + database):.2f}x)"
    )


# --- the benchmark ------------------------------------------------------------------------------
def _with_server(keys: Keys, url: str, scratch: Path, run: Callable[[CrmWeb], None]) -> None:
    env = {
        "CRM_ENV": "development",
        "CRM_DATA_DIR": str(scratch),
        "CRM_REGISTRATION_DATABASE_URL": url,
        "CRM_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//",  # the real mode (not sent to)
        "CRM_TRUSTED_PROXY_HOPS": "0",
        "CRM_JWT_PRIVATE_KEY": keys.private,
        "CRM_JWT_PUBLIC_KEY": keys.public,
        "CRM_LOG_LEVEL": "WARNING",
        **{name: value for name, value in os.environ.items() if name.startswith("CRM_PASSWORD_")},
    }
    server = CrmWeb("registration", env, scratch / "gunicorn-registration.log")
    try:
        server.start("/registration/healthz", {}, wait=30)
        run(server)
    finally:
        server.stop()


def bench_registration() -> list[Result]:
    """Logins/s beside raw verify/s; p99 of the settings idle and during a login storm.

    Each pair is measured in alternating windows (`rounds` of each), so that the load other
    processes put on the machine weighs on the figure and its baseline alike.
    """
    seconds = env_float("CRM_BENCH_LOGIN_SECONDS", 16.0)
    rounds = env_int("CRM_BENCH_LOGIN_ROUNDS", 4)
    accounts = env_int("CRM_BENCH_LOGIN_ACCOUNTS", 32)
    connections = env_int("CRM_BENCH_LOGIN_CONNECTIONS", 8)
    window = seconds / rounds
    slots = WORKERS * RegistrationConfig().hash_concurrency
    keys = Keys.new()
    url = fresh_database("crm_bench_registration")
    emails = prepare_database(url, accounts)
    staff = issue_token(
        Settings(service="registration", jwt_secret=None, jwt_private_key=keys.private),
        "staff:bench",
        ["customers:read"],
        audience=["registration"],
    )
    headers = {"Authorization": f"Bearer {staff}"}
    raw: list[float] = []
    logins: list[float] = []
    idle: list[float] = []
    loaded: list[float] = []
    counts: dict[str, int] = {}
    cpu: dict[str, list[float]] = {"verify": [], "server": [], "database": []}

    def run(server: CrmWeb) -> None:
        status, body = get(server.port, SETTINGS_PATH, headers, timeout=10)
        if status != 200:
            raise RuntimeError(f"GET {SETTINGS_PATH} answered {status}: {body[:300]!r}")
        storm = Storm(server.port, emails, connections).start()
        try:
            storm.logins_per_second(2)  # warm-up: connections, each worker's first hashes
            say(f"registration: {rounds} rounds of raw verify ({slots} threads) and logins")
            assert server.process is not None
            processes = process_tree(server.process.pid)
            sessions = database_sessions(url)
            for _ in range(rounds):
                raw.append(raw_verify_rate(slots, window, cpu["verify"]))
                before = (storm.ok, cpu_seconds(processes), cpu_seconds(sessions))
                logins.append(storm.logins_per_second(window))
                done = storm.ok - before[0]
                cpu["server"].append((cpu_seconds(processes) - before[1]) / max(1, done))
                cpu["database"].append((cpu_seconds(sessions) - before[2]) / max(1, done))
            say(f"registration: {rounds} rounds of the settings' latency, idle and in a storm")
            for _ in range(rounds):
                idle.extend(probe(server.port, headers, window))
                storm.going.set()
                loaded.extend(probe(server.port, headers, window))
                storm.pause()
        finally:
            storm.end()
        counts.update(busy=storm.busy, errors=storm.errors)
        say(
            f"registration: raw {' '.join(f'{r:.1f}' for r in raw)} verify/s; "
            f"{' '.join(f'{r:.1f}' for r in logins)} logins/s; "
            f"{storm.busy} busy (503 at once), {storm.errors} errors {storm.refusals}, "
            f"{storm.reconnects} reconnections"
        )

    with tempfile.TemporaryDirectory(prefix="crm_bench_registration_") as scratch:
        _with_server(keys, url, Path(scratch), run)
    setup = (
        f"crm web registration: {WORKERS} gthread workers, {slots} hashing slots, "
        f"{connections} clients, {accounts} accounts, {rounds}x{window:.0f} s, "
        f"{os.cpu_count()} cores"
    )
    return [
        Result(
            "logins/s (POST /registration/login, Argon2id m=19 MiB t=2)",
            sum(logins) / len(logins),
            "logins/s",
            sum(raw) / len(raw),
            goal=">= 0.80x the raw verify rate",
            note=f"baseline: argon2-cffi PasswordHasher.verify in {slots} threads, in windows "
            f"alternating with the logins'; {setup}; {counts['busy']} answered 503 busy, "
            f"{counts['errors']} errors; {_cpu_note(cpu)}",
        ),
        Result(
            "GET /registration/settings p99 during the login storm",
            p99_ms(loaded),
            "ms",
            p99_ms(idle),
            higher_is_better=False,
            goal="<= 3x the idle p99",
            note=f"baseline: the same endpoint's p99 idle, same server, in alternating windows "
            f"({len(idle)} idle, {len(loaded)} loaded requests, one at a time)",
        ),
    ]
