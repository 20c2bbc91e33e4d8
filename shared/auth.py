"""Bearer JWTs: verification (HS256 secret or RS256 public key) and issuing for operations."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from shared.settings import Settings

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


class AuthError(Exception):
    """The token is missing, malformed, expired or not signed by a trusted key."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a staff member, a service, or a customer (own data only)."""

    subject: str
    scopes: frozenset[str]
    kind: str = "staff"
    customer_id: str | None = None

    def has(self, *scopes: str) -> bool:
        """True when every one of `scopes` was granted."""
        return set(scopes) <= self.scopes


VERIFIED_CACHE_SIZE = 4096


class TokenVerifier:
    """Checks signature, expiry and issuer, and reads the granted scopes.

    A token is sent again on every request of its session: once its signature has been checked,
    its principal is kept (up to `VERIFIED_CACHE_SIZE` tokens) and only its validity period is
    checked again, so that a request pays a dict lookup instead of an HMAC or RSA verification.
    """

    def __init__(self, settings: Settings) -> None:
        self.key = settings.jwt_public_key or settings.jwt_secret
        self.algorithm = settings.jwt_algorithm
        self.issuer = settings.jwt_issuer
        # token -> (principal, not before, expires at), oldest first.
        self._verified: dict[str, tuple[Principal, float, float]] = {}

    def verify(self, token: str) -> Principal:
        """The principal a token stands for, or AuthError saying why it is refused."""
        cached = self._verified.get(token)
        if cached is not None:
            principal, not_before, expires_at = cached
            if not_before <= time.time() < expires_at:
                return principal
            self._verified.pop(token, None)  # expired: verified again below, and refused
        principal, claims = self._decode(token)
        self._remember(token, principal, claims)
        return principal

    def _remember(self, token: str, principal: Principal, claims: dict[str, Any]) -> None:
        while len(self._verified) >= VERIFIED_CACHE_SIZE:
            try:
                self._verified.pop(next(iter(self._verified)))
            except (StopIteration, KeyError, RuntimeError):  # another thread got there first
                break
        not_before = claims.get("nbf")
        self._verified[token] = (
            principal,
            float(not_before) if isinstance(not_before, int | float) else float("-inf"),
            float(claims["exp"]),
        )

    def _decode(self, token: str) -> tuple[Principal, dict[str, Any]]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.key,
                algorithms=[self.algorithm],
                issuer=self.issuer,
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("the token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"invalid token: {exc}") from exc
        scope = claims.get("scope", "")
        if not isinstance(scope, str):
            raise AuthError("invalid token: scope must be a space-separated string")
        principal = Principal(
            subject=str(claims["sub"]),
            scopes=frozenset(scope.split()),
            kind=str(claims.get("kind", "staff")),
            customer_id=claims.get("customer_id"),
        )
        return principal, claims


def issue_token(
    settings: Settings,
    subject: str,
    scopes: list[str] | tuple[str, ...],
    ttl: timedelta = timedelta(hours=8),
    kind: str = "staff",
    customer_id: str | None = None,
    private_key: str | None = None,
) -> str:
    """A signed token: HS256 with the shared secret, or RS256 with `private_key`."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": subject,
        "scope": " ".join(scopes),
        "kind": kind,
        "iss": settings.jwt_issuer,
        "iat": now,
        "exp": now + ttl,
        "jti": str(uuid.uuid4()),
    }
    if customer_id is not None:
        claims["customer_id"] = customer_id
    if private_key is not None:
        return jwt.encode(claims, private_key, algorithm="RS256")
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
