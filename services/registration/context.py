"""What the registration use cases need, built once in `create_app` (and the worker)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from services.registration.config import RegistrationConfig
from services.registration.errors import IssuerMissing
from services.registration.passwords import PasswordHashing
from shared.auth import TokenIssuer
from shared.db import UnitOfWorkFactory
from shared.settings import Settings

if TYPE_CHECKING:
    from services.registration.customer_accounts import CustomerLookup

SECRET_BYTES = 32
"""Link and refresh tokens: 256 bits from `secrets`."""


@dataclass
class Registration:
    """The service's dependencies: units of work, reads, config, hashing, the token issuer."""

    settings: Settings
    config: RegistrationConfig
    uow: UnitOfWorkFactory
    reads: sessionmaker[Session]
    hashing: PasswordHashing
    token_issuer: TokenIssuer | None
    """None when this process has no key to sign customer tokens with (production without
    `CRM_JWT_PRIVATE_KEY`): logins are then answered 503 and the log says why at start."""
    customers: CustomerLookup | None = None
    """Where an account id registration does not know yet is asked (read your writes)."""

    @property
    def issuer(self) -> TokenIssuer:
        """The signer of customer tokens; IssuerMissing (503) when none is configured."""
        if self.token_issuer is None:
            raise IssuerMissing()
        return self.token_issuer


def new_secret() -> tuple[str, str]:
    """A fresh opaque token and the SHA-256 it is stored as."""
    token = secrets.token_urlsafe(SECRET_BYTES)
    return token, digest(token)


def digest(token: str) -> str:
    """The SHA-256 (hex) a token is stored and looked up as."""
    return hashlib.sha256(token.encode()).hexdigest()
