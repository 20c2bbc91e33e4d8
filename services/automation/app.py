"""The automation service's WSGI application."""

from __future__ import annotations

from flask import Flask

from services.automation.api import blp
from shared.app import create_service_app
from shared.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """The automation service, configured from `settings` (the environment by default)."""
    settings = settings or Settings.from_env("automation")
    return create_service_app(
        settings,
        title="Automation",
        description="Status and tag rules driven by internal and external events.",
        blueprints=[blp],
    )
