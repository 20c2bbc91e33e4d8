"""Event handlers of the notifications service and the explicit list of what it subscribes to.

Customers' events keep the projection of each customer's address, names, language and consent;
the events that call for an email record it as a pending delivery, in the handler's transaction
(so it survives a worker restart before it is sent), and the sender (`sender.py`) sends it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from marshmallow import fields
from sqlalchemy import event as orm_event
from sqlalchemy import exists, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.notifications import bulk, defaults
from services.notifications.models import CustomerContact, Delivery, Template
from shared.db import UnitOfWork, table_of, utcnow
from shared.events.consumer import Handler, batch_handler
from shared.events.envelope import CloudEvent, parse_time
from shared.events.registry import load_data

ADMIN_KEY = "registration.pending_approval"
"""The email to the settings' `admin_emails` about a sign-up awaiting their approval."""

PENDING = threading.Event()
"""Set after a transaction that recorded deliveries commits: wakes this process's sender."""

CONTACT_FIELDS = ("email", "language", "first_name", "last_name", "company_name", "email_consent")


def message_id(event_id: str, key: str, domain: str) -> str:
    """The Message-ID of the email `key` caused by an event: one event, one email per key."""
    return f"<{event_id}.{key}@{domain}>"


# --- the projection -----------------------------------------------------------------------------
def project(uow: UnitOfWork, rows: Sequence[dict[str, Any]]) -> None:
    """Upsert customers' contact rows, one statement per set of columns the rows set; a row
    older than the one stored changes nothing."""
    latest: dict[uuid.UUID, dict[str, Any]] = {}
    for row in rows:
        known = latest.get(row["customer_id"])
        if known is None or known["as_of"] <= row["as_of"]:
            latest[row["customer_id"]] = row
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in latest.values():
        shapes.setdefault(tuple(sorted(row)), []).append(row)
    for shape, group in shapes.items():
        _upsert_contacts(uow, shape, group)


