"""Verifying a token: for this service, signed by a trusted key, within its kind's rules."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import jwt

from shared.auth.keys import KeySet
from shared.auth.tokens import CUSTOMER, LIFETIME_CAPS, SERVICE, AuthError, Principal
from shared.settings import SERVICE_CALLS, Settings

CLOCK_SKEW = timedelta(seconds=30)
"""How far in the future a token's `iat` may be (clocks of issuers and verifiers differ)."""
REQUIRED_CLAIMS = ["iss", "sub", "aud", "iat", "exp", "kind"]
VERIFIED_CACHE_SIZE = 4096


class TokenVerifier:
    """Checks a token is for this service, signed by a trusted key, within its kind's rules.

    A token is sent again on every request of its session: once checked, its principal is kept
    (up to `VERIFIED_CACHE_SIZE` tokens) and only its validity period is checked again, so that a
    request pays a dict lookup instead of a signature verification. Every other check depends on
    the token alone and on this service, which a verifier does not change.
    """

    def __init__(self, settings: Settings, keys: KeySet | None = None) -> None:
        self.service = settings.service
        self.issuer = settings.jwt_issuer
        self.keys = keys or KeySet(settings)
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
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"malformed token: {exc}") from exc
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise AuthError("malformed token: kid is not a string")
        key = self.keys.find(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm],  # the key's own, never the header's choice
                audience=self.service,
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS, "verify_iat": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("the token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"invalid token: {exc}") from exc
        principal = self._principal(claims)
        _check_lifetime(claims, principal.kind)
        if (
            kid is not None
            and kid.startswith("service:")
            and (principal.kind != SERVICE or principal.subject != kid)
        ):
            raise AuthError(f"key {kid} signs only its own service tokens")
        return principal, claims

    def _principal(self, claims: dict[str, Any]) -> Principal:
        kind, scope, subject = claims["kind"], claims.get("scope", ""), claims["sub"]
        if kind not in LIFETIME_CAPS:
            raise AuthError(f"unknown kind {kind!r}")
        if not isinstance(scope, str) or not isinstance(subject, str):
            raise AuthError("scope and sub must be strings")
        scopes = frozenset(scope.split())
        customer_id = claims.get("customer_id")
        if kind == CUSTOMER and not isinstance(customer_id, str):
            raise AuthError("a customer token names its customer_id")
        actor = _actor(claims, kind)
        if kind == SERVICE:
            caller = subject.removeprefix("service:")
            allowed = SERVICE_CALLS.get((caller, self.service), frozenset())
            if not subject.startswith("service:") or not scopes <= allowed:
                raise AuthError(
                    f"{subject} may not call {self.service} with {' '.join(sorted(scopes))}"
                )
        return Principal(
            subject=subject,
            scopes=scopes,
            kind=kind,
            customer_id=customer_id if kind == CUSTOMER else None,
            actor=actor,
        )


def _actor(claims: dict[str, Any], kind: str) -> str | None:
    """The `act` claim's `sub` (RFC 8693): only a customer token may carry one, and then well
    formed; anything else in `act` is a refusal, never ignored."""
    if "act" not in claims:
        return None
    act = claims["act"]
    if kind != CUSTOMER:
        raise AuthError("only a customer token may name an actor (act)")
    if not isinstance(act, dict) or not isinstance(act.get("sub"), str) or not act["sub"]:
        raise AuthError("act must be an object with a sub")
    return str(act["sub"])


def _check_lifetime(claims: dict[str, Any], kind: str) -> None:
    issued_at, expires_at = claims["iat"], claims["exp"]
    if not all(isinstance(value, int | float) for value in (issued_at, expires_at)):
        raise AuthError("iat and exp must be numbers")
    if issued_at > time.time() + CLOCK_SKEW.total_seconds():
        raise AuthError("the token is issued in the future")
    if expires_at - issued_at > LIFETIME_CAPS[kind].total_seconds():
        raise AuthError(f"the token lives longer than a {kind} token may")
