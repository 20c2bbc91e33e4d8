"""Key pairs and hand-made tokens for the token tests."""

from __future__ import annotations

import base64
import functools
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa


@functools.cache
def rsa_pair(index: int = 0) -> tuple[str, str]:
    """(private PEM, public PEM) of an RSA key; the same one for the same index."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _pems(key)


@functools.cache
def ed25519_pair(index: int = 0) -> tuple[str, str]:
    """(private PEM, public PEM) of an Ed25519 key; the same one for the same index."""
    return _pems(ed25519.Ed25519PrivateKey.generate())


def _pems(key: Any) -> tuple[str, str]:
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def jwk_of(public_pem: str, kid: str) -> dict[str, Any]:
    """The public JWK of a PEM public key, named `kid`."""
    key = serialization.load_pem_public_key(public_pem.encode())
    algorithm: Any = (
        jwt.algorithms.RSAAlgorithm
        if isinstance(key, rsa.RSAPublicKey)
        else jwt.algorithms.OKPAlgorithm
    )
    data: dict[str, Any] = json.loads(algorithm.to_jwk(key))
    return {**data, "kid": kid}


def claims(**overrides: Any) -> dict[str, Any]:
    """A valid staff token's claims for every service; `key=None` removes a claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": "crm",
        "sub": "staff:ann",
        "aud": ["customers", "tags"],
        "kind": "staff",
        "scope": "customers:read",
        "iat": now,
        "exp": now + 600,
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def sign(payload: dict[str, Any], key: str, algorithm: str = "HS256", **headers: Any) -> str:
    """A token of exactly these claims, signed as asked (the suite's issuer refuses bad ones)."""
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers or None)


def hs256_with_public_key(payload: dict[str, Any], public_pem: str) -> str:
    """The algorithm-confusion forgery: HS256 with a public key's PEM as the HMAC secret."""
    header = {"alg": "HS256", "typ": "JWT"}
    import hashlib
    import hmac

    def encode(part: Any) -> str:
        raw = json.dumps(part, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = f"{encode(header)}.{encode(payload)}"
    mac = hmac.new(public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
