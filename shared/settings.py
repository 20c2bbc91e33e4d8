"""Settings from environment variables, with embedded defaults so nothing needs configuring.

Only `CRM_ENV=development` (exactly; the default) is development. Every other value (`production`,
`prod`, `Production`, `staging`, an empty string...) is production, where `check` refuses at start
every development key, secret or password, naming the setting to change.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

WEB_THREADS = {"registration": 8}
"""Threads of each `crm web` process (gunicorn's gthread worker) where a service needs other than
`DEFAULT_WEB_THREADS`: registration's logins hold a thread for a whole Argon2id hash, so it has
more, for the other requests to find one free during a login storm."""

DEFAULT_WEB_THREADS = 4


def web_threads(service: str) -> int:
    """How many threads each `crm web <service>` process serves requests with."""
    return WEB_THREADS.get(service, DEFAULT_WEB_THREADS)


SERVICES = ("customers", "tags", "registration", "notifications", "automation")
DEVELOPMENT = "development"
DEV_JWT_SECRET = "crm-development-secret-do-not-use-in-production"  # noqa: S105
ASYMMETRIC_ALGORITHMS = ("RS256", "EdDSA")
JWT_ALGORITHMS = ("HS256", *ASYMMETRIC_ALGORITHMS)

SERVICE_CALLS: dict[tuple[str, str], frozenset[str]] = {
    # customers -> tags: `POST /tags/ensure` (tags:write) and, with a token of its own,
    # `GET /tags/{id}`, `GET /tags?q=` (customers:read).
    ("customers", "tags"): frozenset({"tags:write", "customers:read"}),
    # automation -> customers and tags: reading a customer, a status or a tag it has not heard of
    # yet (read your writes: a rule naming them, an event about a new customer).
    ("automation", "customers"): frozenset({"customers:read"}),
    ("automation", "tags"): frozenset({"customers:read"}),
    # notifications -> customers: a customer its projection does not know yet, before an email
    # is given up on (read your writes).
    ("notifications", "customers"): frozenset({"customers:read"}),
    # registration -> customers: a customer created a moment ago, whose account an operator
    # uses before `customer.created` arrives (read your writes). registration signs these tokens
    # with the key it signs customer tokens with (its one private key).
    ("registration", "customers"): frozenset({"customers:read"}),
    # customers -> registration: a sign-up read before its `registration.submitted` arrives
    # (`GET /registration/signups/{id}/submitted`, read your writes).
    ("customers", "registration"): frozenset({"customers:read"}),
}
"""(caller, target) -> the scopes the caller's service tokens for the target may carry.

Each `ServiceClient` mints its tokens for one target (`aud`) with only the scopes of its own call,
never more than this; the target refuses a service token that carries more, or that comes from a
service not listed here. A service listed as a caller needs its own private key in production.
"""

# Passwords of the development servers (RabbitMQ's guest, the postgres image's postgres).
DEV_PASSWORDS = frozenset({"guest", "postgres"})


class ConfigurationError(RuntimeError):
    """The environment describes a configuration the suite refuses to run with."""


@dataclass(frozen=True)
class Settings:
    """Every setting of one service process; built once at start and passed down."""

    service: str = "customers"
    env: str = DEVELOPMENT
    data_dir: Path = Path("var")
    database_url_template: str = ""
    database_urls: dict[str, str] = field(default_factory=dict)
    broker_url: str = "memory://"
    jwt_secret: str | None = DEV_JWT_SECRET
    """The HS256 secret shared by every process: development only (None in production)."""
    jwt_public_key: str | None = None
    """PEM public key tokens are verified with (RS256 or EdDSA, from its type)."""
    jwt_public_key_id: str | None = None
    """The `kid` of `jwt_public_key`; without one it verifies tokens no other key claims."""
    jwt_jwks_url: str | None = None
    """A JWKS document (http(s):// or file://) of verification keys, each with its `kid`."""
    jwt_private_key: str | None = None
    """PEM private key this process signs the tokens it mints with (service calls, `crm token`)."""
    jwt_key_id: str | None = None
    """The `kid` written in the header of the tokens this process signs."""
    jwt_algorithm: str | None = None
    """HS256 (the shared development secret), RS256 or EdDSA; None: from the keys' types."""
    jwt_issuer: str = "crm"
    smtp_host: str | None = None
    smtp_port: int = 25
    mail_from: str = "CRM <no-reply@crm.local>"
    mail_dir: Path = Path("var/mail")
    service_urls: dict[str, str] = field(default_factory=dict)
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
        cls,
        service: str = "customers",
        environ: dict[str, str] | None = None,
        *,
        calls_services: bool = True,
    ) -> Settings:
        """Read the settings of `service` from the environment; ConfigurationError if refused.

        `calls_services=False` is for a process that acts as the service without calling the
        others (`crm migrate`): it needs no private key to sign service tokens with.
        """
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
        environment = env.get("CRM_ENV", DEVELOPMENT)
        secret = env.get("CRM_JWT_SECRET")
        if environment == DEVELOPMENT:
            secret = secret or DEV_JWT_SECRET
        settings = cls(
            service=service,
            env=environment,
            data_dir=data_dir,
            database_url_template=env.get("CRM_DATABASE_URL", ""),
            database_urls=urls,
            broker_url=broker_url_for(env, service),
            jwt_secret=secret,
            jwt_public_key=_value_or_file(env, "CRM_JWT_PUBLIC_KEY"),
            jwt_public_key_id=env.get("CRM_JWT_PUBLIC_KEY_ID") or None,
            jwt_jwks_url=env.get("CRM_JWT_JWKS_URL") or None,
            jwt_private_key=_value_or_file(env, "CRM_JWT_PRIVATE_KEY"),
            jwt_key_id=env.get("CRM_JWT_KEY_ID") or None,
            jwt_algorithm=env.get("CRM_JWT_ALGORITHM") or None,
            jwt_issuer=env.get("CRM_JWT_ISSUER", "crm"),
            smtp_host=env.get("CRM_SMTP_HOST") or None,
            smtp_port=int(env.get("CRM_SMTP_PORT", "25")),
            mail_from=env.get("CRM_MAIL_FROM", "CRM <no-reply@crm.local>"),
            mail_dir=Path(env.get("CRM_MAIL_DIR", str(data_dir / "mail"))),
            service_urls=service_urls,
            service_timeout=float(env.get("CRM_SERVICE_TIMEOUT", "5")),
            log_level=env.get("CRM_LOG_LEVEL", "INFO"),
            delivery_limit=int(env.get("CRM_DELIVERY_LIMIT", "5")),
            prefetch=int(env.get("CRM_PREFETCH", "50")),
            relay_batch_size=int(env.get("CRM_RELAY_BATCH_SIZE", "500")),
            relay_idle_seconds=float(env.get("CRM_RELAY_POLL_SECONDS", "5")),
            default_phone_region=env.get("CRM_DEFAULT_PHONE_REGION", "FR"),
        )
        settings.check(calls_services=calls_services)
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

    @property
    def production(self) -> bool:
        """Anything but exactly `CRM_ENV=development` is production."""
        return self.env != DEVELOPMENT

    @property
    def jwt_asymmetric(self) -> bool:
        """True when tokens are signed with private keys and verified with public ones."""
        return bool(self.jwt_public_key or self.jwt_jwks_url or self.jwt_private_key)

    def service_url(self, service: str) -> str:
        """Base URL where another service answers (the gateway by default)."""
        return self.service_urls.get(service, "http://127.0.0.1:8000")

    def check(self, *, calls_services: bool = True) -> None:
        """Refuse keys that do not fit, and development credentials in production."""
        self._check_keys()
        if self.production:
            self._check_production(calls_services)

    def _check_keys(self) -> None:
        algorithm = self.jwt_algorithm
        if algorithm is not None and algorithm not in JWT_ALGORITHMS:
            raise ConfigurationError(
                f"CRM_JWT_ALGORITHM={algorithm} is not one of {', '.join(JWT_ALGORITHMS)}"
            )
        if algorithm == "HS256" and self.jwt_asymmetric:
            configured = [
                name
                for name, value in (
                    ("CRM_JWT_PUBLIC_KEY", self.jwt_public_key),
                    ("CRM_JWT_JWKS_URL", self.jwt_jwks_url),
                    ("CRM_JWT_PRIVATE_KEY", self.jwt_private_key),
                )
                if value
            ]
            raise ConfigurationError(
                f"CRM_JWT_ALGORITHM=HS256 does not fit {' and '.join(configured)}: a public key "
                "is not a shared secret; use the key's own algorithm (RS256 or EdDSA)"
            )
        if algorithm in ASYMMETRIC_ALGORITHMS and not self.jwt_asymmetric:
            raise ConfigurationError(
                f"CRM_JWT_ALGORITHM={algorithm} needs CRM_JWT_PUBLIC_KEY or CRM_JWT_JWKS_URL"
            )
        for name, pem, private in (
            ("CRM_JWT_PUBLIC_KEY", self.jwt_public_key, False),
            ("CRM_JWT_PRIVATE_KEY", self.jwt_private_key, True),
        ):
            if pem is None:
                continue
            key_algorithm = pem_key_algorithm(pem, name, private=private)
            if algorithm is not None and key_algorithm != algorithm:
                raise ConfigurationError(
                    f"{name} is a {key_algorithm} key; it does not fit "
                    f"CRM_JWT_ALGORITHM={algorithm}"
                )
        if self.jwt_jwks_url and urlsplit(self.jwt_jwks_url).scheme not in (
            "https",
            "http",
            "file",
        ):
            raise ConfigurationError("CRM_JWT_JWKS_URL must be an https://, http:// or file:// URL")

    def _check_production(self, calls_services: bool) -> None:
        where = f"CRM_ENV={self.env!r} is production (only CRM_ENV=development is not)"
        if not self.jwt_asymmetric:
            raise ConfigurationError(
                f"{where}: the HS256 shared secret (CRM_JWT_SECRET, a development one unless set) "
                "is for development only; "
                "set CRM_JWT_PUBLIC_KEY or CRM_JWT_JWKS_URL (RS256 or EdDSA public keys)"
            )
        if not (self.jwt_public_key or self.jwt_jwks_url):
            raise ConfigurationError(
                f"{where}: set CRM_JWT_PUBLIC_KEY or CRM_JWT_JWKS_URL to verify tokens"
            )
        if self.jwt_secret is not None:
            development = " (and this is the development one)" * (self.jwt_secret == DEV_JWT_SECRET)
            raise ConfigurationError(
                f"{where}: CRM_JWT_SECRET, the HS256 shared secret, is for development only"
                f"{development}; remove it"
            )
        calls = sorted(target for caller, target in SERVICE_CALLS if caller == self.service)
        if calls_services and calls and not self.jwt_private_key:
            raise ConfigurationError(
                f"{where}: {self.service} calls {', '.join(calls)} with service tokens it signs; "
                "set CRM_JWT_PRIVATE_KEY or CRM_JWT_PRIVATE_KEY_FILE (its own key)"
            )
        broker = f"CRM_{self.service.upper()}_BROKER_URL or CRM_BROKER_URL"
        urls = [(broker, self.broker_url)]
        urls += [
            (f"CRM_{name.upper()}_DATABASE_URL", url) for name, url in self.database_urls.items()
        ]
        if self.database_url_template:
            urls.append(("CRM_DATABASE_URL", self.database_url_template))
        for name, url in urls:
            parts = urlsplit(url.replace("{service}", "x"))
            dev_login = parts.password in DEV_PASSWORDS or parts.username == "guest"
            # crm broker-setup's development broker passwords (`dev-<user>`).
            dev_login |= bool(parts.password and parts.password.startswith("dev-"))
            if dev_login:
                raise ConfigurationError(
                    f"{where}: {name} uses a development login ({parts.username}); "
                    "give it the service's own credentials"
                )


def _value_or_file(env: dict[str, str], name: str) -> str | None:
    """`name` itself, or the content of the file `<name>_FILE` names (a mounted secret)."""
    value, path = env.get(name) or None, env.get(f"{name}_FILE") or None
    if value and path:
        raise ConfigurationError(f"set {name} or {name}_FILE, not both")
    if path is None:
        return value
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise ConfigurationError(f"{name}_FILE={path} cannot be read: {exc.strerror}") from exc


def pem_key_algorithm(pem: str, setting: str, private: bool) -> str:
    """The JWT algorithm a PEM key is for (RS256 or EdDSA); ConfigurationError naming `setting`."""
    data = pem.encode()
    try:
        key: object = (
            serialization.load_pem_private_key(data, password=None)
            if private
            else serialization.load_pem_public_key(data)
        )
    except (ValueError, TypeError) as exc:
        kind = "private" if private else "public"
        raise ConfigurationError(f"{setting} is not a PEM {kind} key") from exc
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise ConfigurationError(f"{setting}: an RSA key needs at least 2048 bits")
        return "RS256"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "EdDSA"
    raise ConfigurationError(f"{setting} must be an RSA (RS256) or Ed25519 (EdDSA) key")


def broker_url_for(env: dict[str, str], service: str) -> str:
    """The broker URL of one service: `CRM_<SERVICE>_BROKER_URL`, else `CRM_BROKER_URL` with
    `{service}` replaced by the service's name (each service logs in as its own broker user,
    e.g. `amqp://{service}:...@host/` for `make stack`)."""
    url = env.get(f"CRM_{service.upper()}_BROKER_URL") or env.get("CRM_BROKER_URL", "memory://")
    return url.replace("{service}", service)
