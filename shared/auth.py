"""Bearer JWTs: what a token must carry, who may sign it, and its verification.

Every token carries `iss`, `sub`, `aud` (the services it is for), `iat`, `exp` and `kind`:

- `staff`: a person of the staff, with permissions in `scope`; at most 8 hours.
- `customer`: a customer (`customer_id`), own data only; at most 15 minutes. Its `scope` grants
  nothing: a customer token never passes a staff check, whatever it carries.
- `service`: a service calling another (`sub` = `service:<caller>`), with only the scopes
  `SERVICE_CALLS` gives that call and `aud` = the target; at most 5 minutes.

Who holds what in production (asymmetric keys, RS256 or EdDSA):

- The identity provider holds the staff private key; registration holds the customer one; each
  service that calls another (`SERVICE_CALLS`) holds its own (`CRM_JWT_PRIVATE_KEY`, published
  under the `kid` `service:<name>`; a key with such a `kid` signs only that service's service
  tokens). Operations may hold a staff key for `crm token`.
- Every service verifies with public keys only: one PEM (`CRM_JWT_PUBLIC_KEY`) or a set with
  `kid`s (`CRM_JWT_JWKS_URL`, fetched and cached; refreshed when a token names an unknown `kid`).

In development (`CRM_ENV=development`) one HS256 secret signs and verifies everything.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jwt
import requests
from cryptography.hazmat.primitives import serialization

from shared.settings import (
    ASYMMETRIC_ALGORITHMS,
    SERVICE_CALLS,
    SERVICES,
    ConfigurationError,
    Settings,
    pem_key_algorithm,
)

log = logging.getLogger(__name__)

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
CLOCK_SKEW = timedelta(seconds=30)
"""How far in the future a token's `iat` may be (clocks of issuers and verifiers differ)."""
REQUIRED_CLAIMS = ["iss", "sub", "aud", "iat", "exp", "kind"]

VERIFIED_CACHE_SIZE = 4096
JWKS_MAX_AGE = 300.0
"""Seconds a fetched key set is used before it is fetched again."""
JWKS_REFRESH_INTERVAL = 30.0
"""At most one fetch this often when tokens name a `kid` the set lacks."""


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


# --- keys -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VerificationKey:
    """A key tokens are verified with, and the one algorithm it verifies."""

    kid: str | None
    key: Any
    algorithm: str


def _public_pem_key(pem: str, setting: str) -> tuple[Any, str]:
    algorithm = pem_key_algorithm(pem, setting, private=False)
    return serialization.load_pem_public_key(pem.encode()), algorithm


def _private_pem_key(pem: str, setting: str) -> tuple[Any, str]:
    algorithm = pem_key_algorithm(pem, setting, private=True)
    return serialization.load_pem_private_key(pem.encode(), password=None), algorithm


def fetch_jwks(url: str, timeout: float = 5.0) -> dict[str, Any]:
    """The JWKS document at `url` (http(s):// or file://)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        document: Any = json.loads(Path(unquote(parts.path)).read_text())
    else:
        response = requests.get(url, timeout=timeout)
        response.raise_for_status()
        document = response.json()
    if not isinstance(document, dict):
        raise ValueError("a JWKS document is a JSON object")
    return document


def parse_jwks(document: dict[str, Any]) -> list[VerificationKey]:
    """The usable keys of a JWKS document: RSA or Ed25519 public keys, each with its `kid`."""
    keys = []
    for data in document.get("keys", []):
        if not isinstance(data, dict) or not isinstance(data.get("kid"), str):
            log.warning("JWKS key without kid ignored")
            continue
        if data.get("kty") not in ("RSA", "OKP") or "d" in data:
            log.warning("JWKS key ignored: not a public RSA or OKP key", extra={"kid": data["kid"]})
            continue
        try:
            jwk = jwt.PyJWK.from_dict(data)
        except jwt.PyJWTError as exc:
            log.warning("JWKS key ignored", extra={"kid": data["kid"], "error": str(exc)})
            continue
        if jwk.algorithm_name not in ASYMMETRIC_ALGORITHMS:
            log.warning("JWKS key ignored: algorithm", extra={"kid": data["kid"]})
            continue
        keys.append(VerificationKey(data["kid"], jwk.key, jwk.algorithm_name))
    return keys


class KeySet:
    """The keys a service verifies with: the development secret, or public keys (PEM, JWKS)."""

    def __init__(
        self,
        settings: Settings,
        fetch: Callable[[str], dict[str, Any]] = fetch_jwks,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.static: list[VerificationKey] = []
        if settings.jwt_asymmetric:
            if settings.jwt_public_key:
                key, algorithm = _public_pem_key(settings.jwt_public_key, "CRM_JWT_PUBLIC_KEY")
                self.static.append(VerificationKey(settings.jwt_public_key_id, key, algorithm))
        else:
            if settings.production or not settings.jwt_secret:
                raise ConfigurationError("the HS256 shared secret is for development only")
            self.static.append(VerificationKey(None, settings.jwt_secret, "HS256"))
        self.jwks_url = settings.jwt_jwks_url
        self._fetch = fetch
        self._clock = clock
        self._fetched: list[VerificationKey] = []
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def find(self, kid: str | None) -> VerificationKey:
        """The key for a token's `kid`; AuthError when no trusted key has it."""
        if self.jwks_url and self._stale(JWKS_MAX_AGE):
            self._refresh(JWKS_MAX_AGE)
        key = self._match(kid)
        if key is None and kid is not None and self.jwks_url and self._stale(JWKS_REFRESH_INTERVAL):
            self._refresh(JWKS_REFRESH_INTERVAL)
            key = self._match(kid)
        if key is None:
            raise AuthError(f"no trusted key for kid {kid!r}")
        return key

    def _match(self, kid: str | None) -> VerificationKey | None:
        keys = [*self.static, *self._fetched]
        if kid is not None:
            for key in keys:
                if key.kid == kid:
                    return key
        # A key configured without an id verifies tokens that no named key claims.
        return next((key for key in self.static if key.kid is None), None)

    def _stale(self, age: float) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= age

    def _refresh(self, age: float) -> None:
        assert self.jwks_url is not None
        with self._lock:
            if not self._stale(age):  # another thread fetched it meanwhile
                return
            self._fetched_at = self._clock()
            try:
                keys = parse_jwks(self._fetch(self.jwks_url))
            except Exception as exc:  # noqa: BLE001 - keep the keys we have, say why in the log
                log.warning("JWKS fetch failed; keeping the keys known", extra={"error": repr(exc)})
                return
            self._fetched = keys


# --- verification ---------------------------------------------------------------------------------
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


# --- issuing --------------------------------------------------------------------------------------
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
