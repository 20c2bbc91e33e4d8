"""The notifications service's worker process: consumer, outbox relay, the sender of emails."""

from __future__ import annotations

import threading
from datetime import timedelta

from services.notifications.config import NotificationsConfig
from services.notifications.customers_client import RemoteCustomers
from services.notifications.handlers import SUBSCRIPTIONS
from services.notifications.message import mail_domain
from services.notifications.sender import CustomerLookup, DeliverySender
from services.notifications.transport import make_transport
from shared.db import UnitOfWorkFactory, make_engine, make_session_factory
from shared.settings import Settings
from shared.worker import ScheduledJob, Worker


def build_worker(
    settings: Settings,
    config: NotificationsConfig | None = None,
    customers: CustomerLookup | None = None,
) -> Worker:
    """The worker of the notifications service, not yet started; its sender runs as a job that
    loops until the worker stops (woken by the handlers' commits)."""
    config = config or NotificationsConfig.from_env(settings.smtp_host, settings.smtp_port)
    session_factory = make_session_factory(make_engine(settings.database_url))
    session_factory.configure(info={"crm.mail_domain": mail_domain(settings.mail_from)})
    sender = DeliverySender(
        session_factory,
        UnitOfWorkFactory(session_factory, settings.service),
        make_transport(config.smtp, settings.mail_dir),
        config,
        settings.mail_from,
        customers=customers if customers is not None else RemoteCustomers(settings),
    )
    stop = threading.Event()
    return Worker(
        settings,
        session_factory,
        SUBSCRIPTIONS,
        jobs=[ScheduledJob("sender", timedelta(0), lambda: sender.run(stop))],
        stop_event=stop,
    )
