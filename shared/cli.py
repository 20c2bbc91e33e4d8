"""The `crm` command: run the suite, a service's web or worker process, migrations, tokens."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from gunicorn import glogging

from shared.auth.tokens import CUSTOMER, STAFF, STAFF_SCOPES
from shared.logging import configure_logging
from shared.settings import SERVICES, ConfigurationError, Settings, web_threads

log = logging.getLogger("crm")


def _settings(service: str = "customers", *, calls_services: bool = True) -> Settings:
    settings = Settings.from_env(service, calls_services=calls_services)
    configure_logging(settings.log_level)
    return settings


@click.group()
def main() -> None:
    """Customer-management suite: customers, tags, registration, notifications, automation."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", "8000")))
def serve(host: str, port: int) -> None:
    """Run the whole suite in one process (SQLite, in-memory broker, mail to files)."""
    from werkzeug.serving import make_server

    from shared.suite import EmbeddedSuite

    settings = _settings()
    # The services call each other through the same port, unless told otherwise.
    here, configured = f"http://127.0.0.1:{port}", settings.service_urls
    settings = replace(
        settings, service_urls={name: configured.get(name, here) for name in SERVICES}
    )
    suite = EmbeddedSuite(settings).start()
    server = make_server(host, port, suite.wsgi, threaded=True)
    click.echo(f"CRM suite on http://{host}:{port}/  (API docs: http://{host}:{port}/tags/docs)")
    click.echo(f"emails are written to {settings.mail_dir}/; stop with Ctrl-C")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        suite.stop()


@main.command()
@click.argument("service", type=click.Choice(SERVICES))
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", "8000")))
@click.option("--workers", type=int, default=lambda: int(os.environ.get("WEB_CONCURRENCY", "2")))
def web(service: str, port: int, workers: int) -> None:
    """Serve one service's HTTP API with gunicorn (its database migrated by `crm migrate`)."""
    from gunicorn.app.base import BaseApplication

    from shared.suite import create_app

    # No migration here: in the real modes they are their own step (`crm migrate`, compose's
    # `migrate`, a Kubernetes Job), run as the database's owner role, while this process
    # connects as a role with data rights only.
    settings = _settings(service)

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for name, value in gunicorn_options(service, port, workers, settings.log_level).items():
                self.cfg.set(name, value)
            if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
                from prometheus_client import multiprocess

                self.cfg.set(
                    "child_exit",
                    lambda _server, child: multiprocess.mark_process_dead(child.pid),
                )

        def load(self) -> Any:
            return create_app(settings)

    _Gunicorn().run()


def gunicorn_options(service: str, port: int, workers: int, log_level: str) -> dict[str, Any]:
    """The settings `crm web` gives gunicorn."""
    return {
        "bind": f"0.0.0.0:{port}",
        # Process titles name the service (`gunicorn: master [crm web tags]`) where
        # setproctitle is installed, so that ps and the supervisor's logs tell them apart.
        "proc_name": f"crm web {service}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": web_threads(service),
        "timeout": 60,
        "graceful_timeout": 20,
        # Each request is logged once, by the app (crm.access, with its subject); gunicorn's
        # access log would repeat it, and builds its atoms per request whenever a logging
        # dict is set, even with accesslog None (8% of a login's Python).
        "accesslog": None,
        "logger_class": "shared.cli.AppLogsRequestsLogger",
        "control_socket_disable": True,
        "logconfig_dict": _gunicorn_json_logging(log_level),
    }


class AppLogsRequestsLogger(glogging.Logger):  # type: ignore[misc]
    """Gunicorn's logger without its access log: the app logs each request (crm.access)."""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        return None


def _gunicorn_json_logging(level: str) -> dict[str, Any]:
    """Gunicorn's own log lines as JSON too, like every other line of the suite."""
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "shared.logging.JsonFormatter"}},
        "handlers": {"console": handler, "error_console": handler},
        "root": {"level": level.upper(), "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
        },
    }


@main.command()
@click.argument("service", type=click.Choice(SERVICES))
def worker(service: str) -> None:
    """Run one service's consumer, outbox relay and scheduled jobs (migrated by `crm migrate`)."""
    from shared.suite import build_worker, declare_broker_topology

    settings = _settings(service)
    declare_broker_topology(settings)
    build_worker(settings).run_forever()


@main.command("migrate")
@click.argument("service", type=click.Choice([*SERVICES, "all"]))
def migrate_command(service: str) -> None:
    """Bring the service's database (created if missing) and broker queues up to date."""
    from shared.migrations import migrate
    from shared.suite import declare_broker_topology

    for name in SERVICES if service == "all" else (service,):
        # Migrating calls no other service: no private key is needed to sign with.
        settings = _settings(name, calls_services=False)
        migrate(settings)
        declare_broker_topology(settings)
        click.echo(f"{name}: migrated")


@main.command()
@click.option(
    "-f",
    "--procfile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=Path("Procfile"),
    show_default=True,
)
@click.argument("names", nargs=-1)
def supervise(procfile: Path, names: tuple[str, ...]) -> None:
    """Run a Procfile's processes, restarting any that dies (with backoff) until Ctrl-C."""
    from shared.supervisor import supervise as run_supervised

    try:
        code = run_supervised(procfile, names)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    raise SystemExit(code)