def _upsert_contacts(uow: UnitOfWork, shape: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    """Upsert contact rows that all set the columns `shape` (one statement): a column a row
    does not set is left as it is (only a new row gets its default)."""
    changed = [column for column in (*CONTACT_FIELDS, "deleted", "as_of") if column in shape]
    values = [{"email_consent": False, "deleted": False, **row} for row in rows]
    keys = sorted(values[0])
    if bulk.on_postgresql(uow.session):
        assignments = ", ".join(f"{column} = excluded.{column}" for column in changed)
        bulk.insert_rows(uow.session, "customer_contacts", keys, values,
                         f"(customer_id) DO UPDATE SET {assignments}"
                         " WHERE customer_contacts.as_of <= excluded.as_of")  # fmt: skip
        return
    table = table_of(CustomerContact)
    statement = sqlite_insert(table)
    uow.session.execute(
        statement.on_conflict_do_update(
            index_elements=["customer_id"],
            set_={column: statement.excluded[column] for column in changed},
            where=table.c.as_of <= statement.excluded.as_of,
        ),
        values,
    )


def _contact_row(
    customer_id: uuid.UUID, contact: dict[str, Any], as_of: datetime
) -> dict[str, Any]:
    row: dict[str, Any] = {"customer_id": customer_id, "as_of": as_of}
    for name in CONTACT_FIELDS:
        if name in contact:
            row[name] = contact[name]
    return row


@batch_handler
def on_customer_state(events: Sequence[CloudEvent], uow: UnitOfWork) -> None:
    """A customer was created, changed, tagged or moved: its contact details as they are now."""
    project(
        uow,
        [
            _contact_row(_loaded(e)["customer_id"], _loaded(e)["customer"], _time(e))
            for e in events
            if _loaded(e).get("customer") is not None
        ],
    )


@batch_handler
def on_customer_deleted(events: Sequence[CloudEvent], uow: UnitOfWork) -> None:
    """A customer was deleted: nothing more goes to it (a late event cannot bring it back)."""
    project(
        uow,
        [
            {"customer_id": _loaded(e)["customer_id"], "deleted": True, "as_of": _time(e)}
            for e in events
        ],
    )


@batch_handler
def on_customer_merged(events: Sequence[CloudEvent], uow: UnitOfWork) -> None:
    """Two customers became one: the duplicate is gone."""
    project(
        uow,
        [
            {"customer_id": _loaded(e)["duplicate_id"], "deleted": True, "as_of": _time(e)}
            for e in events
        ],
    )


def _sign_up_contact(event: CloudEvent) -> tuple[dict[str, Any], dict[str, Any]]:
    """A registration event's data and the contact row it gives the projection."""
    data = _loaded(event)
    contact = {name: data.get(name) for name in CONTACT_FIELDS if name in data}
    return data, _contact_row(data["customer_id"], contact, _time(event))


@batch_handler
def on_registration_submitted(events: Sequence[CloudEvent], uow: UnitOfWork) -> None:
    """Sign-ups: their contact details, the "received" email if asked, the admins told of one
    that awaits their approval."""
    rows, emails = [], []
    for event in events:
        data, row = _sign_up_contact(event)
        rows.append(row)
        if data["signup_notification"]:
            emails.append(delivery_row(uow, event, "registration.received", data["customer_id"]))
        if data["status"] == "pending_approval":
            emails.append(delivery_row(uow, event, ADMIN_KEY, data["customer_id"], to_admins=True))
    project(uow, rows)
    record_rows(uow, emails)


@batch_handler
def on_approval_requested(events: Sequence[CloudEvent], uow: UnitOfWork) -> None:
    """Accounts that confirmed their email and now await approval: the admins are told (the
    sign-up itself was `pending_email`, so it told no one)."""
    rows, emails = [], []
    for event in events:
        data, row = _sign_up_contact(event)
        rows.append(row)
        emails.append(delivery_row(uow, event, ADMIN_KEY, data["customer_id"], to_admins=True))
    project(uow, rows)
    record_rows(uow, emails)


# --- triggers -----------------------------------------------------------------------------------
def delivery_row(
    uow: UnitOfWork,
    event: CloudEvent,
    key: str,
    customer_id: uuid.UUID,
    variables: dict[str, Any] | None = None,
    to_admins: bool = False,
) -> dict[str, Any]:
    """The pending delivery of the email `key` an event causes (`record_rows` records it)."""
    now = utcnow()
    domain = uow.session.info.get("crm.mail_domain", "crm.local")
    return {
        "id": uuid.uuid4(),
        "event_id": event.id,
        "event_type": event.type,
        "key": key,
        "message_id": message_id(event.id, key, domain),
        "customer_id": customer_id,
        "to_admins": to_admins,
        "needs_consent": defaults.family_of(key) in defaults.CONSENT_FAMILIES,
        "variables": {"event_time": event.time, **(variables or {})},
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


def record_rows(uow: UnitOfWork, rows: Sequence[dict[str, Any]]) -> None:
    """Record pending deliveries in one statement; a Message-ID already recorded is left be
    (one event, one email per key); the sender is woken once the transaction commits."""
    if not rows:
        return
    if bulk.on_postgresql(uow.session):
        bulk.insert_rows(uow.session, "deliveries", list(rows[0]), rows, "(message_id) DO NOTHING")
    else:
        uow.session.execute(
            sqlite_insert(table_of(Delivery)).on_conflict_do_nothing(index_elements=["message_id"]),
            rows,
        )
    if not uow.session.info.get("crm.wakes_sender"):
        uow.session.info["crm.wakes_sender"] = True
        orm_event.listen(uow.session, "after_commit", lambda _session: PENDING.set(), once=True)


def _has_template(uow: UnitOfWork, key: str) -> bool:
    return bool(uow.session.scalar(select(exists().where(Template.key == key))))


def on_customer_tagged(event: CloudEvent, uow: UnitOfWork) -> None:
    """A customer got a tag: the tag's email, when staff wrote one (`tag.applied.<tag id>`)."""
    data = _loaded(event)
    key = f"{defaults.TAG_FAMILY}.{data['tag_id']}"
    if _has_template(uow, key):
        tag = {"id": str(data["tag_id"]), "name": data.get("tag_name") or ""}
        record_rows(uow, [delivery_row(uow, event, key, data["customer_id"], {"tag": tag})])


def on_customer_status_changed(event: CloudEvent, uow: UnitOfWork) -> None:
    """A customer's status changed: the status's email, when staff wrote one."""
    data = _loaded(event)
    key = f"{defaults.STATUS_FAMILY}.{data['to']}"
    if _has_template(uow, key):
        status = {"from": data["from_"], "to": data["to"]}
        variables = {"status": status}
        record_rows(uow, [delivery_row(uow, event, key, data["customer_id"], variables)])


def _email(key: str, *variables: str) -> Handler:
    @batch_handler
    def handle(events: Sequence[CloudEvent], uow: UnitOfWork) -> None:
        rows = []
        for event in events:
            data = _loaded(event)
            values = {name: data.get(name) for name in variables}
            rows.append(delivery_row(uow, event, key, data["customer_id"], values))
        record_rows(uow, rows)

    handle.__name__ = f"send_{key.replace('.', '_')}"
    handle.__doc__ = f"The `{key}` email to the customer."
    return handle


def _loaded(event: CloudEvent) -> dict[str, Any]:
    """The event's data as its type's schema loaded it."""
    return event.loaded if event.loaded is not None else load_data(event.type, event.data)


def _time(event: CloudEvent) -> datetime:
    moment: datetime | None = parse_time(event.time)  # as the envelope was checked with
    if moment is None:
        moment = _EVENT_TIME.deserialize(event.time)
    return moment.astimezone(UTC)


_EVENT_TIME = fields.AwareDateTime()


SUBSCRIPTIONS: dict[str, Sequence[Handler]] = {
    "customer.created": [on_customer_state],
    "customer.updated": [on_customer_state],
    "customer.deleted": [on_customer_deleted],
    "customer.merged": [on_customer_merged],
    "customer.tagged": [on_customer_state, on_customer_tagged],
    "customer.untagged": [on_customer_state],
    "customer.status_changed": [on_customer_state, on_customer_status_changed],
    "registration.submitted": [on_registration_submitted],
    "registration.approval_requested": [on_approval_requested],
    "registration.email_confirmation_requested": [
        _email("registration.email_confirmation", "link")
    ],
    "registration.approved": [_email("registration.approved")],
    "registration.rejected": [_email("registration.rejected", "reason")],
    "account.activated": [_email("account.activated")],
    "account.credentials_generated": [_email("account.credentials", "login", "password")],
    "device.confirmation_requested": [_email("device.confirmation", "link", "device_id")],
}
