"""Sends the pending deliveries: an email at most once per event and key, none lost.

Due deliveries are taken in batches. For a batch, in one transaction: lock the due deliveries
with their customers' contact rows (the consent at this moment), read the templates, render,
and record the batch `sending` (one commit); a delivery whose customer the projection does not
know yet is left pending, customers is asked about it after the commit, and it goes in a later
batch. Then hand each message to the transport over one connection, and
record the outcomes (one commit): `sent` (with `notification.sent`), `pending` again after a
pause (temporary failure: 4xx, connection refused, timeout before the message was handed over;
exponential backoff with jitter), `failed` (5xx, with the server's reply), or `ambiguous` when
the server may have taken the message but its answer was lost (SMTP has no idempotency key: it
is not sent again blindly). A delivery found `sending` past the lease (the worker died between
the send and the record) is `ambiguous` too: never sent twice. The price of the batch: a worker
that dies mid-batch leaves the batch's unsent emails ambiguous as well, and the batch claimed
ahead (`NotificationsConfig.batch_size` bounds each).
While a full batch goes out, the next one is claimed and rendered in a second thread and the
last one's outcomes recorded in a third (the SMTP exchange mostly waits on the server); a sender
stopped by an error gives the batch claimed ahead back, pending.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parseaddr
from typing import Any, Protocol

from prometheus_client import Counter
from sqlalchemy import Row, select, update
from sqlalchemy.orm import Session, sessionmaker

from services.notifications import ledger
from services.notifications.config import NotificationsConfig
from services.notifications.handlers import PENDING, project
from services.notifications.message import (
    Email,
    build_message,
    customer_variables,
    display_name,
)
from services.notifications.models import Delivery, NotificationSettings
from services.notifications.rendering import RenderError
from services.notifications.retry import schedule_retry
from services.notifications.templates import TemplateResolver
from services.notifications.transport import (
    AmbiguousDelivery,
    PermanentFailure,
    TemporaryFailure,
    Transport,
    Unreachable,
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
    message: Email
    recipients: list[str]


@dataclass
class _Outcome:
    delivery_id: uuid.UUID
    status: str  # sent, failed, ambiguous, or retry
    error: str | None = None


def _unknown(row: Row[Any]) -> bool:
    """A claimed delivery to a customer the projection does not know yet (asked of customers
    before it goes)."""
    return not row.known and not row.to_admins and row.customer_id is not None


class DeliverySender:
    """Sends due deliveries in batches over a reused connection; `run` loops until stopped."""

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
        batch_size: int | None = None,
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
        self.batch_size = batch_size or config.batch_size
        self._helpers: dict[str, ThreadPoolExecutor] = {}

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
        for helper in self._helpers.values():
            helper.shutdown()

    def send_due(self, limit: int | None = None) -> int:
        """Send the due deliveries batch after batch (one batch of at most `limit` when given);
        how many were handled. While a batch goes out, the next one is claimed and rendered in
        one thread and the previous one's outcomes recorded in another: the SMTP exchange,
        which mostly waits on the server, is all this thread does."""
        handled, batch = 0, self._next_batch(limit or self.batch_size)
        records: list[Future[None]] = []
        try:
            while batch is not None:
                due, prepared = batch
                handled += len(due)
                ahead: Future[tuple[list[uuid.UUID], list[_Prepared]] | None] | None = None
                if limit is None and len(due) == self.batch_size:
                    ahead = self._thread("prepare").submit(self._next_batch, self.batch_size)
                try:
                    outcomes = self._send(prepared)
                except BaseException:
                    if ahead is not None and (claimed := ahead.result()) is not None:
                        self._release(claimed[1])  # claimed, never handed over: pending again
                    raise
                records.append(self._thread("record").submit(self._record, outcomes))
                batch = ahead.result() if ahead is not None else None
        finally:
            for record in records:
                record.result()  # every outcome recorded before the next burst (or the error)
        return handled

    def _next_batch(self, size: int) -> tuple[list[uuid.UUID], list[_Prepared]] | None:
        """The next due deliveries (None when there are none) and those claimed to be sent;
        customers the projection lacks are asked of customers once the claim is committed."""
        with self.uow_factory() as uow:
            rows = ledger.claim_due(uow.session, size, self.clock())
            if not rows:
                return None
            unknown = [row for row in rows if _unknown(row)]
            prepared = self._prepare(uow, [row for row in rows if not _unknown(row)])
        for row in unknown:
            self._ask_customers(row.id, row.customer_id)
        return [row.id for row in rows], prepared

    def _send(self, prepared: list[_Prepared]) -> list[_Outcome]:
        outcomes: list[_Outcome] = []
        for position, item in enumerate(prepared):
            try:
                self.transport.send(item.message, self.envelope_from, item.recipients)
            except Unreachable as exc:  # the rest would fail the same way: they wait too
                outcomes.extend(_Outcome(p.delivery_id, "retry", str(exc))
                                for p in prepared[position:])  # fmt: skip
                break
            except TemporaryFailure as exc:
                outcomes.append(_Outcome(item.delivery_id, "retry", str(exc)))
            except PermanentFailure as exc:
                outcomes.append(_Outcome(item.delivery_id, "failed", str(exc)))
            except AmbiguousDelivery as exc:
                outcomes.append(_Outcome(item.delivery_id, "ambiguous", str(exc)))
            else:
                outcomes.append(_Outcome(item.delivery_id, "sent"))
        return outcomes

    def _thread(self, name: str) -> ThreadPoolExecutor:
        """The sender's helper thread `name` (`prepare`, `record`): one each, kept for its life."""
        if name not in self._helpers:
            self._helpers[name] = ThreadPoolExecutor(1, f"notifications-{name}")
        return self._helpers[name]

    def _release(self, prepared: list[_Prepared]) -> None:
        """Claimed deliveries that were never handed to the server: pending again, as they were."""
        with self.uow_factory() as uow:
            ledger.release(uow.session, [item.delivery_id for item in prepared])
            uow.commit()

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

    # before the send ----------------------------------------------------------------------------
    def _ask_customers(self, delivery_id: uuid.UUID, customer_id: uuid.UUID) -> bool:
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

    def _prepare(self, uow: UnitOfWork, rows: Sequence[Row[Any]]) -> list[_Prepared]:
        """Skip or fail each claimed delivery, or render it and mark it `sending`, in one
        commit."""
        notes: list[tuple[str, uuid.UUID, str]] = []
        prepared: list[_Prepared] = []
        changes: list[dict[str, Any]] = []
        session = uow.session
        if rows:
            settings = current_settings(session)
            catalogues = self.resolver.available_many(session, {row.key for row in rows})
            now = self.clock()
            for row in rows:
                change, item = self._prepare_one(row, settings, catalogues[row.key])
                changes.append({"id": row.id, "updated_at": now, **change})
                if item is not None:
                    prepared.append(item)
                elif change["status"] != ledger.CLAIMED:
                    notes.append((change["status"], row.id, change["error"]))
            ledger.apply(session, changes)
        uow.commit()
        for outcome, delivery_id, reason in notes:
            DELIVERIES.labels(outcome).inc()
            log.info(f"email {outcome}", extra={"delivery_id": str(delivery_id), "reason": reason})
        return prepared

    def _prepare_one(
        self, delivery: Row[Any], settings: NotificationSettings, available: Any
    ) -> tuple[dict[str, Any], _Prepared | None]:
        """What to write of one delivery (its customer's contact joined, `ledger.claim_due`),
        and the email to send if it goes."""
        contact = delivery if delivery.known else None
        change: dict[str, Any] = {"consent": None}
        if delivery.to_admins:
            recipients = [("", address) for address in settings.admin_emails]
            requested = settings.default_language
            if not recipients:
                return {"status": "skipped", "error": "no admin_emails in the settings"}, None
        else:
            if contact is None or contact.deleted:
                return {"status": "skipped", "error": "the customer is deleted or unknown"}, None
            change["consent"] = contact.email_consent
            if delivery.needs_consent and not contact.email_consent:
                return {**change, "status": "skipped", "error": "no email consent"}, None
            if not contact.email:
                reason = "the customer has no email address"
                return {**change, "status": "skipped", "error": reason}, None
            recipients = [(display_name(contact), contact.email)]
            requested = contact.language or settings.default_language
        change["requested_language"] = requested
        variables = {**delivery.variables, "customer": customer_variables(contact)}
        try:
            rendered = self.resolver.render(
                None, delivery.key, requested, settings.default_language, variables, available
            )
            if rendered is None:
                reason = f"no template {delivery.key} in any language"
                return {**change, "status": "skipped", "error": reason}, None
            message = build_message(self.mail_from, recipients, rendered, delivery.message_id)
        except (RenderError, ValueError, IndexError) as exc:
            return {**change, "status": "failed", "error": f"cannot build the email: {exc}"}, None
        addresses = [address for _, address in recipients]
        change.update(
            status=ledger.CLAIMED,
            recipients=addresses,
            locale=rendered.language,
            fallback=rendered.fallback,
            subject=message.subject,
        )
        return change, _Prepared(delivery.id, message, addresses)

    # after the send -----------------------------------------------------------------------------
    def _retry_later(self, delivery_id: uuid.UUID, reason: str) -> str:
        self._record([_Outcome(delivery_id, "retry", reason)])
        return "retry"

    def _record(self, outcomes: list[_Outcome]) -> None:
        """Every outcome of a batch in one commit, `notification.sent` for each email sent."""
        if not outcomes:
            return
        now = self.clock()
        retries = {o.delivery_id: o for o in outcomes if o.status == "retry"}
        counted: list[str] = []
        with self.uow_factory() as uow:
            sent = [o.delivery_id for o in outcomes if o.status == "sent"]
            events = ledger.mark_sent(uow.session, sent, now)
            if events:
                uow.emit_many("notification.sent", events)
            counted += ["sent"] * len(events)
            closed = [o for o in outcomes if o.status not in ("sent", "retry")]
            ledger.apply(uow.session, [
                {"id": o.delivery_id, "status": o.status, "error": o.error, "updated_at": now}
                for o in closed
            ])  # fmt: skip
            counted += [o.status for o in closed]
            waiting: Iterable[Delivery] = (
                uow.session.scalars(
                    select(Delivery).where(Delivery.id.in_(retries)).with_for_update()
                )
                if retries
                else []
            )
            for delivery in waiting:
                reason = retries[delivery.id].error or ""
                status = schedule_retry(delivery, self.config.retry, reason, now)
                counted.append("retried" if status == "pending" else "failed")
            uow.commit()
        for status in counted:
            DELIVERIES.labels(status).inc()
        for outcome in outcomes:
            if outcome.status != "sent":
                log.warning(
                    "email not delivered",
                    extra={"delivery_id": str(outcome.delivery_id), "status": outcome.status,
                           "reason": outcome.error},
                )  # fmt: skip