@main.command()
@click.option("--scope", default=" ".join(STAFF_SCOPES), show_default="every staff scope")
@click.option("--subject", default="staff:cli", show_default=True)
@click.option(
    "--audience",
    default=" ".join(SERVICES),
    show_default="every service",
    help="the services the token is for",
)
@click.option("--kind", type=click.Choice([STAFF, CUSTOMER]), default=STAFF, show_default=True)
@click.option("--customer-id", help="the customer a customer token is for")
@click.option(
    "--hours",
    type=float,
    default=None,
    help="lifetime; by default and at most 8 (staff), 0.25 (customer)",
)
@click.option("--private-key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def token(
    scope: str,
    subject: str,
    audience: str,
    kind: str,
    customer_id: str | None,
    hours: float | None,
    private_key: Path | None,
) -> None:
    """Print a token, signed with --private-key (or CRM_JWT_PRIVATE_KEY[_FILE]); in development
    (CRM_ENV=development) only, with the shared secret when no key is given."""
    from shared.auth.issuing import issue_token

    environ = dict(os.environ)
    if private_key is not None:
        environ.pop("CRM_JWT_PRIVATE_KEY", None)
        environ["CRM_JWT_PRIVATE_KEY_FILE"] = str(private_key)
    try:
        settings = Settings.from_env("customers", environ)
        click.echo(
            issue_token(
                settings,
                subject,
                scope.split() if kind == STAFF else [],
                audience=audience.split(),
                kind=kind,
                ttl=None if hours is None else timedelta(hours=hours),
                customer_id=customer_id,
            )
        )
    except (ConfigurationError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc


@main.command()
@click.argument("keys", nargs=-1, required=True, metavar="KID=PUBLIC_PEM_FILE...")
def jwks(keys: tuple[str, ...]) -> None:
    """Print a JWKS (for CRM_JWT_JWKS_URL) of PEM public keys, each under its kid, e.g.
    `crm jwks staff-1=staff.pub service:customers=customers.pub`."""
    import json

    import jwt
    from cryptography.hazmat.primitives import serialization

    from shared.settings import pem_key_algorithm

    documents: dict[str, dict[str, Any]] = {}
    for argument in keys:
        kid, _, path = argument.partition("=")
        if not kid or not path or kid in documents:
            raise click.UsageError(f"{argument}: give each key once as KID=PUBLIC_PEM_FILE")
        try:
            pem = Path(path).read_text()
            algorithm = pem_key_algorithm(pem, path, private=False)
        except OSError as exc:
            raise click.UsageError(f"{path}: {exc.strerror}") from exc
        except ConfigurationError as exc:
            raise click.UsageError(str(exc)) from exc
        encoder: Any = (
            jwt.algorithms.RSAAlgorithm if algorithm == "RS256" else jwt.algorithms.OKPAlgorithm
        )
        public = encoder.to_jwk(serialization.load_pem_public_key(pem.encode()), as_dict=True)
        documents[kid] = {**public, "kid": kid, "alg": algorithm, "use": "sig"}
    click.echo(json.dumps({"keys": list(documents.values())}, indent=2))


@main.command()
@click.option("--url", default="http://127.0.0.1:8000", show_default=True)
@click.option("--customers", type=int, default=25, show_default=True)
def seed(url: str, customers: int) -> None:
    """Create demo tags and customers in a running suite, through its API."""
    from shared.auth.issuing import issue_token
    from shared.demo import seed_demo_data

    settings = Settings.from_env()
    token = issue_token(
        settings, "staff:seed", STAFF_SCOPES, audience=SERVICES, ttl=timedelta(hours=1)
    )
    seed_demo_data(url.rstrip("/"), token, customers, echo=click.echo)


@main.command("broker-definitions")
@click.option("--delivery-limit", type=int, default=5, show_default=True)
def broker_definitions_command(delivery_limit: int) -> None:
    """Print the suite's RabbitMQ definitions (deploy/rabbitmq/definitions.json)."""
    import json

    from shared.broker import suite_definitions

    click.echo(json.dumps(suite_definitions(delivery_limit), indent=2))


@main.command("broker-setup")
@click.option("--vhost", default="/", show_default=True)
@click.option(
    "--delivery-limit", type=int, default=lambda: int(os.environ.get("CRM_DELIVERY_LIMIT", "5"))
)
def broker_setup(vhost: str, delivery_limit: int) -> None:
    """Development broker: the services' users (development passwords), their permissions
    and the delivery-limit policy, with rabbitmqctl (refused unless CRM_ENV=development)."""
    from shared.broker import setup_development_broker
    from shared.events.owners import broker_user

    if os.environ.get("CRM_ENV", "development") != "development":
        raise click.ClickException(
            "crm broker-setup gives development passwords: CRM_ENV must be development"
        )
    for line in setup_development_broker(
        [broker_user(service) for service in SERVICES], delivery_limit, vhost
    ):
        click.echo(line)


@main.command("mail-sink")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=1025, show_default=True)
@click.option("--dir", "mail_dir", type=click.Path(path_type=Path), default=None)
def mail_sink(host: str, port: int, mail_dir: Path | None) -> None:
    """Run an SMTP server that writes every message it receives as an .eml file."""
    from shared.mailsink import run_mail_sink

    settings = _settings()
    run_mail_sink(host, port, mail_dir or settings.mail_dir)
