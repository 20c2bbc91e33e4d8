"""Accounts of the customers staff create (R3): every customer has an account, so that an
operator can set a password (`PATCH /registration/accounts/{id}`) or have one generated.

customers' `customer.created` gives a customer that did not sign up an account: no password
(nobody logs in until an operator gives one), `active` (staff created it: there is no sign-up
to validate or approve), login on, email not confirmed. A sign-up's own `customer.created`
finds its account there already and changes nothing. `customer.updated` keeps the email (the
login), names and language in step; `customer.deleted` removes the account with its tokens and
devices; `customer.merged` (published before the duplicate's `customer.deleted`) removes the
duplicate's, whose login a survivor without a password takes.

Read your writes: an id registration does not know yet is asked of customers
(`GET /customers/{id}`), and adopted from the answer by the same `adopt` the event runs; the
event, arriving later, finds the account and changes nothing.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Collection, Mapping
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.registration.audit import audit
from services.registration.context import Registration
from services.registration.errors import AccountNotFound
from services.registration.login_state import publish_login_state, publishing_login_changes
from services.registration.models import ACTIVE, Account
from services.registration.signups import email_key
from shared.db import UnitOfWork, utcnow
from shared.service_client import ServiceClient, ServiceUnavailable
from shared.settings import Settings

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

STAFF_CREATED_STATUS = ACTIVE
ACCOUNT_REMOVED = "account_removed"
NAME_FIELDS = ("first_name", "last_name", "company_name", "language")


class CustomerLookup(Protocol):
    """Where a customer registration has not heard of yet is asked (customers)."""

    def customer(self, customer_id: uuid.UUID) -> Mapping[str, Any] | None:
        """`{"kind", "customer": {email, first_name, ...}}` as `customer.created` carries them,
        or None when customers does not know the id; ServiceUnavailable otherwise."""
        ...


class RemoteCustomers:
    """`CustomerLookup` through `GET /customers/{id}` (`customers:read`, registration's token)."""

    def __init__(self, settings: Settings) -> None:
        self.client = ServiceClient(settings, "customers", ["customers:read"])

    def customer(self, customer_id: uuid.UUID) -> Mapping[str, Any] | None:
        body = self.client.read(f"/customers/{customer_id}")
        if body is None:
            return None
        if body.get("id") != str(customer_id) or body.get("kind") not in ("individual", "company"):
            raise ServiceUnavailable("the customers service answered another customer than asked")
        return {
            "kind": body["kind"],
            "customer": {name: body.get(name) for name in ("email", *NAME_FIELDS)},
        }


# --- the events' side ---------------------------------------------------------------------------
def adopt(uow: UnitOfWork, customer_id: uuid.UUID, kind: str, contact: Mapping[str, Any]) -> bool:
    """Give a customer its account unless it has one (`account.updated`); whether it did. An
    email another account holds is left off (logged): the account waits for customers to give
    it a free one."""
    session = uow.session
    if session.get(Account, customer_id) is not None:
        return False
    email = _free_email(session, customer_id, contact.get("email"))
    now = utcnow()
    for attempt_email in dict.fromkeys([email, None]):
        account = Account(
            id=customer_id,
            email=attempt_email,
            email_key=email_key(attempt_email) if attempt_email else None,
            kind=kind,
            first_name=contact.get("first_name"),
            last_name=contact.get("last_name"),
            company_name=contact.get("company_name"),
            language=contact.get("language"),
            status=STAFF_CREATED_STATUS,
            login_enabled=True,
            email_confirmed=False,
            password_hash=None,
            must_change_password=False,
            created_at=now,
            updated_at=now,
        )
        try:
            with session.begin_nested():
                session.add(account)
            publish_login_state(uow, account)
            return True
        except IntegrityError:
            # The same id adopted meanwhile (the event and a read of it, at once), or the
            # email taken meanwhile: the first needs nothing more, the second no email.
            if session.get(Account, customer_id) is not None:
                return False
    return False


def follow_update(
    session: Session, customer_id: uuid.UUID, changed: Collection[str], contact: Mapping[str, Any]
) -> None:
    """Keep a customer's account in step with its profile: a new email (the login, when no other
    account has it), names and language. No account yet: `customer.created` brings it."""
    account = session.get(Account, customer_id, with_for_update=True)
    if account is None:
        return
    for name in NAME_FIELDS:
        if name in changed:
            setattr(account, name, contact.get(name))
    new_email = contact.get("email")
    # An email customers removed leaves the login as it was: an account keeps its way in.
    if (
        "email" in changed
        and new_email
        and email_key(new_email) != account.email_key
        and _free_email(session, customer_id, new_email) is not None
    ):
        account.email, account.email_key = new_email, email_key(new_email)
    account.updated_at = utcnow()


def remove(session: Session, customer_ids: Collection[uuid.UUID]) -> None:
    """Delete the accounts of deleted customers (their tokens and devices go with them)."""
    removed = list(
        session.scalars(delete(Account).where(Account.id.in_(customer_ids)).returning(Account.id))
    )
    for account_id in removed:
        audit(session, ACCOUNT_REMOVED, account_id, actor="customers")


LOGIN_FIELDS = (
    "password_hash",
    "must_change_password",
    "password_changed_at",
    "email_confirmed",
    "status",
    "login_enabled",
)


def merge(uow: UnitOfWork, survivor_id: uuid.UUID, duplicate_id: uuid.UUID) -> None:
    """A merge: the duplicate's account goes (its tokens and devices with it). A survivor with
    no password takes the duplicate's login (its email and password, as the customer knows
    them; the customer logs in again; `account.updated` when its login state changes); a
    survivor with no email takes the duplicate's."""
    session = uow.session
    duplicate = session.get(Account, duplicate_id, with_for_update=True)
    if duplicate is None:
        return
    survivor = session.get(Account, survivor_id, with_for_update=True)
    takes_login = survivor is not None and (
        survivor.password_hash is None and duplicate.password_hash is not None
    )
    login = {name: getattr(duplicate, name) for name in LOGIN_FIELDS}
    email = duplicate.email
    session.delete(duplicate)
    session.flush()  # the duplicate's email is free before the survivor takes it
    audit(
        session,
        ACCOUNT_REMOVED,
        duplicate_id,
        actor="customers",
        detail=f"merged into {survivor_id}",
    )
    if survivor is None:
        return
    if takes_login:
        with publishing_login_changes(uow, survivor):
            for name, value in login.items():
                setattr(survivor, name, value)
    if email and (takes_login or survivor.email is None):
        survivor.email, survivor.email_key = email, email_key(email)
    survivor.updated_at = utcnow()


def _free_email(session: Session, customer_id: uuid.UUID, email: str | None) -> str | None:
    if not email:
        return None
    holder = session.scalar(select(Account.id).where(Account.email_key == email_key(email)))
    if holder is not None and holder != customer_id:
        log.warning(
            "a customer's email is another account's login; left off its account",
            extra={"customer_id": str(customer_id), "other": str(holder)},
        )
        return None
    return email


# --- read your writes ---------------------------------------------------------------------------
def adopt_from_customers(registration: Registration, customer_id: uuid.UUID) -> bool:
    """Ask customers about an id registration does not know; adopt it when customers knows it.
    Whether an account exists now. ServiceUnavailable (503) when customers cannot say."""
    if registration.customers is None:
        return False
    answer = registration.customers.customer(customer_id)  # no transaction open meanwhile
    if answer is None:
        return False
    with registration.uow() as uow:
        adopt(uow, customer_id, answer["kind"], answer["customer"])
        uow.commit()
    return True


def reads_customers_writes(
    use: Callable[Concatenate[Registration, uuid.UUID, P], T],
) -> Callable[Concatenate[Registration, uuid.UUID, P], T]:
    """Decorate a staff use case of one account: an account it does not find is asked of
    customers (a customer created a moment ago) and the use case runs once more."""

    @functools.wraps(use)
    def wrapper(
        registration: Registration, account_id: uuid.UUID, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        try:
            return use(registration, account_id, *args, **kwargs)
        except AccountNotFound as missing:
            if missing.account_id != account_id:
                raise
            if not adopt_from_customers(registration, account_id):
                raise
        return use(registration, account_id, *args, **kwargs)

    return wrapper
