"""The customers service's WSGI application."""

from __future__ import annotations

from flask import Flask

from services.customers.api import BLUEPRINTS
from services.customers.imports.api import blp as imports
from shared.app import create_service_app
from shared.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """The customers service, configured from `settings` (the environment by default)."""
    settings = settings or Settings.from_env("customers")
    return create_service_app(
        settings,
        title="Customers",
        description=(
            "Customer profiles, statuses, customer tags, lists and filters, bulk actions, CSV"
            " imports."
        ),
        blueprints=[*BLUEPRINTS, imports],
    )
