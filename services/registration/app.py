"""The registration service's WSGI application."""

from __future__ import annotations

import logging

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from services.registration.api import blp
from services.registration.config import RegistrationConfig
from services.registration.context import Registration
from services.registration.customer_accounts import RemoteCustomers
from services.registration.passwords import PasswordHashing
from shared.app import create_service_app, service_context
from shared.auth import TokenIssuer
from shared.settings import ConfigurationError, Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, config: RegistrationConfig | None = None) -> Flask:
    """The registration service, configured from `settings` (the environment by default)."""
    settings = settings or Settings.from_env("registration")
    config = config or RegistrationConfig.from_env(settings)
    app = create_service_app(
        settings,
        title="Registration",
        description="Sign-up, email validation, approval, login, devices and credentials.",
        blueprints=[blp],
    )
    with app.app_context():
        context = service_context()
    app.extensions["crm.registration"] = Registration(
        settings=settings,
        config=config,
        uow=context.uow,
        reads=context.reads,
        hashing=PasswordHashing(
            config.hash_concurrency, config.hash_wait_seconds, config.hash_queue
        ),
        token_issuer=_issuer(settings),
        customers=RemoteCustomers(settings),
    )
    if config.proxy_hops:
        # Behind the gateway: the client address is the one it appended, and no header a
        # client sent itself (ProxyFix trusts exactly `proxy_hops` entries from the right).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.proxy_hops)  # type: ignore[method-assign]
    return app


def _issuer(settings: Settings) -> TokenIssuer | None:
    """Registration signs customer tokens: with its own private key in production."""
    try:
        return TokenIssuer(settings)
    except ConfigurationError as exc:
        log.error("customer tokens cannot be signed; logins answer 503: %s", exc)
        return None
