"""What a token carries: its kind, the staff scopes, each kind's lifetime cap, and the principal
a verified token stands for; AuthError when it is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

STAFF_SCOPES = (
    "customers:read",
    "customers:write",
    "customers:delete",
    "customers:import",
    "customers:export",
    "customers:impersonate",
    "tags:write",
    "settings:write",
    "events:publish",
    "notifications:write",
)

STAFF, CUSTOMER, SERVICE = "staff", "customer", "service"
LIFETIME_CAPS = {
    STAFF: timedelta(hours=8),
    CUSTOMER: timedelta(minutes=15),
    SERVICE: timedelta(minutes=5),
}
"""The longest a token of each kind may live (`exp - iat`)."""
SCOPED_KINDS = frozenset({STAFF, SERVICE})
"""The kinds whose `scope` grants anything (staff checks)."""


class AuthError(Exception):
    """The token is missing, malformed, expired or not signed by a trusted key.

    Its text is for the log: callers are answered a generic message.
    """


@dataclass(frozen=True)
class Principal:
    """Who is calling: a staff member, a service, or a customer (own data only)."""

    subject: str
    scopes: frozenset[str]
    kind: str = STAFF
    customer_id: str | None = None
    actor: str | None = None
    """Who acts in the customer's name (the `act` claim's `sub`): set on impersonation only."""

    def has(self, *scopes: str) -> bool:
        """True when every one of `scopes` was granted (never to a customer)."""
        return self.kind in SCOPED_KINDS and set(scopes) <= self.scopes
