"""Settings come from the environment, with defaults that need no configuration."""

import pytest

from shared.settings import DEV_JWT_SECRET, ConfigurationError, Settings
from tests.jwt_keys import ed25519_pair, rsa_pair


def test_defaults_are_the_embedded_mode():
    settings = Settings.from_env("tags", environ={})
    assert settings.embedded
    assert settings.database_url == "sqlite:///var/db/tags.sqlite3"
    assert settings.jwt_secret == DEV_JWT_SECRET


def test_the_database_url_template_names_one_database_per_service():
    environ = {"CRM_DATABASE_URL": "postgresql+psycopg://postgres@db/crm_{service}"}
    assert Settings.from_env("tags", environ).database_url.endswith("/crm_tags")
    assert Settings.from_env("customers", environ).database_url.endswith("/crm_customers")


def test_a_service_database_url_overrides_the_template():
    environ = {"CRM_DATABASE_URL": "sqlite:///x_{service}", "CRM_TAGS_DATABASE_URL": "sqlite:///t"}
    assert Settings.from_env("tags", environ).database_url == "sqlite:///t"


# --- production fails closed --------------------------------------------------------------------
def production(environment: str = "production", **extra: str) -> dict[str, str]:
    """A complete production environment for the tags service (verifies, mints nothing)."""
    return {"CRM_ENV": environment, "CRM_JWT_PUBLIC_KEY": ed25519_pair()[1], **extra}


def test_only_exactly_development_is_development():
    assert not Settings.from_env("tags", {}).production  # unset: make run, make stack
    assert not Settings.from_env("tags", {"CRM_ENV": "development"}).production
    for value in ("production", "prod", "Production", "staging", "", "Development", "dev"):
        assert Settings.from_env("tags", production(value)).production, value


@pytest.mark.parametrize("value", ["production", "prod", "Production", "staging", "", "dev"])
def test_production_refuses_the_development_secret(value: str):
    with pytest.raises(ConfigurationError, match="CRM_JWT_SECRET"):
        Settings.from_env("tags", {"CRM_ENV": value})
    with pytest.raises(ConfigurationError, match="CRM_JWT_SECRET"):
        Settings.from_env("tags", {"CRM_ENV": value, "CRM_JWT_SECRET": DEV_JWT_SECRET})
    with pytest.raises(ConfigurationError, match="CRM_JWT_SECRET"):
        Settings.from_env("tags", production(value, CRM_JWT_SECRET=DEV_JWT_SECRET))


def test_production_refuses_any_shared_secret():
    with pytest.raises(ConfigurationError, match="CRM_JWT_SECRET"):
        Settings.from_env("tags", {"CRM_ENV": "production", "CRM_JWT_SECRET": "x" * 64})
    with pytest.raises(ConfigurationError, match="CRM_JWT_SECRET"):
        Settings.from_env("tags", production(CRM_JWT_SECRET="x" * 64))


def test_production_takes_public_keys_and_needs_no_secret():
    settings = Settings.from_env("tags", production())
    assert settings.jwt_secret is None and settings.jwt_asymmetric
    jwks = Settings.from_env(
        "tags", {"CRM_ENV": "production", "CRM_JWT_JWKS_URL": "https://idp.example/jwks.json"}
    )
    assert jwks.jwt_jwks_url == "https://idp.example/jwks.json"


def test_production_refuses_a_private_key_without_public_keys():
    environ = {"CRM_ENV": "production", "CRM_JWT_PRIVATE_KEY": ed25519_pair()[0]}
    with pytest.raises(ConfigurationError, match="CRM_JWT_PUBLIC_KEY or CRM_JWT_JWKS_URL"):
        Settings.from_env("tags", environ)


def test_a_service_that_calls_another_needs_its_own_private_key_in_production():
    with pytest.raises(ConfigurationError, match="CRM_JWT_PRIVATE_KEY"):
        Settings.from_env("customers", production())
    private = ed25519_pair()[0]
    settings = Settings.from_env("customers", production(CRM_JWT_PRIVATE_KEY=private))
    assert settings.jwt_private_key == private


def test_a_process_that_calls_no_service_needs_no_private_key_in_production():
    # `crm migrate` acts as each service without calling another: it holds no signing key.
    settings = Settings.from_env("customers", production(), calls_services=False)
    assert settings.jwt_private_key is None


