"""`account.updated`: an account's login state (`login_enabled`, `email_confirmed`, `status`),
published whenever one of them changes, so that customers shows it on the profile (`login`).

Every change of these columns runs with the account's row locked (or creates the row), so the
events of one account are written in the order of its changes; the event's `time` orders them
for consumers (customers keeps only a newer state than the one it has).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from services.registration.models import Account
from shared.db import UnitOfWork

ACCOUNT_UPDATED = "account.updated"


def login_state(account: Account) -> tuple[bool, bool, str]:
    """What `account.updated` tells of an account: login on, email confirmed, status."""
    return account.login_enabled, account.email_confirmed, account.status


def publish_login_state(uow: UnitOfWork, account: Account) -> None:
    """Write the account's login state to the outbox (`account.updated`), in this transaction."""
    subject = str(account.id)
    uow.emit(
        ACCOUNT_UPDATED,
        {
            "customer_id": subject,
            "login_enabled": account.login_enabled,
            "email_confirmed": account.email_confirmed,
            "status": account.status,
        },
        subject=subject,
    )


@contextmanager
def publishing_login_changes(uow: UnitOfWork, account: Account) -> Iterator[Account]:
    """Publish the account's login state at the end of the block if the block changed it."""
    before = login_state(account)
    yield account
    if login_state(account) != before:
        publish_login_state(uow, account)
