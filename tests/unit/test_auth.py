"""Tokens: HS256 with the shared secret in development, RS256 with a public key in production."""

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.auth import AuthError, TokenVerifier, issue_token
from shared.settings import Settings

SECRET = "unit-test-secret-unit-test-secret-0123"


def test_a_token_carries_its_scopes():
    settings = Settings(jwt_secret=SECRET)
    token = issue_token(settings, "staff:ann", ["customers:read", "tags:write"])
    principal = TokenVerifier(settings).verify(token)
    assert principal.subject == "staff:ann"
    assert principal.has("customers:read", "tags:write")
    assert not principal.has("customers:delete")


def test_an_expired_token_is_refused():
    settings = Settings(jwt_secret=SECRET)
    token = issue_token(settings, "staff:ann", [], ttl=timedelta(seconds=-1))
    with pytest.raises(AuthError, match="expired"):
        TokenVerifier(settings).verify(token)


def test_a_token_from_another_issuer_is_refused():
    token = issue_token(Settings(jwt_secret=SECRET, jwt_issuer="other"), "x", [])
    with pytest.raises(AuthError):
        TokenVerifier(Settings(jwt_secret=SECRET)).verify(token)


def test_rs256_tokens_are_verified_with_the_public_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    settings = Settings(jwt_public_key=public_pem, jwt_algorithm="RS256")
    token = issue_token(settings, "idp:bob", ["customers:read"], private_key=private_pem)
    assert TokenVerifier(settings).verify(token).has("customers:read")
    hs_token = issue_token(Settings(jwt_secret=SECRET), "x", ["customers:read"])
    with pytest.raises(AuthError):
        TokenVerifier(settings).verify(hs_token)
