"""Tokens: audience, issue time, capped lifetimes, kinds, service calls, asymmetric keys."""

import json
import time
from datetime import timedelta

import pytest

from shared.auth import keys, verification
from shared.auth.issuing import TokenIssuer, issue_token
from shared.auth.keys import KeySet
from shared.auth.tokens import AuthError, Principal
from shared.auth.verification import TokenVerifier
from shared.service_client import ServiceClient
from shared.settings import SERVICES, ConfigurationError, Settings
from tests.jwt_keys import (
    claims,
    ed25519_pair,
    hs256_with_public_key,
    jwk_of,
    rsa_pair,
    sign,
)

SECRET = "unit-test-secret-unit-test-secret-0123"


def dev(service: str = "customers") -> Settings:
    return Settings(service=service, jwt_secret=SECRET)


def verify(token: str, service: str = "customers") -> Principal:
    return TokenVerifier(dev(service)).verify(token)


def test_a_token_carries_its_scopes_audience_and_issue_time():
    token = issue_token(dev(), "staff:ann", ["customers:read", "tags:write"], audience=SERVICES)
    principal = verify(token)
    assert principal.subject == "staff:ann" and principal.kind == "staff"
    assert principal.has("customers:read", "tags:write")
    assert not principal.has("customers:delete")
    payload = json.loads(_payload(token))
    assert payload["aud"] == sorted(SERVICES) and isinstance(payload["iat"], int)
    assert payload["exp"] - payload["iat"] == 8 * 3600


def _payload(token: str) -> bytes:
    import base64

    part = token.split(".")[1]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


# --- the claims every token must carry ----------------------------------------------------------
@pytest.mark.parametrize("missing", ["aud", "iat", "exp", "iss", "sub", "kind"])
def test_a_token_without_a_required_claim_is_refused(missing: str):
    assert verify(sign(claims(), SECRET)).subject == "staff:ann"  # the same, complete, passes
    with pytest.raises(AuthError, match=missing):
        verify(sign(claims(**{missing: None}), SECRET))


def test_a_token_for_other_services_is_refused():
    token = sign(claims(aud=["tags"]), SECRET)
    assert verify(token, "tags").subject == "staff:ann"
    with pytest.raises(AuthError, match="(?i)audience"):
        verify(token, "customers")
    with pytest.raises(AuthError, match="(?i)audience"):
        verify(sign(claims(aud="tags"), SECRET), "customers")


def test_an_expired_token_is_refused():
    now = int(time.time())
    with pytest.raises(AuthError, match="expired"):
        verify(sign(claims(iat=now - 60, exp=now - 1), SECRET))


def test_a_token_from_another_issuer_is_refused():
    with pytest.raises(AuthError, match="issuer"):
        verify(sign(claims(iss="other"), SECRET))


def test_a_token_issued_in_the_future_is_refused_beyond_the_clock_skew():
    now = int(time.time())
    assert verify(sign(claims(iat=now + 20, exp=now + 600), SECRET)).subject == "staff:ann"
    with pytest.raises(AuthError, match="future"):
        verify(sign(claims(iat=now + 120, exp=now + 600), SECRET))


@pytest.mark.parametrize(
    ("kind", "cap", "extra"),
    [
        ("staff", 8 * 3600, {}),
        ("customer", 15 * 60, {"customer_id": "c-1", "scope": ""}),
        ("service", 5 * 60, {"sub": "service:customers", "scope": "tags:write", "aud": ["tags"]}),
    ],
)
def test_a_lifetime_over_its_kinds_cap_is_refused(kind: str, cap: int, extra: dict):
    now = int(time.time())
    at_cap = sign(claims(kind=kind, iat=now, exp=now + cap, **extra), SECRET)
    assert verify(at_cap, "tags").kind == kind
    over = sign(claims(kind=kind, iat=now, exp=now + cap + 1, **extra), SECRET)
    with pytest.raises(AuthError, match="longer"):
        verify(over, "tags")


def test_exp_in_9999_without_iat_is_refused():
    with pytest.raises(AuthError, match="iat"):
        verify(sign(claims(iat=None, exp=253402300799), SECRET))


def test_an_unknown_kind_is_refused():
    with pytest.raises(AuthError, match="kind"):
        verify(sign(claims(kind="admin"), SECRET))


