"""A login's reads and writes in as few round trips as they allow (issue 11).

Before the hash, one statement reads the account's id and hash with the throttle's counts.
After it, the usual login on PostgreSQL (an account that may log in, from a device it already
uses, nothing to rehash, no failure to forget, no link to send) is one statement: it locks the
account, checks it against the settings in force, touches the device, and inserts the refresh
token and the audit row, all or nothing (a single statement is its own transaction). Any other
case writes nothing there and takes the general path (`logins._admit`), which decides it all
again under the account's lock; a settings change therefore holds from the next login on.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Select, String, bindparam, literal, select, text, true

from services.registration import audit as events
from services.registration import throttle
from services.registration.audit import log_event
from services.registration.context import Registration, new_secret
from services.registration.errors import IssuerMissing
from services.registration.models import ACTIVE, Account
from shared.auth import CUSTOMER
from shared.db import UtcDateTime, table_of
from shared.settings import SERVICES


@dataclass(frozen=True)
class Candidate:
    """What a login reads before the hash: the account (if any) and the throttle's state."""

    account_id: uuid.UUID | None
    password_hash: str | None
    account_lockout: throttle.Lockout
    address_lockout: throttle.Lockout


def read_candidate(registration: Registration, key: str, address: str, now: datetime) -> Candidate:
    """The account of this email key and both lockouts (account, address), in one statement
    outside any transaction."""
    config = registration.config
    checks = [
        (throttle.LOGIN_ACCOUNT, key, config.login_failures_per_account),
        (throttle.LOGIN_IP, address, config.login_failures_per_ip),
    ]
    parameters = {
        "key": key,
        "address": address,
        "account_since": now - config.login_failures_per_account.window,
        "address_since": now - config.login_failures_per_ip.window,
    }
    with autocommit(registration).connect() as connection:
        rows = connection.execute(_candidate_statement(), parameters).all()
    account, by_address = throttle.read_lockouts(rows, checks, now)
    return Candidate(rows[0].id, rows[0].password_hash, account, by_address)


@functools.cache
def _candidate_statement() -> Select[Any]:
    """`read_candidate`'s statement, built once: the account left-joined to nothing (one row
    when there is none), each throttle count joined to it."""
    key = bindparam("key", type_=String)
    counts = throttle.lockout_counts(
        [
            (throttle.LOGIN_ACCOUNT, key, bindparam("account_since", type_=UtcDateTime)),
            (
                throttle.LOGIN_IP,
                bindparam("address"),
                bindparam("address_since", type_=UtcDateTime),
            ),
        ]
    ).subquery()
    accounts = table_of(Account)
    one = select(literal(1).label("one")).subquery()
    return select(
        counts.c.bucket,
        counts.c.key,
        counts.c.hits,
        counts.c.last,
        accounts.c.id,
        accounts.c.password_hash,
    ).select_from(one.outerjoin(accounts, accounts.c.email_key == key).outerjoin(counts, true()))


def autocommit(registration: Registration) -> Engine:
    """The engine of the read sessions: autocommit, each statement its own transaction."""
    engine = registration.reads.kw["bind"]
    assert isinstance(engine, Engine)
    return engine


# The device must be known and trusted, the account active, enabled, its password not to be
# changed, its email confirmed unless the settings ask for no validation (`optional` sends a
# link to an unconfirmed one: the general path's). Writes only when the device row is updated.
_ADMIT_KNOWN_DEVICE = text(
    """
WITH account AS (
    SELECT a.id, a.email_confirmed FROM accounts AS a
    WHERE a.id = :account_id AND a.login_enabled AND a.status = :active
      AND NOT a.must_change_password
      AND (a.email_confirmed OR COALESCE(
          (SELECT s.email_validation FROM settings AS s WHERE s.id = 1), 'required') = 'none')
    FOR UPDATE
), device AS (
    UPDATE devices AS d SET last_seen_at = :now
    FROM account
    WHERE d.account_id = account.id AND d.device_id = :device_id
      AND d.confirmed_at IS NOT NULL AND d.revoked_at IS NULL
    RETURNING d.account_id
), token AS (
    INSERT INTO refresh_tokens (token_hash, account_id, family_id, device_id, created_at,
                                expires_at)
    SELECT :token_hash, device.account_id, :family_id, :device_id, :now, :expires_at
    FROM device
), audit AS (
    INSERT INTO auth_events (at, type, account_id, ip, device_id)
    SELECT :now, :event, device.account_id, :ip, :device_id FROM device
)
SELECT account.email_confirmed FROM account JOIN device ON device.account_id = account.id
"""
)


def admit_known_device(
    registration: Registration,
    account_id: uuid.UUID,
    device_id: str,
    address: str,
    now: datetime,
) -> dict[str, Any] | None:
    """The tokens of the usual login in one statement, or None (nothing written) when this
    login needs the general path. PostgreSQL only (SQLite: None)."""
    engine = autocommit(registration)
    if engine.dialect.name != "postgresql":
        return None
    if registration.token_issuer is None:
        raise IssuerMissing()  # no key to sign with: 503 before anything is written
    refresh, refresh_hash = new_secret()
    with engine.connect() as connection:
        email_confirmed = connection.execute(
            _ADMIT_KNOWN_DEVICE,
            {
                "account_id": account_id,
                "active": ACTIVE,
                "now": now,
                "device_id": device_id,
                "token_hash": refresh_hash,
                "family_id": uuid.uuid4(),
                "expires_at": now + registration.config.refresh_token_ttl,
                "event": events.LOGIN_SUCCEEDED,
                "ip": address,
            },
        ).scalar()
    if email_confirmed is None:
        return None
    log_event(events.LOGIN_SUCCEEDED, account_id, ip=address, device_id=device_id)
    return token_answer(registration, account_id, bool(email_confirmed), refresh)


def access_token(registration: Registration, account_id: uuid.UUID) -> dict[str, Any]:
    """A customer access token for the account (every service, own data only)."""
    ttl = registration.config.access_token_ttl
    token = customer_token(registration, account_id, ttl)
    return {"access_token": token, "token_type": "Bearer", "expires_in": int(ttl.total_seconds())}


def customer_token(
    registration: Registration, account_id: uuid.UUID, ttl: timedelta, actor: str | None = None
) -> str:
    """A signed customer token for every service, living `ttl`; `actor`: who acts in the
    customer's name (impersonation)."""
    return registration.issuer.issue(
        f"customer:{account_id}",
        [],
        audience=SERVICES,
        kind=CUSTOMER,
        ttl=ttl,
        customer_id=str(account_id),
        actor=actor,
    )


def token_answer(
    registration: Registration, account_id: uuid.UUID, email_confirmed: bool, refresh: str
) -> dict[str, Any]:
    """What a successful login answers: an access token and the new refresh token."""
    return {
        **access_token(registration, account_id),
        "refresh_token": refresh,
        "customer_id": account_id,
        "email_confirmed": email_confirmed,
    }