def test_keys_are_read_from_files(tmp_path):
    private, public = rsa_pair()
    (tmp_path / "key").write_text(private)
    (tmp_path / "key.pub").write_text(public)
    settings = Settings.from_env(
        "customers",
        {
            "CRM_ENV": "production",
            "CRM_JWT_PRIVATE_KEY_FILE": str(tmp_path / "key"),
            "CRM_JWT_PUBLIC_KEY_FILE": str(tmp_path / "key.pub"),
        },
    )
    assert settings.jwt_private_key == private and settings.jwt_public_key == public
    with pytest.raises(ConfigurationError, match="CRM_JWT_PRIVATE_KEY_FILE"):
        Settings.from_env("tags", {"CRM_JWT_PRIVATE_KEY_FILE": str(tmp_path / "missing")})
    with pytest.raises(ConfigurationError, match="not both"):
        Settings.from_env(
            "tags",
            {"CRM_JWT_PUBLIC_KEY": public, "CRM_JWT_PUBLIC_KEY_FILE": str(tmp_path / "key.pub")},
        )


@pytest.mark.parametrize(
    ("setting", "url"),
    [
        ("CRM_BROKER_URL", "amqp://guest:guest@rabbitmq:5672//"),
        ("CRM_BROKER_URL", "amqp://guest:s3cret@rabbitmq:5672//"),
        # `crm broker-setup`'s development password of a service user
        ("CRM_TAGS_BROKER_URL", "amqp://crm-tags:dev-crm-tags@rabbitmq:5672//"),
        ("CRM_DATABASE_URL", "postgresql+psycopg://postgres:postgres@db/crm_{service}"),
        ("CRM_TAGS_DATABASE_URL", "postgresql+psycopg://tags:postgres@db/crm_tags"),
    ],
)
def test_production_refuses_development_passwords_naming_the_setting(setting: str, url: str):
    assert Settings.from_env("tags", {setting: url}).production is False  # development: fine
    with pytest.raises(ConfigurationError, match=setting):
        Settings.from_env("tags", production(**{setting: url}))
    good = (
        url.replace("guest:", "tags:")
        .replace(":postgres@", ":s3cret@")
        .replace(":guest@", ":s3cret@")
        .replace(":dev-crm-tags@", ":s3cret@")
    )
    Settings.from_env("tags", production(**{setting: good}))


# --- the algorithm must fit the key ---------------------------------------------------------------
@pytest.mark.parametrize("environment", ["development", "production"])
def test_a_public_key_with_hs256_is_refused(environment: str):
    environ = {"CRM_ENV": environment, "CRM_JWT_PUBLIC_KEY": rsa_pair()[1]}
    Settings.from_env("tags", environ)  # the same without the algorithm starts
    with pytest.raises(ConfigurationError, match="CRM_JWT_ALGORITHM=HS256"):
        Settings.from_env("tags", {**environ, "CRM_JWT_ALGORITHM": "HS256"})
    jwks = {"CRM_ENV": environment, "CRM_JWT_JWKS_URL": "https://idp.example/jwks.json"}
    with pytest.raises(ConfigurationError, match="CRM_JWT_ALGORITHM=HS256"):
        Settings.from_env("tags", {**jwks, "CRM_JWT_ALGORITHM": "HS256"})


def test_the_algorithm_must_be_the_keys_own():
    rsa_public, ed_public = rsa_pair()[1], ed25519_pair()[1]
    assert Settings.from_env(
        "tags", {"CRM_JWT_PUBLIC_KEY": rsa_public, "CRM_JWT_ALGORITHM": "RS256"}
    ).jwt_asymmetric
    Settings.from_env("tags", {"CRM_JWT_PUBLIC_KEY": ed_public, "CRM_JWT_ALGORITHM": "EdDSA"})
    with pytest.raises(ConfigurationError, match="EdDSA key"):
        Settings.from_env("tags", {"CRM_JWT_PUBLIC_KEY": ed_public, "CRM_JWT_ALGORITHM": "RS256"})
    with pytest.raises(ConfigurationError, match="not one of"):
        Settings.from_env("tags", {"CRM_JWT_PUBLIC_KEY": rsa_public, "CRM_JWT_ALGORITHM": "none"})
    with pytest.raises(ConfigurationError, match="not a PEM public key"):
        Settings.from_env("tags", {"CRM_JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----"})
    with pytest.raises(ConfigurationError, match="needs CRM_JWT_PUBLIC_KEY"):
        Settings.from_env("tags", {"CRM_JWT_ALGORITHM": "RS256"})


def test_crm_migrate_runs_in_production_without_a_private_key(monkeypatch):
    from click.testing import CliRunner

    import shared.migrations
    import shared.suite
    from shared.cli import main

    migrated: list[str] = []
    monkeypatch.setattr(shared.migrations, "migrate", lambda s: migrated.append(s.service))
    monkeypatch.setattr(shared.suite, "declare_broker_topology", lambda s: None)
    environ = production(CRM_BROKER_URL="amqp://crm-{service}:s3cret@rabbitmq:5672//")
    result = CliRunner().invoke(main, ["migrate", "all"], env=environ)
    assert result.exit_code == 0, result.output
    assert migrated == ["customers", "tags", "registration", "notifications", "automation"]