def test_the_issuer_refuses_to_mint_over_the_cap_or_without_audience():
    issuer = TokenIssuer(dev())
    with pytest.raises(ValueError, match="at most"):
        issuer.issue("staff:ann", [], audience=["tags"], ttl=timedelta(hours=8, seconds=1))
    with pytest.raises(ValueError, match="at most"):
        issuer.issue(
            "x", [], audience=["tags"], kind="customer", customer_id="c", ttl=timedelta(minutes=16)
        )
    with pytest.raises(ValueError, match="(?i)audience"):
        issuer.issue("staff:ann", [], audience=[])
    with pytest.raises(ValueError, match="(?i)audience"):
        issuer.issue("staff:ann", [], audience=["elsewhere"])
    with pytest.raises(ValueError, match="customer_id"):
        issuer.issue("x", [], audience=["tags"], kind="customer")


# --- kinds ----------------------------------------------------------------------------------------
def test_a_customer_token_passes_no_staff_check_whatever_it_carries():
    token = sign(
        claims(
            kind="customer", customer_id="c-1", scope="customers:read", exp=int(time.time()) + 60
        ),
        SECRET,
    )
    principal = verify(token)
    assert principal.kind == "customer" and principal.customer_id == "c-1"
    assert not principal.has("customers:read")
    assert Principal("staff:ann", frozenset({"customers:read"})).has("customers:read")


def test_a_customer_token_names_its_customer():
    with pytest.raises(AuthError, match="customer_id"):
        verify(sign(claims(kind="customer", exp=int(time.time()) + 60), SECRET))


# --- service tokens -------------------------------------------------------------------------------
def test_the_customers_client_of_tags_mints_only_what_ensure_needs():
    client = ServiceClient(dev("customers"), "tags", ["tags:write"])
    token = client._token()
    payload = json.loads(_payload(token))
    assert payload["aud"] == ["tags"] and payload["scope"] == "tags:write"
    assert payload["kind"] == "service" and payload["sub"] == "service:customers"
    assert payload["exp"] - payload["iat"] == 300
    assert verify(token, "tags").has("tags:write")
    with pytest.raises(AuthError, match="(?i)audience"):
        verify(token, "customers")
    assert client._token() == token  # kept until shortly before it expires


def test_a_service_client_may_not_ask_for_more_than_its_call_needs():
    with pytest.raises(ValueError, match="customers:delete"):
        ServiceClient(dev("customers"), "tags", ["tags:write", "customers:delete"])
    with pytest.raises(ValueError, match="does not call"):
        ServiceClient(dev("tags"), "customers", [])


def test_a_service_token_with_more_scopes_than_its_call_is_refused():
    base = {"kind": "service", "sub": "service:customers", "aud": ["tags"]}
    now = int(time.time())
    good = sign(claims(scope="tags:write", iat=now, exp=now + 300, **base), SECRET)
    assert verify(good, "tags").subject == "service:customers"
    greedy = sign(
        claims(scope="tags:write customers:delete", iat=now, exp=now + 300, **base), SECRET
    )
    with pytest.raises(AuthError, match="may not call"):
        verify(greedy, "tags")
    stranger = sign(
        claims(scope="tags:write", iat=now, exp=now + 300, **{**base, "sub": "service:automation"}),
        SECRET,
    )
    with pytest.raises(AuthError, match="may not call"):
        verify(stranger, "tags")


# --- asymmetric keys ------------------------------------------------------------------------------
@pytest.mark.parametrize("pair", [rsa_pair, ed25519_pair])
def test_asymmetric_tokens_are_verified_with_the_public_key(pair):
    private, public = pair()
    settings = Settings(jwt_public_key=public, jwt_private_key=private, jwt_secret=None)
    token = issue_token(settings, "idp:bob", ["customers:read"], audience=["customers"])
    assert TokenVerifier(settings).verify(token).has("customers:read")
    for forged in (
        sign(claims(), SECRET),  # the shared secret means nothing here
        hs256_with_public_key(claims(), public),  # nor the public key as an HMAC secret
        issue_token(
            Settings(jwt_private_key=pair(1)[0], jwt_public_key=pair(1)[1]),
            "x",
            [],
            audience=["customers"],
        ),
    ):
        with pytest.raises(AuthError):
            TokenVerifier(settings).verify(forged)


def test_a_verifier_without_a_key_for_hs256_in_production_cannot_be_built():
    with pytest.raises(ConfigurationError):
        TokenVerifier(Settings(env="production", jwt_secret=SECRET))
    with pytest.raises(ConfigurationError, match="CRM_JWT_PRIVATE_KEY"):
        TokenIssuer(Settings(env="production", jwt_secret=SECRET))
    with pytest.raises(ConfigurationError, match="CRM_JWT_PRIVATE_KEY"):
        TokenIssuer(Settings(jwt_public_key=rsa_pair()[1]))  # verifying keys, nothing to sign with


