"""Sends the pending deliveries: an email at most once per event and key, none lost.

For each due delivery: read the customer (asking customers when the projection does not know it
yet), the consent at this moment, the template; then record `sending` (committed), hand the
message to the transport, and record the outcome: `sent` (with `notification.sent`), `pending`
again after a pause (temporary failure: 4xx, connection refused, timeout before the message was
handed over; exponential backoff with jitter), `failed` (5xx, with the server's reply), or
`ambiguous` when the server may have taken the message but its answer was lost (SMTP has no
idempotency key: it is not sent again blindly). A delivery found `sending` past the lease (the
worker died between the send and the record) is `ambiguous` too: never sent twice.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any, Protocol

from prometheus_client import Counter
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from services.notifications.config import NotificationsConfig
from services.notifications.handlers import PENDING, project
from services.notifications.message import build_message, customer_variables, display_name
from services.notifications.models import CustomerContact, Delivery
from services.notifications.rendering import RenderError
from services.notifications.retry import schedule_retry
from services.notifications.templates import TemplateResolver
from services.notifications.transport import (
    AmbiguousDelivery,
    PermanentFailure,
    TemporaryFailure,
    Transport,
)
from services.notifications.usecases import current_settings
from shared.db import UnitOfWork, UnitOfWorkFactory, utcnow

log = logging.getLogger(__name__)

DELIVERIES = Counter(
    "crm_notifications_deliveries_total",
    "Emails by outcome (sent, retried, failed, ambiguous, skipped)",
    ["outcome"],
)


class CustomerLookup(Protocol):
    """The customers service, asked about a customer the projection does not know yet."""

    def contact(self, customer_id: uuid.UUID) -> Mapping[str, Any] | None:
        """The customer's contact fields (`shared.events.catalogue.CustomerContactData`), or
        None when customers does not know it. Raises on failure (the delivery waits)."""
        ...


@dataclass
class _Prepared:
    delivery_id: uuid.UUID
    message: EmailMessage
    recipients: list[str]


class DeliverySender:
    """Sends due deliveries one at a time over a reused connection; `run` loops until stopped."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        uow_factory: UnitOfWorkFactory,
        transport: Transport,
        config: NotificationsConfig,
        mail_from: str,
        customers: CustomerLookup | None = None,
        resolver: TemplateResolver | None = None,
        clock: Callable[[], Any] = utcnow,
    ) -> None:
        self.session_factory = session_factory
        self.uow_factory = uow_factory
        self.transport = transport
        self.config = config
        self.mail_from = mail_from
        self.envelope_from = parseaddr(mail_from)[1] or mail_from
        self.customers = customers
        self.resolver = resolver or TemplateResolver(config.limits)
        self.clock = clock

    # the loop -----------------------------------------------------------------------------------
    def run(self, stop: threading.Event, idle_seconds: float = 1.0) -> None:
        """Send what is due until `stop` is set; woken by handlers' commits, else polls."""
        while not stop.is_set():
            try:
                self.recover_stale()
                PENDING.clear()
                sent = self.send_due()
            except Exception:  # noqa: BLE001  (the database may be away; try again shortly)
                log.exception("sending emails failed; trying again")
                self.transport.close()
                stop.wait(idle_seconds)
                continue
            if sent == 0:
                self.transport.close()  # no idle connection held between bursts
                PENDING.wait(idle_seconds)
        self.transport.close()

    def send_due(self, limit: int = 100) -> int:
        """Send up to `limit` due deliveries; how many were handled."""
        with self.session_factory() as session:
            due = list(
                session.scalars(
                    select(Delivery.id)
                    .where(Delivery.status == "pending", Delivery.next_attempt_at <= self.clock())
                    .order_by(Delivery.next_attempt_at)
                    .limit(limit)
                )
            )
        for delivery_id in due:
            self.send_one(delivery_id)
        return len(due)

    def recover_stale(self) -> int:
        """Deliveries left `sending` past the lease: ambiguous (they may have been sent)."""
        cutoff = self.clock() - timedelta(seconds=self.config.sending_lease)
        with self.uow_factory() as uow:
            result = uow.session.execute(
                update(Delivery)
                .where(Delivery.status == "sending", Delivery.updated_at < cutoff)
                .values(
                    status="ambiguous",
                    error="the worker stopped while sending; the server may have taken it",
                    updated_at=self.clock(),
                )
            )
            uow.commit()
        count = int(getattr(result, "rowcount", 0) or 0)
        if count:
            DELIVERIES.labels("ambiguous").inc(count)
            log.warning("deliveries left sending are ambiguous", extra={"count": count})
        return count

    # one delivery -------------------------------------------------------------------------------
    def send_one(self, delivery_id: uuid.UUID) -> str:
        """Prepare, claim, send and record one delivery; its final or next status."""
        if not self._ensure_customer_known(delivery_id):
            return "pending"
        prepared = self._prepare(delivery_id)
        if prepared is None:
            return "done"
        try:
            self.transport.send(prepared.message, self.envelope_from, prepared.recipients)
        except TemporaryFailure as exc:
            return self._retry_later(delivery_id, str(exc))
        except PermanentFailure as exc:
            return self._finish(delivery_id, "failed", str(exc))
        except AmbiguousDelivery as exc:
            return self._finish(delivery_id, "ambiguous", str(exc))
        return self._finish(delivery_id, "sent", None)

    def _ensure_customer_known(self, delivery_id: uuid.UUID) -> bool:
        """Read your writes: a customer the projection lacks is asked of customers first."""
        with self.session_factory() as session:
            delivery = session.get(Delivery, delivery_id)
            if delivery is None or delivery.to_admins or delivery.customer_id is None:
                return True
            if session.get(CustomerContact, delivery.customer_id) is not None:
                return True
            customer_id = delivery.customer_id
        if self.customers is not None:
            try:
                contact = self.customers.contact(customer_id)
            except Exception as exc:  # noqa: BLE001  (customers away: the delivery waits)
                self._retry_later(delivery_id, f"customers did not answer: {exc!r}")
                return False
            if contact is not None:
                with self.uow_factory() as uow:
                    row = {
                        "customer_id": customer_id,
                        "as_of": self.clock() - timedelta(days=3650),  # any event wins over it
                        **{k: contact.get(k) for k in ("email", "language", "first_name",
                                                       "last_name", "company_name")},
                        "email_consent": bool(contact.get("email_consent")),
                    }  # fmt: skip
                    project(uow, [row])
                    uow.commit()
                return True
        self._retry_later(delivery_id, f"customer {customer_id} is not known yet")
        return False

    def _prepare(self, delivery_id: uuid.UUID) -> _Prepared | None:
        """Decide to skip or fail it, or render it and claim it (`sending`, committed)."""
        with self.uow_factory() as uow:
            delivery = uow.session.get(Delivery, delivery_id)
            if delivery is None or delivery.status != "pending":
                return None
            settings = current_settings(uow.session)
            contact = (
                uow.session.get(CustomerContact, delivery.customer_id)
                if delivery.customer_id is not None
                else None
            )
            if delivery.to_admins:
                recipients = [("", address) for address in settings.admin_emails]
                requested = settings.default_language
                if not recipients:
                    self._skip(uow, delivery, "no admin_emails in the settings")
                    return None
            else:
                if contact is None or contact.deleted:
                    self._skip(uow, delivery, "the customer is deleted or unknown")
                    return None
                delivery.consent = contact.email_consent
                if delivery.needs_consent and not contact.email_consent:
                    self._skip(uow, delivery, "no email consent")
                    return None
                if not contact.email:
                    self._skip(uow, delivery, "the customer has no email address")
                    return None
                recipients = [(display_name(contact), contact.email)]
                requested = contact.language or settings.default_language
            delivery.requested_language = requested
            variables = {**delivery.variables, "customer": customer_variables(contact)}
            try:
                rendered = self.resolver.render(
                    uow.session, delivery.key, requested, settings.default_language, variables
                )
                if rendered is None:
                    self._skip(uow, delivery, f"no template {delivery.key} in any language")
                    return None
                message = build_message(self.mail_from, recipients, rendered, delivery.message_id)
            except (RenderError, ValueError, IndexError) as exc:
                self._fail(uow, delivery, f"cannot build the email: {exc}")
                return None
            claimed = uow.session.execute(
                update(Delivery)
                .where(Delivery.id == delivery.id, Delivery.status == "pending")
                .values(
                    status="sending",
                    recipients=[address for _, address in recipients],
                    requested_language=requested,
                    locale=rendered.language,
                    fallback=rendered.fallback,
                    consent=delivery.consent,
                    subject=str(message["Subject"]),
                    attempts=Delivery.attempts + 1,
                    updated_at=self.clock(),
                )
                .execution_options(synchronize_session=False)
            )
            uow.commit()
        if getattr(claimed, "rowcount", 0) != 1:
            return None  # another sender took it
        return _Prepared(delivery_id, message, [address for _, address in recipients])

    def _skip(self, uow: UnitOfWork, delivery: Delivery, reason: str) -> None:
        delivery.status, delivery.error, delivery.updated_at = "skipped", reason, self.clock()
        uow.commit()
        DELIVERIES.labels("skipped").inc()
        log.info("email skipped", extra={"delivery_id": str(delivery.id), "reason": reason})

    def _fail(self, uow: UnitOfWork, delivery: Delivery, reason: str) -> None:
        delivery.status, delivery.error, delivery.updated_at = "failed", reason, self.clock()
        uow.commit()
        DELIVERIES.labels("failed").inc()
        log.warning("email failed", extra={"delivery_id": str(delivery.id), "reason": reason})

    def _retry_later(self, delivery_id: uuid.UUID, reason: str) -> str:
        with self.uow_factory() as uow:
            delivery = uow.session.get(Delivery, delivery_id, with_for_update=True)
            if delivery is None:
                return "gone"
            status = schedule_retry(delivery, self.config.retry, reason, self.clock())
            uow.commit()
        DELIVERIES.labels("retried" if status == "pending" else "failed").inc()
        log.info("email not sent yet", extra={"delivery_id": str(delivery_id), "reason": reason})
        return status

    def _finish(self, delivery_id: uuid.UUID, status: str, error: str | None) -> str:
        now = self.clock()
        with self.uow_factory() as uow:
            delivery = uow.session.get(Delivery, delivery_id)
            assert delivery is not None
            delivery.status, delivery.error, delivery.updated_at = status, error, now
            if status == "sent":
                delivery.sent_at = now
                uow.emit(
                    "notification.sent",
                    {
                        "delivery_id": str(delivery.id),
                        "customer_id": None if delivery.to_admins else _str(delivery.customer_id),
                        "key": delivery.key,
                        "event_id": delivery.event_id,
                        "message_id": delivery.message_id,
                        "subject": delivery.subject or "",
                        "locale": delivery.locale or "",
                        "sent_at": now.isoformat(),
                    },
                    subject=None if delivery.to_admins else _str(delivery.customer_id),
                )
            uow.commit()
        DELIVERIES.labels(status).inc()
        if status != "sent":
            log.warning(
                "email not delivered",
                extra={"delivery_id": str(delivery_id), "status": status, "reason": error},
            )
        return status


def _str(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None
