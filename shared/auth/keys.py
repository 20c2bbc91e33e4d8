"""The keys tokens are verified with: the development secret, or public keys (PEM, JWKS)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jwt
import requests
from cryptography.hazmat.primitives import serialization

from shared.auth.tokens import AuthError
from shared.settings import ASYMMETRIC_ALGORITHMS, ConfigurationError, Settings, pem_key_algorithm

log = logging.getLogger(__name__)

JWKS_MAX_AGE = 300.0
"""Seconds a fetched key set is used before it is fetched again."""
JWKS_REFRESH_INTERVAL = 30.0
"""At most one fetch this often when tokens name a `kid` the set lacks."""


@dataclass(frozen=True)
class VerificationKey:
    """A key tokens are verified with, and the one algorithm it verifies."""

    kid: str | None
    key: Any
    algorithm: str


def _public_pem_key(pem: str, setting: str) -> tuple[Any, str]:
    algorithm = pem_key_algorithm(pem, setting, private=False)
    return serialization.load_pem_public_key(pem.encode()), algorithm


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