def _jwks_settings(tmp_path, keys, service="customers") -> Settings:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": keys}))
    return Settings(service=service, jwt_jwks_url=path.as_uri(), jwt_secret=None)


def test_a_jwks_verifies_each_token_with_the_key_its_kid_names(tmp_path):
    (rsa_private, rsa_public), (ed_private, ed_public) = rsa_pair(), ed25519_pair()
    settings = _jwks_settings(
        tmp_path, [jwk_of(rsa_public, "idp-1"), jwk_of(ed_public, "registration-1")]
    )
    verifier = TokenVerifier(settings)
    staff = sign(claims(), rsa_private, "RS256", kid="idp-1")
    customer = sign(
        claims(kind="customer", customer_id="c", exp=int(time.time()) + 60),
        ed_private,
        "EdDSA",
        kid="registration-1",
    )
    assert verifier.verify(staff).kind == "staff"
    assert verifier.verify(customer).kind == "customer"
    for forged in (
        sign(claims(), rsa_private, "RS256", kid="registration-1"),  # another key's kid
        sign(claims(), rsa_private, "RS256"),  # no kid
        sign(claims(), rsa_private, "RS256", kid="unknown"),
        sign(claims(), SECRET, "HS256", kid="idp-1"),
    ):
        with pytest.raises(AuthError):
            verifier.verify(forged)


def test_a_service_key_signs_only_its_own_service_tokens(tmp_path):
    private, public = ed25519_pair()
    settings = _jwks_settings(tmp_path, [jwk_of(public, "service:customers")], service="tags")
    verifier = TokenVerifier(settings)
    now = int(time.time())
    service = claims(
        kind="service",
        sub="service:customers",
        scope="tags:write",
        aud=["tags"],
        iat=now,
        exp=now + 300,
    )
    assert (
        verifier.verify(sign(service, private, "EdDSA", kid="service:customers")).kind == "service"
    )
    with pytest.raises(AuthError, match="signs only"):
        verifier.verify(sign(claims(scope="tags:write"), private, "EdDSA", kid="service:customers"))


def test_an_unknown_kid_refreshes_the_jwks_at_most_every_few_seconds():
    private, public = rsa_pair()
    documents = [{"keys": []}, {"keys": [jwk_of(public, "new")]}]
    fetched = []
    now = [1000.0]

    def fetch(url: str) -> dict:
        fetched.append(url)
        return documents[min(len(fetched), len(documents)) - 1]

    settings = Settings(jwt_jwks_url="https://idp.example/jwks.json", jwt_secret=None)
    verifier = TokenVerifier(settings, KeySet(settings, fetch=fetch, clock=lambda: now[0]))
    token = sign(claims(), private, "RS256", kid="new")
    for _ in range(5):
        with pytest.raises(AuthError, match="no trusted key"):
            verifier.verify(token)
    assert len(fetched) == 1  # the first fetch knew no such key; strangers' kids fetch no more
    now[0] += keys.JWKS_REFRESH_INTERVAL
    assert verifier.verify(token).subject == "staff:ann"  # the key was added since
    assert len(fetched) == 2


# --- the verified tokens kept ---------------------------------------------------------------------
def test_a_verified_token_is_refused_once_it_expires():
    verifier = TokenVerifier(dev())
    now = int(time.time())
    token = sign(claims(iat=now, exp=now + 2), SECRET)
    assert verifier.verify(token).subject == "staff:ann"
    assert verifier.verify(token).subject == "staff:ann"  # from the verified tokens
    time.sleep(2.1)
    with pytest.raises(AuthError, match="expired"):
        verifier.verify(token)


def test_a_verified_token_does_not_vouch_for_a_tampered_copy():
    verifier = TokenVerifier(dev())
    token = issue_token(dev(), "staff:ann", ["customers:read"], audience=["customers"])
    verifier.verify(token)
    header, payload, signature = token.split(".")
    forged_payload = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    with pytest.raises(AuthError):
        verifier.verify(f"{header}.{forged_payload}.{signature}")


def test_the_verified_tokens_kept_are_bounded(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(verification, "VERIFIED_CACHE_SIZE", 3)
    verifier = TokenVerifier(dev())
    tokens = [
        issue_token(dev(), f"staff:{index}", [], audience=["customers"]) for index in range(5)
    ]
    for token in tokens:
        verifier.verify(token)
    assert len(verifier._verified) == 3
    assert list(verifier._verified) == tokens[2:]  # the oldest went first
