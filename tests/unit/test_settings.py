"""Settings come from the environment, with defaults that need no configuration."""

import pytest

from shared.settings import DEV_JWT_SECRET, ConfigurationError, Settings


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


def test_production_refuses_the_development_secret():
    with pytest.raises(ConfigurationError, match="CRM_JWT_SECRET"):
        Settings.from_env("tags", {"CRM_ENV": "production"})


def test_production_refuses_a_short_secret():
    with pytest.raises(ConfigurationError, match="32 characters"):
        Settings.from_env("tags", {"CRM_ENV": "production", "CRM_JWT_SECRET": "short"})


def test_production_accepts_a_public_key_and_picks_rs256():
    settings = Settings.from_env(
        "tags", {"CRM_ENV": "production", "CRM_JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----"}
    )
    assert settings.jwt_algorithm == "RS256"
