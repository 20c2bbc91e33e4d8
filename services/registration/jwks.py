"""The public keys of the customer tokens registration signs, as a JWKS document.

Services verify customer tokens with `CRM_JWT_JWKS_URL` pointed at
`/registration/.well-known/jwks.json` (beside the identity provider's keys). Only public
parameters are ever written; in development (the shared secret) the set is empty.
"""

from __future__ import annotations

import json
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from shared.settings import Settings


def public_jwks(settings: Settings) -> dict[str, Any]:
    """`{"keys": [...]}`: the public half of `CRM_JWT_PRIVATE_KEY`, with its `kid`."""
    if not settings.jwt_private_key:
        return {"keys": []}
    private = serialization.load_pem_private_key(settings.jwt_private_key.encode(), password=None)
    jwk: dict[str, Any]
    if isinstance(private, rsa.RSAPrivateKey):
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
        jwk["alg"] = "RS256"
    elif isinstance(private, ed25519.Ed25519PrivateKey):
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(private.public_key()))
        jwk["alg"] = "EdDSA"
    else:  # settings refuse other keys at start
        return {"keys": []}
    jwk["use"] = "sig"
    if settings.jwt_key_id:
        jwk["kid"] = settings.jwt_key_id
    return {"keys": [jwk]}
