"""Tokens: HS256 with the shared secret in development, RS256 with a public key in production."""

import time
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared import auth
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


def test_a_verified_token_is_refused_once_it_expires():
    settings = Settings(jwt_secret=SECRET)
    verifier = TokenVerifier(settings)
    token = issue_token(settings, "staff:ann", ["customers:read"], ttl=timedelta(seconds=2))
    assert verifier.verify(token).subject == "staff:ann"
    assert verifier.verify(token).subject == "staff:ann"  # from the verified tokens
    time.sleep(2.1)
    with pytest.raises(AuthError, match="expired"):
        verifier.verify(token)


def test_a_verified_token_does_not_vouch_for_a_tampered_copy():
    settings = Settings(jwt_secret=SECRET)
    verifier = TokenVerifier(settings)
    token = issue_token(settings, "staff:ann", ["customers:read"])
    verifier.verify(token)
    header, payload, signature = token.split(".")
    forged_payload = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    with pytest.raises(AuthError):
        verifier.verify(f"{header}.{forged_payload}.{signature}")


def test_the_verified_tokens_kept_are_bounded(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(auth, "VERIFIED_CACHE_SIZE", 3)
    settings = Settings(jwt_secret=SECRET)
    verifier = TokenVerifier(settings)
    tokens = [issue_token(settings, f"staff:{index}", []) for index in range(5)]
    for token in tokens:
        verifier.verify(token)
    assert len(verifier._verified) == 3
    assert list(verifier._verified) == tokens[2:]  # the oldest went first
