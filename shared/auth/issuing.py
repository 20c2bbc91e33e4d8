"""Issuing tokens: signed with this process's own private key (in development, the secret)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from shared.auth.tokens import CUSTOMER, LIFETIME_CAPS, STAFF
from shared.settings import SERVICE_CALLS, SERVICES, ConfigurationError, Settings, pem_key_algorithm


def _private_pem_key(pem: str, setting: str) -> tuple[Any, str]:
    algorithm = pem_key_algorithm(pem, setting, private=True)
    return serialization.load_pem_private_key(pem.encode(), password=None), algorithm


class TokenIssuer:
    """Signs tokens with this process's private key (or, in development, the shared secret)."""

    def __init__(self, settings: Settings, private_key: str | None = None) -> None:
        self.issuer = settings.jwt_issuer
        self.kid = settings.jwt_key_id
        pem = private_key or settings.jwt_private_key
        if pem is not None:
            self.key, self.algorithm = _private_pem_key(pem, "CRM_JWT_PRIVATE_KEY")
        elif settings.jwt_asymmetric or settings.production or not settings.jwt_secret:
            raise ConfigurationError(
                "signing tokens needs this process's own private key: "
                "set CRM_JWT_PRIVATE_KEY or CRM_JWT_PRIVATE_KEY_FILE"
            )
        else:
            self.key, self.algorithm = settings.jwt_secret, "HS256"

    def issue(
        self,
        subject: str,
        scopes: Iterable[str],
        *,
        audience: Iterable[str],
        kind: str = STAFF,
        ttl: timedelta | None = None,
        customer_id: str | None = None,
        actor: str | None = None,
    ) -> str:
        """A signed token for `audience`, living `ttl` (at most, and by default, its kind's cap).

        `actor`: who acts in a customer's name (impersonation), written as `act: {sub: actor}`.
        """
        if kind not in LIFETIME_CAPS:
            raise ValueError(f"unknown kind {kind!r}; one of {', '.join(LIFETIME_CAPS)}")
        cap = LIFETIME_CAPS[kind]
        ttl = cap if ttl is None else ttl
        if not timedelta(0) < ttl <= cap:
            raise ValueError(f"a {kind} token lives more than 0 and at most {cap}")
        audience = sorted(set(audience))
        unknown = set(audience) - set(SERVICES)
        if not audience or unknown:
            raise ValueError(f"audience must name services of the suite, not {sorted(unknown)}")
        if (kind == CUSTOMER) != (customer_id is not None):
            raise ValueError("customer_id goes with, and only with, a customer token")
        if actor is not None and kind != CUSTOMER:
            raise ValueError("an actor (act) goes only with a customer token")
        now = datetime.now(UTC)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "kind": kind,
            "scope": " ".join(scopes),
            "iat": now,
            "exp": now + ttl,
            "jti": str(uuid.uuid4()),
        }
        if customer_id is not None:
            claims["customer_id"] = customer_id
        if actor is not None:
            claims["act"] = {"sub": actor}
        headers = {"kid": self.kid} if self.kid else None
        return jwt.encode(claims, self.key, algorithm=self.algorithm, headers=headers)


def issue_token(
    settings: Settings,
    subject: str,
    scopes: Iterable[str],
    *,
    audience: Iterable[str],
    kind: str = STAFF,
    ttl: timedelta | None = None,
    customer_id: str | None = None,
    private_key: str | None = None,
    actor: str | None = None,
) -> str:
    """A signed token (see `TokenIssuer.issue`), with `private_key` or the settings' key."""
    return TokenIssuer(settings, private_key).issue(
        subject, scopes, audience=audience, kind=kind, ttl=ttl, customer_id=customer_id, actor=actor
    )


def service_token_scopes(caller: str, target: str) -> frozenset[str]:
    """The scopes `caller`'s service tokens for `target` carry; ValueError for an unknown call."""
    try:
        return SERVICE_CALLS[(caller, target)]
    except KeyError:
        known = "shared.settings.SERVICE_CALLS"
        raise ValueError(f"{caller} does not call {target} ({known})") from None
