"""Settings from environment variables, with embedded defaults so nothing needs configuring."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

SERVICES = ("customers", "tags", "registration", "notifications", "automation")
DEV_JWT_SECRET = "crm-development-secret-do-not-use-in-production"  # noqa: S105


class ConfigurationError(RuntimeError):
    """The environment describes a configuration the suite refuses to run with."""


@dataclass(frozen=True)
class Settings:
    """Every setting of one service process; built once at start and passed down."""

    service: str = "customers"
    env: str = "development"
    data_dir: Path = Path("var")
    database_url_template: str = ""
    database_urls: dict[str, str] = field(default_factory=dict)
    broker_url: str = "memory://"
    jwt_secret: str = DEV_JWT_SECRET
    jwt_public_key: str | None = None
    jwt_algorithm: str = "HS256"
    jwt_issuer: str = "crm"
    smtp_host: str | None = None
    smtp_port: int = 25
    mail_from: str = "CRM <no-reply@crm.local>"
    mail_dir: Path = Path("var/mail")
    service_urls: dict[str, str] = field(default_factory=dict)
    service_token: str | None = None
    service_timeout: float = 5.0
    log_level: str = "INFO"
    delivery_limit: int = 5
    prefetch: int = 50
    relay_batch_size: int = 500
    relay_idle_seconds: float = 5.0  # the relay's safety-net poll; commits wake it at once
    default_phone_region: str = "FR"
    bulk_sync_limit: int = 10_000

    @classmethod
    def from_env(
        cls, service: str = "customers", environ: dict[str, str] | None = None
    ) -> Settings:
        """Read the settings of `service` from the environment."""
        env = dict(os.environ if environ is None else environ)
        data_dir = Path(env.get("CRM_DATA_DIR", "var"))
        urls = {
            name: env[f"CRM_{name.upper()}_DATABASE_URL"]
            for name in SERVICES
            if env.get(f"CRM_{name.upper()}_DATABASE_URL")
        }
        service_urls = {
            name: env[f"CRM_{name.upper()}_URL"].rstrip("/")
            for name in SERVICES
            if env.get(f"CRM_{name.upper()}_URL")
        }
        public_key = env.get("CRM_JWT_PUBLIC_KEY") or None
        settings = cls(
            service=service,
            env=env.get("CRM_ENV", "development"),
            data_dir=data_dir,
            database_url_template=env.get("CRM_DATABASE_URL", ""),
            database_urls=urls,
            broker_url=broker_url_for(env, service),
            jwt_secret=env.get("CRM_JWT_SECRET", DEV_JWT_SECRET),
            jwt_public_key=public_key,
            jwt_algorithm=env.get("CRM_JWT_ALGORITHM", "RS256" if public_key else "HS256"),
            jwt_issuer=env.get("CRM_JWT_ISSUER", "crm"),
            smtp_host=env.get("CRM_SMTP_HOST") or None,
            smtp_port=int(env.get("CRM_SMTP_PORT", "25")),
            mail_from=env.get("CRM_MAIL_FROM", "CRM <no-reply@crm.local>"),
            mail_dir=Path(env.get("CRM_MAIL_DIR", str(data_dir / "mail"))),
            service_urls=service_urls,
            service_token=env.get("CRM_SERVICE_TOKEN") or None,
            service_timeout=float(env.get("CRM_SERVICE_TIMEOUT", "5")),
            log_level=env.get("CRM_LOG_LEVEL", "INFO"),
            delivery_limit=int(env.get("CRM_DELIVERY_LIMIT", "5")),
            prefetch=int(env.get("CRM_PREFETCH", "50")),
            relay_batch_size=int(env.get("CRM_RELAY_BATCH_SIZE", "500")),
            relay_idle_seconds=float(env.get("CRM_RELAY_POLL_SECONDS", "5")),
            default_phone_region=env.get("CRM_DEFAULT_PHONE_REGION", "FR"),
        )
        settings.check()
        return settings

    def for_service(self, service: str) -> Settings:
        """The same settings, for another service of the suite."""
        return replace(self, service=service)

    @property
    def database_url(self) -> str:
        """This service's own database (one database per service)."""
        if self.service in self.database_urls:
            return self.database_urls[self.service]
        if self.database_url_template:
            return self.database_url_template.replace("{service}", self.service)
        return f"sqlite:///{self.data_dir / 'db' / self.service}.sqlite3"

    @property
    def embedded(self) -> bool:
        """True when the broker is kombu's in-memory transport (one process runs everything)."""
        return self.broker_url.startswith("memory://")

    def service_url(self, service: str) -> str:
        """Base URL where another service answers (the gateway by default)."""
        return self.service_urls.get(service, "http://127.0.0.1:8000")

    def check(self) -> None:
        """Refuse a production configuration that still uses a development secret."""
        if self.env == "production":
            if self.jwt_public_key is None and self.jwt_secret == DEV_JWT_SECRET:
                raise ConfigurationError(
                    "CRM_ENV=production needs CRM_JWT_SECRET or CRM_JWT_PUBLIC_KEY; "
                    "the development secret is refused"
                )
            if self.jwt_public_key is None and len(self.jwt_secret) < 32:
                raise ConfigurationError("CRM_JWT_SECRET must be at least 32 characters")


def broker_url_for(env: dict[str, str], service: str) -> str:
    """The broker URL of one service: `CRM_<SERVICE>_BROKER_URL`, else `CRM_BROKER_URL` with
    `{service}` replaced by the service's name (each service logs in as its own broker user,
    e.g. `amqp://{service}:...@host/` for `make stack`)."""
    url = env.get(f"CRM_{service.upper()}_BROKER_URL") or env.get("CRM_BROKER_URL", "memory://")
    return url.replace("{service}", service)
