"""Events in, emails out: registration's events over RabbitMQ (published from a process of
their own, as registration's), rendered and delivered by one
notifications worker to a local aiosmtpd server, beside raw smtplib sending the same number of
pre-rendered messages on one reused connection to the same server, in the same run.

The SMTP server runs in its own process (`python -m bench.bench_notifications --sink PORT`), so
that it does not share the worker's interpreter lock; it counts what it takes and writes
nothing, so that both sides are measured against the same, cheap server.
"""

from __future__ import annotations

import argparse
import signal
import smtplib
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from bench.harness import (
    Result,
    answers,
    env_float,
    env_int,
    free_port,
    fresh_database,
    fresh_vhost,
    say,
)
from services.notifications.config import NotificationsConfig
from services.notifications.message import build_message
from services.notifications.models import Delivery
from services.notifications.rendering import RenderLimits, TemplateCache
from services.notifications.templates import TemplateResolver
from services.notifications.worker import build_worker
from shared.broker import setup_development_broker
from shared.db import make_session_factory
from shared.events.envelope import make_event
from shared.events.owners import broker_user, development_broker_password
from shared.events.publisher import EventPublisher, OutgoingMessage, make_connection
from shared.migrations import migrate
from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "crm_bench_notifications"
VHOST = "crm_bench_notifications"
MAIL_FROM = "CRM <no-reply@crm.bench>"
LANGUAGES = ("fr", "en", "it")
PUBLISH_BATCH = 500
GOAL = 0.5


# --- the SMTP server, in its own process ---------------------------------------------------------
class _Counting:
    """Takes every message (250) and counts it."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.count += 1
        return "250 Message accepted for delivery"


def serve_sink(port: int) -> None:
    """Run the counting server until SIGTERM; print how many messages it took."""
    handler = _Counting()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    controller.start()
    print("ready", flush=True)
    while not stopped.wait(0.5):
        pass
    controller.stop()
    print(handler.count, flush=True)


class Sink:
    """The counting SMTP server as a subprocess; `stop` returns the number it took."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.bench_notifications", "--sink", str(self.port)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the SMTP sink did not start")
        deadline = time.monotonic() + 10
        while not answers("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise RuntimeError("the SMTP sink does not answer")
            time.sleep(0.05)

    def stop(self) -> int:
        """Stop the server; how many messages it took."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=15)
        return int(out.strip().splitlines()[-1])


# --- the events ---------------------------------------------------------------------------------
def _events(customers: int) -> list[OutgoingMessage]:
    """Two emails a customer: `registration.received` from its sign-up (which also gives the
    projection its contact details), then `account.activated`; languages in turn."""
    submitted, activated = [], []
    for n in range(customers):
        customer_id = str(uuid.uuid4())
        data = {
            "customer_id": customer_id,
            "email": f"bench-{n}@example.com",
            "kind": "individual",
            "status": "active",
            "first_name": "Ada",
            "last_name": f"Lovelace {n}",
            "language": LANGUAGES[n % len(LANGUAGES)],
            "signup_notification": True,
        }
        submitted.append(make_event("registration.submitted", data, "bench", customer_id))
        activated.append(
            make_event("account.activated", {"customer_id": customer_id}, "bench", customer_id)
        )
    return [
        OutgoingMessage(routing_key=e.type, body=e.to_json(), message_id=e.id)
        for e in (*submitted, *activated)
    ]


def _broker_url(vhost_url: str, service: str) -> str:
    user = broker_user(service)
    setup_development_broker([user], 5, VHOST)
    password = development_broker_password(user)
    return vhost_url.replace("guest:guest", f"{user}:{password}")


class _NoCustomers:
    """customers as the worker would ask it: every benchmark customer is in the projection."""

    def contact(self, customer_id: uuid.UUID) -> Mapping[str, Any] | None:
        return None


def _statuses(session_factory: Any) -> dict[str, int]:
    with session_factory() as session:
        rows = session.execute(
            sa.select(Delivery.status, sa.func.count()).group_by(Delivery.status)
        ).all()
    return {status: int(count) for status, count in rows}


def serve_publisher(url: str, customers: int) -> None:
    """Publish the events of `customers` sign-ups as registration would, once told to (a line
    on stdin), from a process of its own as registration's is; say when all are confirmed."""
    messages = _events(customers)
    publisher = EventPublisher(make_connection(url), identity=broker_user("registration"))
    print("ready", flush=True)
    sys.stdin.readline()
    for first in range(0, len(messages), PUBLISH_BATCH):
        publisher.publish_batch(messages[first : first + PUBLISH_BATCH])
    publisher.close()
    print("published", flush=True)


def run_ours(
    settings: Settings, publisher_url: str, emails: int, timeout: float
) -> tuple[float, int]:
    """Seconds from the first event published to the last delivery recorded sent; how many."""
    config = NotificationsConfig.from_env(settings.smtp_host, settings.smtp_port, env={})
    worker = build_worker(settings, config, customers=_NoCustomers()).start()
    publisher = subprocess.Popen(
        [sys.executable, "-m", "bench.bench_notifications", "--publish", publisher_url,
         "--customers", str(emails // 2)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert publisher.stdin is not None and publisher.stdout is not None
    try:
        assert worker.consumer is not None
        if not worker.consumer.ready.wait(15):
            raise RuntimeError("the notifications consumer did not start within 15 s")
        if publisher.stdout.readline().strip() != "ready":
            raise RuntimeError("the publisher did not start")
        say(f"notifications: publishing {emails:,} events, one worker sending")
        started = time.perf_counter()
        publisher.stdin.write("go\n")
        publisher.stdin.flush()
        deadline = started + timeout
        statuses: dict[str, int] = {}
        while time.perf_counter() < deadline:
            time.sleep(0.05)
            statuses = _statuses(worker.session_factory)
            settled = sum(n for s, n in statuses.items() if s not in ("pending", "sending"))
            if settled >= emails:
                break
        seconds = time.perf_counter() - started
        sent = statuses.get("sent", 0)
        if sent < emails:
            say(f"notifications: not all sent after {seconds:.0f} s: {statuses}")
        return seconds, sent
    finally:
        publisher.stdin.close()
        publisher.wait(30)
        worker.stop()


def prerendered(emails: int) -> list[tuple[str, bytes]]:
    """The same emails, rendered and built beforehand (the raw side's input)."""
    resolver = TemplateResolver(RenderLimits(), TemplateCache())
    engine = sa.create_engine("sqlite://")
    Delivery.metadata.create_all(engine)
    out = []
    with make_session_factory(engine)() as session:
        for n in range(emails):
            key = ("registration.received", "account.activated")[n % 2]
            customer = {"first_name": "Ada", "last_name": f"Lovelace {n}", "name": "Ada",
                        "company_name": "", "email": f"bench-{n}@example.com"}  # fmt: skip
            variables = {"customer": customer, "event_time": "2026-01-01T00:00:00+00:00"}
            rendered = resolver.render(session, key, LANGUAGES[n % 3], "en", variables)
            assert rendered is not None
            message = build_message(
                MAIL_FROM, [("Ada", customer["email"])], rendered, f"<{uuid.uuid4()}@crm.bench>"
            )
            out.append((customer["email"], message.data))
    engine.dispose()
    return out


def run_raw(port: int, messages: list[tuple[str, bytes]]) -> float:
    """Seconds smtplib takes to send pre-rendered messages on one reused connection."""
    envelope_from = parseaddr(MAIL_FROM)[1]
    say(f"notifications: raw smtplib baseline, {len(messages):,} pre-rendered messages")
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as connection:
        for recipient, data in messages:
            connection.sendmail(envelope_from, [recipient], data)
    return time.perf_counter() - started


def bench_notifications() -> list[Result]:
    """Emails/s from events to recorded `sent`, one worker, beside raw smtplib."""
    emails = env_int("CRM_BENCH_NOTIFICATIONS", 2_000)
    emails -= emails % 2
    timeout = env_float("CRM_BENCH_NOTIFICATIONS_TIMEOUT", 180.0)
    vhost_url = fresh_vhost(VHOST)
    database_url = fresh_database(DATABASE)
    sink = Sink()
    taken = -1
    try:
        settings = Settings(
            service="notifications",
            database_urls={"notifications": database_url},
            broker_url=_broker_url(vhost_url, "notifications"),
            smtp_host="127.0.0.1",
            smtp_port=sink.port,
            mail_from=MAIL_FROM,
            log_level="WARNING",
        )
        migrate(settings)
        messages = prerendered(emails)
        raw_seconds = run_raw(sink.port, messages)
        ours_seconds, sent = run_ours(
            settings, _broker_url(vhost_url, "registration"), emails, timeout
        )
        # the machine's load moves between runs: the baseline is the mean of one before ours and
        # one after it
        raw_seconds = (raw_seconds + run_raw(sink.port, messages)) / 2
    finally:
        taken = sink.stop()
    if taken != 2 * emails + sent:
        say(f"notifications: the server took {taken:,} messages, expected {2 * emails + sent:,}")
    ours = sent / ours_seconds if ours_seconds > 0 else 0.0
    raw = emails / raw_seconds if raw_seconds > 0 else 0.0
    say(f"notifications: ours {ours:,.0f} emails/s, raw {raw:,.0f} emails/s, "
        f"ratio {ours / raw if raw else 0:.2f}x (goal >= {GOAL}x)")  # fmt: skip
    partial = "" if sent == emails else f" (timed out: {sent:,} sent)"
    return [
        Result(
            f"events->emails sent, {emails:,} emails, 1 worker",
            ours,
            "emails/s",
            raw,
            goal=f">= {GOAL}x raw",
            note="registration.submitted + account.activated over RabbitMQ, rendered (fr/en/it),"
            " sent to aiosmtpd, until every delivery is recorded sent" + partial + "; baseline: "
            "smtplib sending the same number of pre-rendered messages on one connection to the "
            "same server (the mean of a run before ours and one after)",
        )
    ]


def main() -> None:
    """The benchmark's helper processes: `--sink PORT`, the counting SMTP server, or
    `--publish URL --customers N`, registration's events."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sink", type=int)
    parser.add_argument("--publish")
    parser.add_argument("--customers", type=int, default=0)
    args = parser.parse_args()
    if args.sink:
        serve_sink(args.sink)
    else:
        serve_publisher(args.publish, args.customers)


if __name__ == "__main__":
    main()
